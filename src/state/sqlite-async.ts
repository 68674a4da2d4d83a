import type { FileRow, FsPath } from '../interfaces.js';
import { placer } from './placement.js';
import type { SqliteStore } from './sqlite-store.js';
import type {
  ClaimInput,
  ClaimResult,
  Finish,
  HistoryFilter,
  PlacementPlan,
  QuarantineInput,
  RuntimeRecord,
  RuntimeSnapshot,
  StateStore,
  StateTotals,
} from './store.js';
import { paged } from './store.js';

/**
 * The SQLite state behind the asynchronous `StateStore`, on the calling thread: each call runs
 * to its end synchronously and returns a settled promise. What the commands use (a short read
 * has nothing else to do meanwhile).
 */
export class SqliteStateStore implements StateStore {
  readonly #sync: SqliteStore;

  constructor(sync: SqliteStore) {
    this.#sync = sync;
  }

  /** The synchronous store underneath (tests of the SQL, and the state thread). */
  get sync(): SqliteStore {
    return this.#sync;
  }

  async claim(
    inputs: readonly ClaimInput[],
    at: number,
    plan: PlacementPlan,
  ): Promise<ClaimResult[]> {
    return this.#sync.claim(inputs, at, placer(plan));
  }

  async finish(finishes: readonly Finish[], at: number): Promise<void> {
    this.#sync.finish(finishes, at);
  }

  async recordQuarantine(input: QuarantineInput, at: number): Promise<FileRow> {
    return this.#sync.recordQuarantine(input, at);
  }

  async quarantined(): Promise<FileRow[]> {
    return this.#sync.quarantined();
  }

  async writeRuntime(snapshot: RuntimeSnapshot, at: number): Promise<void> {
    this.#sync.writeRuntime(snapshot, at);
  }

  async quarantinedInPlace(): Promise<FsPath[]> {
    return this.#sync.quarantinedInPlace();
  }

  async countQuarantined(): Promise<number> {
    return this.#sync.countQuarantined();
  }

  async lastIngestAt(): Promise<number | undefined> {
    return this.#sync.lastIngestAt();
  }

  async release(id: number, at: number): Promise<void> {
    this.#sync.release(id, at);
  }

  async openIntents(): Promise<FileRow[]> {
    return this.#sync.openIntents();
  }

  async findContent(sha256: string): Promise<FileRow | undefined> {
    return this.#sync.findContent(sha256);
  }

  async getRow(id: number): Promise<FileRow | undefined> {
    return this.#sync.getRow(id);
  }

  history(filter: HistoryFilter): AsyncIterable<FileRow> {
    return paged(async (before, limit) => this.#sync.historyPage(filter, before, limit));
  }

  rows(): AsyncIterable<FileRow> {
    return paged(async (after, limit) => this.#sync.rowsPage(after, limit));
  }

  async totals(): Promise<StateTotals> {
    return this.#sync.totals();
  }

  async readRuntime(): Promise<RuntimeRecord | undefined> {
    return this.#sync.readRuntime();
  }

  async close(): Promise<void> {
    this.#sync.close();
  }
}
