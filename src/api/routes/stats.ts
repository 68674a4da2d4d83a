import type { FastifyInstance } from 'fastify';
import type { DaemonControl } from '../control.js';
import { NO_QUERY } from './ids.js';

/** The windows `GET /v1/stats` shows, by name, in seconds. */
const WINDOWS = { '1m': 60, '5m': 300, '60m': 3600 } as const;

/**
 * `GET /v1/stats`: files and bytes per second, the time from complete to committed (mean, p95)
 * and failures by class, over the last 1, 5 and 60 minutes (kept in memory since the start).
 */
export function statsRoutes(app: FastifyInstance, control: DaemonControl): void {
  app.get('/v1/stats', { schema: { querystring: NO_QUERY } }, async () => ({
    windows: Object.fromEntries(
      Object.entries(WINDOWS).map(([name, seconds]) => [name, control.throughput(seconds)]),
    ),
  }));

  // Files and bytes committed in each second of the last hour: the dashboard's charts, which
  // the stats events extend.
  app.get('/v1/stats/series', { schema: { querystring: NO_QUERY } }, async () => control.series());
}
