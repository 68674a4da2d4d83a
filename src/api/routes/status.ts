import type { FastifyInstance } from 'fastify';
import { ingestorVersion } from '../../ops/metrics.js';
import type { DaemonControl } from '../control.js';
import { pausesOf, stateOf } from '../live-figures.js';
import type { ResourceMonitor } from '../resources.js';
import { NO_QUERY } from './ids.js';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** `GET /v1/status`: what the daemon is doing, its counts, its queue and its use of the machine. */
export function statusRoutes(
  app: FastifyInstance,
  control: DaemonControl,
  monitor: ResourceMonitor,
): void {
  app.get('/v1/status', { schema: { querystring: NO_QUERY } }, async () => {
    const asOf = Date.now();
    // The totals are kept as rows change (state/tally.ts): no scan, however large the state.
    const [t, resources] = await Promise.all([
      control.state.totals(),
      monitor.read(control.volumes),
    ]);
    const pauses = pausesOf(control);
    return {
      state: stateOf(control, pauses),
      // The operator's pause first when both are on: it outlasts the volume's.
      paused: pauses[0] ?? null,
      pauses,
      pid: process.pid,
      version: ingestorVersion(),
      startedAt: iso(control.startedAt),
      uptimeSeconds: Math.round((Date.now() - control.startedAt) / 1000),
      files: {
        ingested: { files: t.ingestedFiles, bytes: t.ingestedBytes },
        duplicates: { files: t.duplicates, bytes: t.duplicateBytes },
        quarantined: t.quarantined,
        inFlight: t.inFlight,
        aborted: t.aborted,
        vanished: t.vanished,
        lastIngestAt: iso(t.lastIngestAt),
        asOf: iso(asOf),
      },
      queue: control.queue(),
      limits: control.limits(),
      resources,
    };
  });
}
