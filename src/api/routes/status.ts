import type { FastifyInstance } from 'fastify';
import { ingestorVersion } from '../../ops/metrics.js';
import type { StateReader, StateTotals } from '../../state/store.js';
import type { DaemonControl } from '../control.js';
import type { ResourceMonitor } from '../resources.js';
import { NO_QUERY } from './ids.js';

/**
 * The state's totals count every row: a scan that grows with the history (0.5 s at 2,000,000
 * rows here), on the thread that also answers the daemon's claims. Clients polling the status
 * share one count, kept for 20 times as long as it took (at least 2 s), so that counting costs
 * the state at most a twentieth of its time however many clients poll.
 */
const TOTALS_MIN_AGE_MS = 2_000;
const TOTALS_COST_FACTOR = 20;

type Totals = StateTotals & { asOf: number };

function sharedTotals(state: StateReader): () => Promise<Totals> {
  let last: { at: number; keepMs: number; totals: Promise<Totals> } | undefined;
  return () => {
    const now = Date.now();
    if (last === undefined || now - last.at >= last.keepMs) {
      const entry = {
        at: now,
        keepMs: TOTALS_MIN_AGE_MS,
        totals: state.totals().then((t) => {
          entry.keepMs = Math.max(TOTALS_MIN_AGE_MS, (Date.now() - now) * TOTALS_COST_FACTOR);
          return { ...t, asOf: now };
        }),
      };
      last = entry;
      // A failed count is not kept: the next request asks again.
      entry.totals.catch(() => {
        if (last === entry) last = undefined;
      });
    }
    return last.totals;
  };
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** The pauses in force: an operator's (who, since when) and a failing output volume's. */
function pausesOf(control: DaemonControl) {
  const pauses: { kind: 'operator' | 'volume'; reason: string; by?: string; since?: string }[] = [];
  const operator = control.operatorPause();
  if (operator !== undefined) {
    pauses.push({
      kind: 'operator',
      reason: `paused by ${operator.by}`,
      by: operator.by,
      since: new Date(operator.since).toISOString(),
    });
  }
  const volume = control.pausedReason();
  if (volume !== undefined) pauses.push({ kind: 'volume', reason: volume });
  return pauses;
}

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
    const pauses = pausesOf(control);
    return {
      state: phase === 'running' && pauses.length > 0 ? 'paused' : phase,
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
        asOf: iso(t.asOf),
      },
      queue: control.queue(),
      limits: control.limits(),
      resources,
    };
  });
}
