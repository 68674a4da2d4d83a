import type { FastifyInstance } from 'fastify';
import { ingestorVersion } from '../../ops/metrics.js';
import type { StateReader, StateTotals } from '../../state/store.js';
import type { DaemonControl } from '../control.js';
import type { ResourceMonitor } from '../resources.js';

/**
 * The state's totals count every row: a scan that grows with the history. Many clients polling
 * the status share one count at most this old, so that they cost the state one scan per period
 * however many they are.
 */
const TOTALS_MAX_AGE_MS = 2_000;

type Totals = StateTotals & { asOf: number };

function sharedTotals(state: StateReader): () => Promise<Totals> {
  let last: { at: number; totals: Promise<Totals> } | undefined;
  return () => {
    const now = Date.now();
    if (last === undefined || now - last.at >= TOTALS_MAX_AGE_MS) {
      const totals = state.totals().then((t) => ({ ...t, asOf: now }));
      const entry = { at: now, totals };
      last = entry;
      // A failed count is not kept: the next request asks again.
      totals.catch(() => {
        if (last === entry) last = undefined;
      });
    }
    return last.totals;
  };
}

/** The status takes no query: an unknown field is a mistake worth saying (a 400 naming it). */
const NO_QUERY = { type: 'object', additionalProperties: false, properties: {} } as const;

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** `GET /v1/status`: what the daemon is doing, its counts, its queue and its use of the machine. */
export function statusRoutes(
  app: FastifyInstance,
  control: DaemonControl,
  monitor: ResourceMonitor,
): void {
  const totals = sharedTotals(control.state);
  app.get('/v1/status', { schema: { querystring: NO_QUERY } }, async () => {
    const [t, resources] = await Promise.all([totals(), monitor.read(control.volumes)]);
    const phase = control.phase();
    const paused = control.pausedReason();
    return {
      state: phase === 'running' && paused !== undefined ? 'paused' : phase,
      paused: paused === undefined ? null : { reason: paused },
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
        asOf: iso(t.asOf),
      },
      queue: control.queue(),
      limits: control.limits(),
      resources,
    };
  });
}
