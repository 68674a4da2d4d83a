import type { FileIdentity, FileRow, FsPath, RowKind, RowStatus } from '../interfaces.js';

/** A complete, hashed file asking for a place. */
export interface ClaimInput {
  sha256: string;
  source: FsPath;
  identity: FileIdentity;
  sidecar: FsPath | null;
  completedAt: number;
  hashMs: number;
  /** The copy beside the warehouse that gets the final name; none when the source is linked. */
  tmp?: FsPath | null;
}

/**
 * Where the files of one claim go, by what the store finds them to be: an ingest gets a free
 * name in `partition` and a line in `manifest`; a duplicate a free name in `duplicates`, or no
 * name (NO_DEST) when duplicates are deleted (`duplicates` null). Data, not a callback, so that
 * a store on another thread or another host can apply it inside its transaction.
 */
export interface PlacementPlan {
  partition: FsPath;
  duplicates: FsPath | null;
  manifest: string;
}

/** Where a claimed file goes, as the plan places it. */
export interface Placement {
  dest: FsPath;
  tmp: FsPath | null;
  manifest: string | null;
}

export interface QuarantineInput {
  source: FsPath;
  identity: FileIdentity;
  sha256: string;
  dest: FsPath;
  sidecar: FsPath | null;
  error: string;
}

export type ClaimResult =
  | { outcome: 'ingest'; row: FileRow }
  | { outcome: 'duplicate'; row: FileRow; original: FileRow }
  /** The same content is being ingested right now under another name: try again later. */
  | { outcome: 'busy' };

/** What the journal records: the exceptional steps of a file, and an operator's actions. */
export type JournalEventType =
  | 'failed'
  | 'retry-scheduled'
  | 'retried'
  | 'released'
  | 'held'
  | 'cancelled'
  | 'paused'
  | 'resumed'
  | 'limits'
  /** An hour was closed: its `_SUCCESS` written (`detail`: hour, manifest, lines, bytes, sha256). */
  | 'manifest-closed';

/** One event to record. `fileId` when the file has a row; `source` when it has none yet. */
export interface NewJournalEvent {
  type: JournalEventType;
  fileId: number | null;
  source: FsPath | null;
  /** The certificate subject of the operator who asked; null for the daemon's own doing. */
  actor: string | null;
  /** What the event says beyond its type (class, code, attempt...): JSON, kept small. */
  detail: Readonly<Record<string, unknown>> | null;
}

/** A recorded event. */
export interface JournalEvent extends NewJournalEvent {
  id: number;
  at: number;
}

/**
 * A durable event as a stream replays it (`eventsAfter`): a file row that was committed
 * (`ingested`, `duplicate`, `quarantined`) or a journal event.
 */
export type DurableEvent = (
  | {
      kind: 'file';
      type: 'ingested' | 'duplicate' | 'quarantined';
      at: number;
      id: number;
      row: FileRow;
    }
  | { kind: 'journal'; type: JournalEventType; at: number; event: JournalEvent }
) & {
  /** The cursor that resumes right after this event: what a stream sends as its `id`. */
  cursor: string;
};

/**
 * A durable event without its row (`eventMarksAfter`): for a reader that has the row's data
 * already (the event stream, from the daemon's own events) and only needs its place.
 */
export type DurableMark = (
  | { kind: 'file'; type: 'ingested' | 'duplicate' | 'quarantined'; at: number; id: number }
  | { kind: 'journal'; type: JournalEventType; at: number; event: JournalEvent }
) & { cursor: string };

export interface DurableMarkPage {
  events: DurableMark[];
  cursor: string;
}

/** A page of durable events and where the next one starts. */
export interface DurableEventPage {
  events: DurableEvent[];
  /** Give it back to read on; the same cursor when nothing was there yet. */
  cursor: string;
}

/** A file an operator held: not taken again until released, across restarts. */
export interface Hold {
  source: FsPath;
  identity: FileIdentity;
  actor: string;
  /** `cancelled` (stopped while it was read) or `held` (held before it was taken). */
  reason: 'cancelled' | 'held';
  at: number;
}

/** Which rows `history` returns; every field narrows, none given means all rows. */
export interface HistoryFilter {
  kind?: RowKind;
  status?: RowStatus;
  /** Only rows whose intent was written at or after this instant (ms). */
  since?: number;
  /** Only rows whose SHA-256 starts with these lowercase hex digits (all 64: that hash). */
  sha256Prefix?: string;
  /** Only rows whose source path holds these bytes (a UTF-8 string: its bytes). */
  sourceContains?: string;
  /** Only rows with ids below this one (a reader's place in a longer listing). */
  idBelow?: number;
  /**
   * Only rows with ids at or above this one: with `idBelow`, a window of ids, so that a rare
   * match costs a bounded read of the state per call, not a scan of every row at once.
   */
  idAtLeast?: number;
}

/** Counts over the whole state, for `ingestor status`. */
export interface StateTotals {
  ingestedFiles: number;
  ingestedBytes: number;
  /** When the last ingest was committed (ms), or null. */
  lastIngestAt: number | null;
  duplicates: number;
  duplicateBytes: number;
  quarantined: number;
  inFlight: number;
  aborted: number;
  vanished: number;
}

/**
 * What a running daemon records about itself for `ingestor status`: what only it knows (pending
 * files live in its memory). Written every few seconds and on SIGUSR2.
 */
export interface RuntimeSnapshot {
  pid: number;
  startedAt: number;
  queueDepth: number;
  inflight: number;
  pending: number;
  paused: string | null;
  /**
   * The file waiting longest for completion; `reason`, when the daemon knows it, says why (`open
   * for writing by another process`). Absent in snapshots of older daemons.
   */
  oldestPending: { path: string; since: number; reason?: string } | null;
  /**
   * Volumes where the kernel cannot tell whether a file is open for writing (no file leases
   * there, or no permission), so the stability window alone decides. Absent in snapshots of
   * older daemons.
   */
  writersUnseen?: { dir: string; code: string; reason: string }[];
}

/** What the daemon last recorded about itself (`writeRuntime`). */
export interface RuntimeRecord {
  snapshot: RuntimeSnapshot;
  /** When it was written (ms, the daemon's clock). */
  updatedAt: number;
}

/** A webhook message for one endpoint, as the outbox keeps it until it is delivered. */
export interface OutboxMessage {
  /** The `webhook-id`: the same on every attempt and endpoint. */
  msgId: string;
  /** The endpoint's URL. */
  endpoint: string;
  type: string;
  /** The JSON body, signed as it is. */
  body: string;
}

/** A message in the outbox and how its delivery stands. */
export interface Delivery extends OutboxMessage {
  id: number;
  createdAt: number;
  attempts: number;
  /** When it is tried next (pending), else null. */
  nextAt: number | null;
  /** `gave-up`: failed for three days; `ctl webhooks redeliver` sends it again. */
  status: 'pending' | 'delivered' | 'gave-up';
  /** The HTTP status of the last attempt (null: no answer). */
  lastStatus: number | null;
  lastError: string | null;
  deliveredAt: number | null;
}

/** How one attempt ended; `nextAt` null: given up. */
export type DeliveryAttempt =
  | { ok: true; status: number; at: number }
  | { ok: false; status: number | null; error: string; at: number; nextAt: number | null };

/** Which deliveries `deliveries` lists, newest first. */
export interface DeliveryFilter {
  status?: Delivery['status'];
  type?: string;
  idBelow?: number;
  id?: number;
  limit: number;
}

/** A closed hour as the state records it: its manifest as closed, what its `_SUCCESS` says. */
export interface ClosedHour {
  /** The hour's first millisecond (UTC). */
  hour: number;
  /** The manifest file of the hour (it may not exist: an hour with no file has none). */
  manifest: string;
  lines: number;
  bytes: number;
  /** SHA-256 of the manifest as closed, hex. */
  sha256: string;
  closedAt: number;
}

/** A daemon of a shared state, as `status` lists it. */
export interface SharedDaemon {
  nodeId: string;
  host: string;
  pid: number;
  startedAt: number;
  /** The lease's deadline (ms, the database's clock). */
  leaseUntil: number;
  /** Its lease is live now (by the database's clock). */
  live: boolean;
  /** When it stopped cleanly (ms), if it did. */
  stoppedAt: number | null;
}

/** Who closes hours, and what the other daemons still hold (`closingTurn`). */
export interface ClosingTurn {
  closer: boolean;
  /** The first ms of the oldest hour another daemon may still write to; undefined: none. */
  othersHoldFrom: number | undefined;
}

/** Where the closing of hours stands in a state. */
export interface HourMarks {
  /** The first hour to close (its first ms); undefined until a daemon that closes hours ran. */
  firstHour: number | undefined;
  /** The last hour closed; undefined before the first close. Hours close in order. */
  closedThrough: number | undefined;
}

export interface Finish {
  id: number;
  status: Exclude<RowStatus, 'intent'>;
  error?: string;
  /**
   * The manifest its line went to, when recovery wrote it to another file than the row named:
   * a daemon settling another's intent writes the line to its own manifest (PostgreSQL).
   */
  manifest?: string;
}

/** Which intents `adoptIntents` takes over. */
export type Adoption =
  /** This daemon's own (from before a restart) and those of daemons whose lease ran out. */
  | 'mine-and-orphans'
  /** Only those of other daemons whose lease ran out (a running daemon's own are in flight). */
  | 'orphans';

/**
 * Everything the daemon and the commands ask of durable state. Every call is asynchronous:
 * SQLite answers from a thread of its own, and a shared PostgreSQL implementation for several
 * hosts answers over the network. Batches go in and results come out; no call relies on running
 * in step with the pipeline. Lists are read in pages (`AsyncIterable`), so no call holds a
 * cursor open between the caller's steps.
 */
export interface StateStore {
  /**
   * Decides for each input, in one durable transaction, whether its content is new (an ingest
   * intent), already committed (a duplicate intent) or in flight (busy), and records the
   * intents with their places by `plan`. Resolves when the intents are durable.
   */
  claim(inputs: readonly ClaimInput[], at: number, plan: PlacementPlan): Promise<ClaimResult[]>;
  /** Marks intents final in one durable transaction. */
  /**
   * Ends intents (committed, aborted...). `announce`: webhook messages written in the same
   * transaction (a quarantine's `file.quarantined`), so that a crash loses neither.
   */
  finish(
    finishes: readonly Finish[],
    at: number,
    announce?: readonly OutboxMessage[],
  ): Promise<void>;
  /**
   * Records the intent to quarantine a file (dest '' = left in place), durably.
   * `sha256` is '' when the file could not be read.
   */
  /**
   * Writes a quarantine's intent. `announce`: its webhook messages, written with it and sent
   * once the row is committed (by the caller's `finish`, or by recovery), deleted if it is not.
   */
  recordQuarantine(
    input: QuarantineInput,
    at: number,
    announce?: readonly OutboxMessage[],
  ): Promise<FileRow>;
  /** Quarantined files not yet released, oldest first. */
  quarantined(): Promise<FileRow[]>;
  /** Records what the daemon says about itself (status reads it); best effort, never a wait. */
  writeRuntime(snapshot: RuntimeSnapshot, at: number): Promise<void>;
  /** Sources of files quarantined in place (not moved), not released: discovery skips them. */
  quarantinedInPlace(): Promise<FsPath[]>;
  /** How many files are quarantined and not released. */
  countQuarantined(): Promise<number>;
  /**
   * When the newest committed ingest (by claim order) was committed (ms), if any: what the
   * daemon last ingested, read once at start.
   */
  lastIngestAt(): Promise<number | undefined>;
  /** Marks a quarantined file as put back (`ingestor retry`). */
  release(id: number, at: number): Promise<void>;
  /**
   * Rows still in the intent state that this daemon must settle: every one on SQLite; on a
   * shared PostgreSQL state its own and those of daemons whose lease ran out. A read.
   */
  openIntents(): Promise<FileRow[]>;
  /**
   * Takes over open intents to settle them (recovery), with this daemon's fencing token, so
   * that a late owner's commit of them is refused; returns them. SQLite has one daemon: its
   * `mine-and-orphans` are all open intents, and it has no orphans.
   */
  adoptIntents(which: Adoption): Promise<FileRow[]>;
  /** The committed (or in-flight) ingest of this content, if any. */
  findContent(sha256: string): Promise<FileRow | undefined>;
  getRow(id: number): Promise<FileRow | undefined>;
  /** Rows matching `filter`, newest first, read a page at a time: a loop that stops early reads less. */
  history(filter: HistoryFilter): AsyncIterable<FileRow>;
  /** Every row in id order, a page at a time (verify). */
  rows(): AsyncIterable<FileRow>;
  /** What `ingestor status` counts. */
  totals(): Promise<StateTotals>;
  /** The daemon's last runtime record, if it ever wrote one. */
  readRuntime(): Promise<RuntimeRecord | undefined>;
  /** Records journal events in one durable transaction; resolves with their ids. */
  recordEvents(events: readonly NewJournalEvent[], at: number): Promise<number[]>;
  /**
   * The journal events of a file: those of its row, and those recorded under its source path
   * before it had one (up to `until`, ms), oldest first, at most `limit`.
   */
  fileEvents(fileId: number, source: FsPath, until: number, limit: number): Promise<JournalEvent[]>;
  /**
   * Durable events in commit order after `cursor` (undefined: from the oldest kept), at most
   * `limit`. Contract for a replaying reader (the SSE stream's Last-Event-ID):
   * - the cursor is opaque (`[A-Za-z0-9_-]`, at most 40 characters); give back the one a page
   *   returned, or undefined to start at the oldest event kept;
   * - events come in the order they became durable, each once: a file row is returned only
   *   once no older row is still an intent, so a row committed late is not skipped;
   * - a cursor older than the retention (`--history-days`) starts at the oldest event kept;
   * - `until` (a cursor this store returned) stops the page at that place: events after it are
   *   left out, so a reader can replay up to where it began following by other means;
   * - a malformed cursor throws a TypeError (a caller's 400).
   */
  eventsAfter(cursor: string | undefined, limit: number, until?: string): Promise<DurableEventPage>;
  /** `eventsAfter` without the rows: each file event's row id and place, for a follower. */
  eventMarksAfter(cursor: string | undefined, limit: number): Promise<DurableMarkPage>;
  /** The cursor after the newest durable event now: where a reader that follows from now starts. */
  eventsCursor(): Promise<string>;
  /**
   * Removes up to `limit` journal events recorded before `before` (ms), and as many webhook
   * messages delivered or given up written before then; resolves how many in all.
   */
  pruneEvents(before: number, limit: number): Promise<number>;
  /** Every file held by an operator. */
  holds(): Promise<Hold[]>;
  /** Holds a file (replacing an earlier hold of the same source) and journals it, at once. */
  hold(hold: Hold, event: NewJournalEvent): Promise<void>;
  /** Releases a held file and journals it; false when it was not held. */
  releaseHold(source: FsPath, event: NewJournalEvent, at: number): Promise<boolean>;
  /** A setting an operator made that outlives a restart (JSON), if set. */
  readSetting(key: string): Promise<string | undefined>;
  /** Sets (a string) or clears (null) a setting, and journals the change, at once. */
  writeSetting(
    key: string,
    value: string | null,
    event: NewJournalEvent,
    at: number,
  ): Promise<void>;
  /** Writes webhook messages in a transaction of their own (a pause, a start, a stop). */
  announce(messages: readonly OutboxMessage[], at: number): Promise<void>;
  /** Pending messages due by `now` for these endpoints, oldest first, but the ids in `busy`. */
  dueDeliveries(
    now: number,
    endpoints: readonly string[],
    limit: number,
    busy: readonly number[],
  ): Promise<Delivery[]>;
  /** When the next pending message for these endpoints (but `busy`) is due, if any. */
  nextDeliveryAt(
    endpoints: readonly string[],
    busy: readonly number[],
  ): Promise<number | undefined>;
  /** Records how an attempt ended. */
  deliveryAttempted(id: number, attempt: DeliveryAttempt): Promise<void>;
  /** The outbox, newest first. */
  deliveries(filter: DeliveryFilter): Promise<Delivery[]>;
  /** Puts a message back to be sent at `at` (same id); undefined if there is none. */
  redeliver(id: number, at: number): Promise<Delivery | undefined>;
  /** Messages waiting to be delivered, by endpoint. */
  pendingDeliveries(): Promise<Map<string, number>>;
  /**
   * Records `hour` as the first hour to close, unless the state has one (set once, at the
   * first start), and returns the marks.
   */
  beginHours(hour: number, at: number): Promise<HourMarks>;
  /** Where the closing of hours stands. */
  hourMarks(): Promise<HourMarks>;
  /**
   * When the oldest open intent that will write a manifest line was claimed (ms), if any: no
   * hour from that one's on may close yet.
   */
  earliestOpenLineAt(): Promise<number | undefined>;
  /**
   * Records `closed.hour` as closed and journals it (`manifest-closed`, the announcement
   * webhooks will deliver) in one durable transaction. Hours close in order: anything but the
   * hour after the last closed one (or the first hour) throws, and nothing is written.
   */
  closeHour(closed: ClosedHour, announce?: readonly OutboxMessage[]): Promise<void>;
  /** Every closed hour, in order (verify). */
  closedHours(): Promise<ClosedHour[]>;
  /**
   * Whether this daemon closes hours now, and the oldest hour other daemons may still write a
   * line to. On PostgreSQL the live daemon with the smallest node id closes, and each daemon
   * reports with its lease the oldest hour a batch in its memory holds. On SQLite: this daemon,
   * and nobody else.
   */
  closingTurn(): Promise<ClosingTurn>;
  /**
   * The daemons sharing the state (PostgreSQL): each with its lease and whether it is live.
   * Undefined on SQLite, where one daemon holds the state (its lock says which).
   */
  sharedDaemons(): Promise<SharedDaemon[] | undefined>;
  close(): Promise<void>;
}

/** What readers of the history (the control API) may call: reads only. */
export type StateReader = Pick<
  StateStore,
  | 'history'
  | 'getRow'
  | 'totals'
  | 'fileEvents'
  | 'eventsAfter'
  | 'eventMarksAfter'
  | 'eventsCursor'
>;

/** Rows read per page by `history` and `rows`. */
export const PAGE_ROWS = 500;

/**
 * Pages through rows by id: `page(bound, limit)` returns up to `limit` rows past `bound` (none
 * given: from the start) in the order of the listing, and an empty or short page ends it.
 */
export async function* paged(
  page: (bound: number | undefined, limit: number) => Promise<FileRow[]>,
): AsyncGenerator<FileRow> {
  let bound: number | undefined;
  for (;;) {
    const rows = await page(bound, PAGE_ROWS);
    yield* rows;
    if (rows.length < PAGE_ROWS) return;
    bound = rows[rows.length - 1]!.id;
  }
}
