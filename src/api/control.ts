import type { LimitChanges } from '../ingest/live-limits.js';
import type { IngestorEvents } from '../events.js';
import type { FailureClass, FsPath } from '../interfaces.js';
import type { Delivery, DeliveryFilter, StateReader } from '../state/store.js';
import type { Volume } from './resources.js';

/** Where the daemon is in its life: the phases `/healthz` knows. */
export type DaemonPhase = 'starting' | 'recovering' | 'running' | 'stopping';

/** Files the daemon holds in memory, by where they are. */
export interface QueueFigures {
  /** Complete files waiting for a worker. */
  queued: number;
  /** Being read, hashed, moved or committed. */
  inflight: number;
  /** Seen but not complete yet (stabilizing, or put back to wait); not held, not backing off. */
  pending: number;
  /** Held by an operator (a hold or a cancel) until released. */
  held: number;
  /** Failed, waiting for their next try. */
  backoff: number;
}

/** An operator's pause: who asked, since when (ms). */
export interface OperatorPauseView {
  by: string;
  since: number;
}

/** A file seen and not taken, and why (ids: see src/pending-id.ts). */
export interface PendingFileView {
  id: string;
  source: string;
  reason: 'stabilizing' | 'waiting' | 'backoff' | 'held';
  why: string;
  dueAt: number | null;
}

/** A held file, as an action answers it. */
export interface HoldView {
  source: FsPath;
  actor: string;
  reason: 'cancelled' | 'held';
  at: number;
}

/** One window of the daemon's recent throughput. */
export interface ThroughputView {
  seconds: number;
  files: number;
  bytes: number;
  filesPerSecond: number;
  bytesPerSecond: number;
  duplicates: number;
  failures: Record<FailureClass, number>;
  /** Failures per file settled (committed, duplicate or failed), by class. */
  failureRate: Record<FailureClass, number>;
  /** From complete (hashing starts) to committed, over the files of the window. */
  latencyMs: { mean: number; p95: number; samples: number } | null;
}

/** Files and bytes committed in each second of the last hour, oldest first. */
export interface ThroughputSeries {
  /** The end of the newest second (ms since the epoch). */
  end: number;
  /** Milliseconds per point. */
  step: number;
  files: number[];
  bytes: number[];
}

/** A file being read, hashed, copied or placed (OperatorControls.inFlightFiles). */
export interface InFlightFileView {
  id: string;
  source: string;
  bytes: number;
  phase: 'hashing' | 'placing';
  since: number | null;
}

/** The bulk retry's filter, checked by the route. */
export interface RetryFilterView {
  status?: 'quarantined' | 'failed';
  q?: string;
  since?: number;
}

/**
 * What the control API may ask of the daemon: the narrow side of it that commands/run-api.ts
 * wires to the orchestrator, so that the server imports no orchestrator internals (and tests
 * can give it a daemon of their own). Actions take the caller's certificate subject (`actor`),
 * which the daemon logs and journals; they throw an `ApiError` (404, 409) when refused.
 */
export interface DaemonControl {
  phase(): DaemonPhase;
  /** Why ingestion is paused (a failing output volume), or undefined. */
  pausedReason(): string | undefined;
  queue(): QueueFigures;
  /**
   * The limits the daemon runs with, by option name (`concurrency`, `batchSize`, ...): numbers,
   * `minFreeSpace` a percentage as `"10%"`, null for a limit that is not set.
   */
  limits(): Readonly<Record<string, number | string | null>>;
  /** When the daemon started (ms). */
  readonly startedAt: number;
  /** The directories whose volumes' free space the status shows. */
  readonly volumes: readonly Volume[];
  /** The state, for the history and the counts. */
  readonly state: StateReader;
  /** The daemon's events, which the event stream (`GET /v1/events`) follows. */
  readonly events: IngestorEvents;
  /**
   * Durable events after `cursor` (undefined: the oldest kept) and up to `until` if given, in
   * the order they became durable (`StateStore.eventsAfter`: file rows committed as ingested,
   * duplicate or quarantined, and the journal's events), at most `limit`, named as the stream
   * names them. `more` is false once the page reached the end (or `until`). The event stream
   * follows the daemon's durable events through it, and replays them to a client that comes
   * back (see api/event-ring.ts for the ids). A malformed cursor throws a TypeError.
   */
  replayAfter(cursor: string | undefined, limit: number, until?: string): Promise<ReplayPage>;
  /**
   * What the stream follows by: the durable events after `cursor` like `replayAfter`, but a
   * file's without its data (`fileId` instead: the stream has it from the daemon's event, or
   * asks `fileEventData`).
   */
  followAfter(cursor: string, limit: number): Promise<FollowPage>;
  /** The data of a file's durable event, read from its row (undefined: no such row). */
  fileEventData(fileId: number): Promise<Record<string, unknown> | undefined>;
  /** The state's cursor after its newest durable event: where the stream starts following. */
  eventsCursor(): Promise<string>;
  /** The operator's pause, if one is on (distinct from `pausedReason`'s volume pause). */
  operatorPause(): OperatorPauseView | undefined;
  /** Files seen and not taken, at most `limit`, and how many there are. */
  pending(limit: number): { files: PendingFileView[]; total: number };
  /** Throughput over the last `seconds` (at most 3600). */
  throughput(seconds: number): ThroughputView;
  /** Files and bytes committed per second over the last hour. */
  series(): ThroughputSeries;
  /** The files being hashed or placed now, the largest first, at most `limit`. */
  inFlight(limit: number): { files: InFlightFileView[]; total: number };
  /** `id` answered: the row id (a number) of a quarantined file, or the pending id. */
  retry(
    id: string,
    actor: string,
  ): Promise<{ id: number | string; source: string; restoredTo: string | null }>;
  retryMany(
    filter: RetryFilterView,
    actor: string,
  ): Promise<{
    retried: number;
    failed: number;
    /** The first 100 files that could not be retried, and why. */
    failures: { id: number; source: string; reason: string }[];
  }>;
  cancel(id: string, actor: string): Promise<HoldView>;
  hold(id: string, actor: string): Promise<HoldView>;
  release(id: string, actor: string): Promise<HoldView>;
  pause(actor: string): Promise<OperatorPauseView>;
  resume(actor: string): Promise<void>;
  /** Sets the reading concurrency and the other run-time limits until the next start. */
  setLimits(changes: LimitChanges & { readonly concurrency?: number }, actor: string): void;
  /** The webhooks' outbox, newest first (`GET /v1/webhooks`). */
  deliveries(filter: DeliveryFilter): Promise<Delivery[]>;
  /** Sends a message again, with its id; undefined if there is none (`POST .../redeliver`). */
  redeliver(id: number, actor: string): Promise<Delivery | undefined>;
  /** What an endpoint's URL is shown as (without its query or credentials). */
  endpointLabel(url: string): string;
}

/** A durable event (a file's row, or the journal's), as `replayAfter` returns it. */
export interface ReplayedEvent {
  /** The state's cursor right after it (see api/event-ring.ts). */
  cursor: string;
  /** One of the stream's dotted types (`file.ingested`, ...). */
  type: string;
  /** When it happened (ms since the epoch). */
  at: number;
  data: Record<string, unknown>;
}

/** A page of durable events and where to go on from. */
export interface ReplayPage {
  events: ReplayedEvent[];
  cursor: string;
  /** Whether more may follow at once (the page was full). */
  more: boolean;
}

/** A durable event as the stream follows it: a journal's with its data, a file's by its id. */
export type FollowedEvent = Omit<ReplayedEvent, 'data'> &
  ({ fileId: number; data?: undefined } | { fileId?: undefined; data: Record<string, unknown> });

export interface FollowPage {
  events: FollowedEvent[];
  cursor: string;
  more: boolean;
}
