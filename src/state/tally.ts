import type { RowKind, RowStatus } from '../interfaces.js';
import type { StateTotals } from './store.js';

/** One group of rows: a kind and a status, with how many rows and bytes. */
export interface TallyGroup {
  kind: RowKind;
  status: RowStatus;
  files: number;
  bytes: number;
  /** The newest commit time in the group (ms), or null. */
  last: number | null;
}

/** A row's change as the tally sees it: its kind, size, and the status it left or took. */
export interface RowChange {
  kind: RowKind;
  size: number;
  from: RowStatus | null;
  to: RowStatus;
  at: number;
}

/**
 * The state's totals kept as its rows change, so that a status costs nothing however many rows
 * the state holds (counting them is a scan: 0.5 s at 2,000,000 rows, on the thread that
 * answers the daemon's claims). Counted once from the rows (`SqliteStore.totals`), then moved by
 * each change the store commits; counted again when another process wrote the state.
 */
export class Tally {
  readonly #groups = new Map<string, { files: number; bytes: number }>();
  #lastIngestAt: number | null = null;

  constructor(groups: readonly TallyGroup[]) {
    for (const g of groups) {
      this.#groups.set(`${g.kind}/${g.status}`, { files: g.files, bytes: g.bytes });
      if (g.kind === 'ingest' && g.status === 'committed') this.#lastIngestAt = g.last;
    }
  }

  #add(kind: RowKind, status: RowStatus, files: number, bytes: number): void {
    const key = `${kind}/${status}`;
    const group = this.#groups.get(key);
    if (group === undefined) this.#groups.set(key, { files, bytes });
    else {
      group.files += files;
      group.bytes += bytes;
    }
  }

  /** Applies changes that are committed (never those of a transaction that may roll back). */
  apply(changes: readonly RowChange[]): void {
    for (const c of changes) {
      if (c.from !== null) this.#add(c.kind, c.from, -1, -c.size);
      this.#add(c.kind, c.to, 1, c.size);
      if (c.kind === 'ingest' && c.to === 'committed') {
        this.#lastIngestAt = Math.max(this.#lastIngestAt ?? c.at, c.at);
      }
    }
  }

  totals(): StateTotals {
    const files = (kind: RowKind | null, status: RowStatus) => this.#sum(kind, status).files;
    const ingested = this.#sum('ingest', 'committed');
    const duplicates = this.#sum('duplicate', 'committed');
    return {
      ingestedFiles: ingested.files,
      ingestedBytes: ingested.bytes,
      lastIngestAt: this.#lastIngestAt,
      duplicates: duplicates.files,
      duplicateBytes: duplicates.bytes,
      quarantined: files('quarantine', 'committed'),
      inFlight: files(null, 'intent'),
      aborted: files(null, 'aborted'),
      vanished: files(null, 'vanished'),
    };
  }

  /** Rows and bytes of a status, of one kind or (null) of every kind. */
  #sum(kind: RowKind | null, status: RowStatus): { files: number; bytes: number } {
    const sum = { files: 0, bytes: 0 };
    for (const k of kind === null ? (['ingest', 'duplicate', 'quarantine'] as const) : [kind]) {
      const group = this.#groups.get(`${k}/${status}`);
      sum.files += group?.files ?? 0;
      sum.bytes += group?.bytes ?? 0;
    }
    return sum;
  }
}
