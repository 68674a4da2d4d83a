import type { FileRow, FsPath } from '../interfaces.js';
import { placer } from './placement.js';
import type { SqliteStore } from './sqlite-store.js';
import type {
  Adoption,
  SharedDaemon,
  ClosingTurn,
  Delivery,
  DeliveryAttempt,
  DeliveryFilter,
  OutboxMessage,
  ClaimInput,
  ClaimResult,
  ClosedHour,
  HourMarks,
  DurableEventPage,
  DurableMarkPage,
  Hold,
  JournalEvent,
  NewJournalEvent,
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

  async finish(
    finishes: readonly Finish[],
    at: number,
    announce?: readonly OutboxMessage[],
  ): Promise<void> {
    this.#sync.finish(finishes, at, announce);
  }

  async announce(messages: readonly OutboxMessage[], at: number): Promise<void> {
    this.#sync.outbox.announce(messages, at);
  }

  async dueDeliveries(
    now: number,
    endpoints: readonly string[],
    limit: number,
    busy: readonly number[],
  ): Promise<Delivery[]> {
    return this.#sync.outbox.dueDeliveries(now, endpoints, limit, busy);
  }

  async nextDeliveryAt(
    endpoints: readonly string[],
    busy: readonly number[],
  ): Promise<number | undefined> {
    return this.#sync.outbox.nextDeliveryAt(endpoints, busy);
  }

  async deliveryAttempted(id: number, attempt: DeliveryAttempt): Promise<void> {
    this.#sync.outbox.deliveryAttempted(id, attempt);
  }

  async deliveries(filter: DeliveryFilter): Promise<Delivery[]> {
    return this.#sync.outbox.deliveries(filter);
  }

  async redeliver(id: number, at: number): Promise<Delivery | undefined> {
    return this.#sync.outbox.redeliver(id, at);
  }

  async pendingDeliveries(): Promise<Map<string, number>> {
    return this.#sync.outbox.pendingByEndpoint();
  }

  async recordQuarantine(
    input: QuarantineInput,
    at: number,
    announce?: readonly OutboxMessage[],
  ): Promise<FileRow> {
    return this.#sync.recordQuarantine(input, at, announce);
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

  /** One daemon per SQLite state: its lock, not a list, says which. */
  async sharedDaemons(): Promise<SharedDaemon[] | undefined> {
    return undefined;
  }

  /** One daemon per SQLite state: it closes every hour, and nobody else holds one. */
  async closingTurn(): Promise<ClosingTurn> {
    return { closer: true, othersHoldFrom: undefined };
  }

  /** One daemon per SQLite state: its open intents are all its own, and none is orphaned. */
  async adoptIntents(which: Adoption): Promise<FileRow[]> {
    return which === 'orphans' ? [] : this.openIntents();
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

  async recordEvents(events: readonly NewJournalEvent[], at: number): Promise<number[]> {
    return this.#sync.journal.recordEvents(events, at);
  }

  async fileEvents(
    fileId: number,
    source: FsPath,
    until: number,
    limit: number,
  ): Promise<JournalEvent[]> {
    return this.#sync.journal.fileEvents(fileId, source, until, limit);
  }

  async eventsAfter(
    cursor: string | undefined,
    limit: number,
    until?: string,
  ): Promise<DurableEventPage> {
    return this.#sync.journal.eventsAfter(cursor, limit, until);
  }

  async eventMarksAfter(cursor: string | undefined, limit: number): Promise<DurableMarkPage> {
    return this.#sync.journal.eventMarksAfter(cursor, limit);
  }

  async eventsCursor(): Promise<string> {
    return this.#sync.journal.eventsCursor();
  }

  async pruneEvents(before: number, limit: number): Promise<number> {
    // Webhook messages delivered or given up are history too, kept as long.
    return this.#sync.journal.pruneEvents(before, limit) + this.#sync.outbox.prune(before, limit);
  }

  async holds(): Promise<Hold[]> {
    return this.#sync.journal.holds();
  }

  async hold(hold: Hold, event: NewJournalEvent): Promise<void> {
    this.#sync.journal.hold(hold, event);
  }

  async releaseHold(source: FsPath, event: NewJournalEvent, at: number): Promise<boolean> {
    return this.#sync.journal.releaseHold(source, event, at);
  }

  async readSetting(key: string): Promise<string | undefined> {
    return this.#sync.journal.readSetting(key);
  }

  async writeSetting(
    key: string,
    value: string | null,
    event: NewJournalEvent,
    at: number,
  ): Promise<void> {
    this.#sync.journal.writeSetting(key, value, event, at);
  }

  async beginHours(hour: number, at: number): Promise<HourMarks> {
    return this.#sync.hours.beginHours(hour, at);
  }

  async hourMarks(): Promise<HourMarks> {
    return this.#sync.hours.hourMarks();
  }

  async earliestOpenLineAt(): Promise<number | undefined> {
    return this.#sync.hours.earliestOpenLineAt();
  }

  async closeHour(closed: ClosedHour, announce?: readonly OutboxMessage[]): Promise<void> {
    this.#sync.hours.closeHour(closed, announce, this.#sync.outbox);
  }

  async closedHours(): Promise<ClosedHour[]> {
    return this.#sync.hours.closedHours();
  }

  async close(): Promise<void> {
    this.#sync.close();
  }
}
