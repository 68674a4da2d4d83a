import type { IngestorEventMap } from '../events.js';
import type { DaemonControl, InFlightFileView } from './control.js';
import type { ResourceMonitor, ResourceUse } from './resources.js';

type Progress = IngestorEventMap['file:progress'][0];

/** A file in flight as the dashboard shows it: the daemon's view and its last progress. */
export interface InFlightFile extends Omit<InFlightFileView, 'since'> {
  since: string | null;
  bytesDone: number | null;
  bytesPerSecond: number | null;
  copying: boolean | null;
}

/** The pauses in force: an operator's (who, since when) and a failing output volume's. */
export function pausesOf(control: DaemonControl) {
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

/** The daemon's state as a word: its phase, or `paused` while running under a pause. */
export function stateOf(control: DaemonControl, pauses: readonly unknown[]): string {
  const phase = control.phase();
  return phase === 'running' && pauses.length > 0 ? 'paused' : phase;
}

/** The events that end a file's flight. */
const OUTCOMES = [
  'file:committed',
  'file:duplicate',
  'file:quarantined',
  'file:failed',
  'file:deferred',
  'file:cancelled',
] as const;

/** Progress kept at most: far more files than can be read at once (`--concurrency` <= 256). */
const MAX_PROGRESS = 4096;

/**
 * The last progress of each file being read (`file:progress`, a few times a second for a large
 * file), joined to the daemon's list of files in flight. Entries of files no longer in flight
 * are dropped at each listing, so it holds no more than the files in flight.
 */
export class ProgressBoard {
  readonly #progress = new Map<string, Progress>();
  readonly #control: DaemonControl;
  readonly #listener = (e: Progress) => {
    this.#progress.set(e.source, e);
    // Files that left flight unannounced (a vanished one) go oldest first: never more kept
    // than files can be in flight at once.
    if (this.#progress.size > MAX_PROGRESS) {
      this.#progress.delete(this.#progress.keys().next().value!);
    }
  };
  /** A file's outcome: its progress is over. */
  readonly #done = (e: { source: string }) => void this.#progress.delete(e.source);

  constructor(control: DaemonControl) {
    this.#control = control;
    control.events.on('file:progress', this.#listener);
    for (const outcome of OUTCOMES) control.events.on(outcome, this.#done);
  }

  /** Files whose progress is kept. */
  get size(): number {
    return this.#progress.size;
  }

  close(): void {
    this.#control.events.off('file:progress', this.#listener);
    for (const outcome of OUTCOMES) this.#control.events.off(outcome, this.#done);
  }

  /** The files in flight, the largest first, at most `limit`, with their progress. */
  list(limit: number): { files: InFlightFile[]; total: number } {
    const { files, total } = this.#control.inFlight(limit);
    if (total === 0) this.#progress.clear();
    else if (this.#progress.size > files.length) {
      const listed = new Set(files.map((f) => f.source));
      for (const source of this.#progress.keys()) {
        if (!listed.has(source)) this.#progress.delete(source);
      }
    }
    return {
      total,
      files: files.map((f) => {
        const p = this.#progress.get(f.source);
        return {
          ...f,
          since: f.since === null ? null : new Date(f.since).toISOString(),
          bytesDone: p?.bytesDone ?? null,
          bytesPerSecond: p?.bytesPerSecond ?? null,
          copying: p?.copying ?? null,
        };
      }),
    };
  }
}

/** Files in flight a stats event carries. */
const STATS_IN_FLIGHT = 50;

/**
 * What the dashboard's overview shows, sent in every `stats` event: the daemon's state, its
 * counts (the state's totals are kept as rows change, so this costs no scan), its use of the
 * machine, and the files in flight with their progress.
 */
export async function liveFigures(
  control: DaemonControl,
  monitor: ResourceMonitor,
  board: ProgressBoard,
): Promise<{
  state: string;
  pauses: ReturnType<typeof pausesOf>;
  counts: Record<string, number>;
  resources: ResourceUse;
  inflightFiles: InFlightFile[];
  inflightTotal: number;
}> {
  const [t, resources] = await Promise.all([control.state.totals(), monitor.read(control.volumes)]);
  const pauses = pausesOf(control);
  const q = control.queue();
  const counts = {
    ingested: t.ingestedFiles,
    ingestedBytes: t.ingestedBytes,
    duplicates: t.duplicates,
    quarantined: t.quarantined,
    failed: q.backoff,
    held: q.held,
    pending: q.pending,
    queued: q.queued,
    inFlight: q.inflight,
  };
  const inflight = board.list(STATS_IN_FLIGHT);
  return {
    state: stateOf(control, pauses),
    pauses,
    counts,
    resources,
    inflightFiles: inflight.files,
    inflightTotal: inflight.total,
  };
}
