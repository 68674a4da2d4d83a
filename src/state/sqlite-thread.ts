import { Worker } from 'node:worker_threads';
import { IngestError, describeError } from '../errors.js';
import type { FileRow, FsPath } from '../interfaces.js';
import { deserializeError } from '../thread-errors.js';
import { revived, workerScript } from '../worker-script.js';
import { SqliteStateStore } from './sqlite-async.js';
import type { StateMethod, StateOpen, StateReply } from './sqlite-messages.js';
import { openSqliteState } from './sqlite-store.js';
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

interface Waiter {
  resolve(value: unknown): void;
  reject(error: Error): void;
}

/**
 * The SQLite state on a thread of its own (sqlite-worker.ts): each call is a message, answered
 * in order by the one connection there, so the main thread goes on with other work while a
 * transaction and its fsync run. A thread that stops (out of memory, a crash in native code)
 * fails the calls waiting on it with INGEST_ERR_STATE, which pauses ingestion; the next call
 * starts a new thread, which opens the state again.
 */
export class SqliteThreadStore implements StateStore {
  readonly #script: URL;
  readonly #open: StateOpen;
  #worker: Worker | undefined;
  #ready: Promise<void> | undefined;
  /** Resolves when the last thread that stopped has exited (a new one opens the state then). */
  #exited: Promise<void> = Promise.resolve();
  readonly #waiting = new Map<number, Waiter>();
  #next = 1;
  #closed = false;

  private constructor(script: URL, open: StateOpen) {
    this.#script = script;
    this.#open = open;
  }

  /**
   * Opens the state on its own thread; where there is no built thread script (library use from
   * sources), on this one. Throws as opening it here would (a state that cannot be used).
   */
  static async open(statePath: string, options: { readonly?: boolean } = {}): Promise<StateStore> {
    const readonly = options.readonly === true;
    const script = workerScript('state/sqlite-worker.js');
    if (script === undefined) return new SqliteStateStore(openSqliteState(statePath, { readonly }));
    const store = new SqliteThreadStore(script, { statePath, readonly });
    try {
      await store.#start();
    } catch (error) {
      await store.#worker?.terminate();
      throw error;
    }
    return store;
  }

  /** The thread answering now (tests stop it as a crash in native code would). */
  get thread(): Worker | undefined {
    return this.#worker;
  }

  async #start(): Promise<void> {
    await this.#exited;
    const worker = new Worker(this.#script, {
      workerData: this.#open,
      // Statements, a batch's rows and a page of history: a bounded heap keeps the process's
      // memory flat (V8 grows a heap it is not told to keep small).
      resourceLimits: { maxOldGenerationSizeMb: 64, maxYoungGenerationSizeMb: 8 },
    });
    this.#worker = worker;
    this.#exited = new Promise((resolve) => worker.once('exit', () => resolve()));
    this.#ready = new Promise<void>((resolve, reject) => {
      this.#waiting.set(0, { resolve: () => resolve(), reject });
    });
    worker.on('message', (reply: StateReply) => {
      const waiter = this.#waiting.get(reply.id);
      this.#waiting.delete(reply.id);
      if (this.#waiting.size === 0) worker.unref();
      if (waiter === undefined) return;
      if (reply.ok) waiter.resolve(revived(reply.value));
      else waiter.reject(deserializeError(reply.error));
    });
    const stopped = (why: string) => {
      if (this.#worker !== worker) return;
      this.#worker = undefined;
      this.#ready = undefined;
      const error = new IngestError('INGEST_ERR_STATE', `the state thread stopped (${why})`);
      for (const waiter of this.#waiting.values()) waiter.reject(error);
      this.#waiting.clear();
    };
    worker.on('error', (error) => stopped(describeError(error)));
    worker.on('exit', (code) => stopped(`exit code ${code}`));
    await this.#ready;
  }

  #starting: Promise<void> | undefined;

  /** One new thread for however many calls find the last one stopped. */
  async #restart(): Promise<void> {
    try {
      await this.#start();
    } finally {
      this.#starting = undefined;
    }
  }

  async #call<T>(method: StateMethod, ...args: unknown[]): Promise<T> {
    if (this.#closed) throw new IngestError('INGEST_ERR_STATE', 'the state is closed');
    if (this.#worker === undefined) await (this.#starting ??= this.#restart());
    else await this.#ready;
    const worker = this.#worker!;
    const id = this.#next++;
    const answer = new Promise<unknown>((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject });
    });
    worker.ref();
    worker.postMessage({ id, method, args });
    return (await answer) as T;
  }

  claim(inputs: readonly ClaimInput[], at: number, plan: PlacementPlan): Promise<ClaimResult[]> {
    return this.#call('claim', inputs, at, plan);
  }

  finish(
    finishes: readonly Finish[],
    at: number,
    announce?: readonly OutboxMessage[],
  ): Promise<void> {
    return this.#call('finish', finishes, at, announce);
  }

  announce(messages: readonly OutboxMessage[], at: number): Promise<void> {
    return this.#call('announce', messages, at);
  }

  dueDeliveries(
    now: number,
    endpoints: readonly string[],
    limit: number,
    busy: readonly number[],
  ): Promise<Delivery[]> {
    return this.#call('dueDeliveries', now, endpoints, limit, busy);
  }

  nextDeliveryAt(
    endpoints: readonly string[],
    busy: readonly number[],
  ): Promise<number | undefined> {
    return this.#call('nextDeliveryAt', endpoints, busy);
  }

  deliveryAttempted(id: number, attempt: DeliveryAttempt): Promise<void> {
    return this.#call('deliveryAttempted', id, attempt);
  }

  deliveries(filter: DeliveryFilter): Promise<Delivery[]> {
    return this.#call('deliveries', filter);
  }

  redeliver(id: number, at: number): Promise<Delivery | undefined> {
    return this.#call('redeliver', id, at);
  }

  pendingDeliveries(): Promise<Map<string, number>> {
    return this.#call('pendingDeliveries');
  }

  recordQuarantine(
    input: QuarantineInput,
    at: number,
    announce?: readonly OutboxMessage[],
  ): Promise<FileRow> {
    return this.#call('recordQuarantine', input, at, announce);
  }

  quarantined(): Promise<FileRow[]> {
    return this.#call('quarantined');
  }

  writeRuntime(snapshot: RuntimeSnapshot, at: number): Promise<void> {
    return this.#call('writeRuntime', snapshot, at);
  }

  quarantinedInPlace(): Promise<FsPath[]> {
    return this.#call('quarantinedInPlace');
  }

  countQuarantined(): Promise<number> {
    return this.#call('countQuarantined');
  }

  lastIngestAt(): Promise<number | undefined> {
    return this.#call('lastIngestAt');
  }

  release(id: number, at: number): Promise<void> {
    return this.#call('release', id, at);
  }

  openIntents(): Promise<FileRow[]> {
    return this.#call('openIntents');
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

  findContent(sha256: string): Promise<FileRow | undefined> {
    return this.#call('findContent', sha256);
  }

  getRow(id: number): Promise<FileRow | undefined> {
    return this.#call('getRow', id);
  }

  history(filter: HistoryFilter): AsyncIterable<FileRow> {
    return paged((before, limit) => this.#call('historyPage', filter, before, limit));
  }

  rows(): AsyncIterable<FileRow> {
    return paged((after, limit) => this.#call('rowsPage', after, limit));
  }

  totals(): Promise<StateTotals> {
    return this.#call('totals');
  }

  readRuntime(): Promise<RuntimeRecord | undefined> {
    return this.#call('readRuntime');
  }

  recordEvents(events: readonly NewJournalEvent[], at: number): Promise<number[]> {
    return this.#call('recordEvents', events, at);
  }

  fileEvents(
    fileId: number,
    source: FsPath,
    until: number,
    limit: number,
  ): Promise<JournalEvent[]> {
    return this.#call('fileEvents', fileId, source, until, limit);
  }

  eventsAfter(
    cursor: string | undefined,
    limit: number,
    until?: string,
  ): Promise<DurableEventPage> {
    return this.#call('eventsAfter', cursor, limit, until);
  }

  eventMarksAfter(cursor: string | undefined, limit: number): Promise<DurableMarkPage> {
    return this.#call('eventMarksAfter', cursor, limit);
  }

  eventsCursor(): Promise<string> {
    return this.#call('eventsCursor');
  }

  pruneEvents(before: number, limit: number): Promise<number> {
    return this.#call('pruneEvents', before, limit);
  }

  holds(): Promise<Hold[]> {
    return this.#call('holds');
  }

  hold(hold: Hold, event: NewJournalEvent): Promise<void> {
    return this.#call('hold', hold, event);
  }

  releaseHold(source: FsPath, event: NewJournalEvent, at: number): Promise<boolean> {
    return this.#call('releaseHold', source, event, at);
  }

  readSetting(key: string): Promise<string | undefined> {
    return this.#call('readSetting', key);
  }

  writeSetting(
    key: string,
    value: string | null,
    event: NewJournalEvent,
    at: number,
  ): Promise<void> {
    return this.#call('writeSetting', key, value, event, at);
  }

  beginHours(hour: number, at: number): Promise<HourMarks> {
    return this.#call('beginHours', hour, at);
  }

  hourMarks(): Promise<HourMarks> {
    return this.#call('hourMarks');
  }

  earliestOpenLineAt(): Promise<number | undefined> {
    return this.#call('earliestOpenLineAt');
  }

  closeHour(closed: ClosedHour, announce?: readonly OutboxMessage[]): Promise<void> {
    return this.#call('closeHour', closed, announce);
  }

  closedHours(): Promise<ClosedHour[]> {
    return this.#call('closedHours');
  }

  /** Closes the state (the WAL is folded back) and lets the thread end. */
  async close(): Promise<void> {
    if (this.#closed) return;
    const worker = this.#worker;
    if (worker === undefined) {
      this.#closed = true;
      return;
    }
    // Calls made from now on are refused; those already sent are answered before the close.
    const closing = this.#call('close');
    this.#closed = true;
    await closing;
  }
}
