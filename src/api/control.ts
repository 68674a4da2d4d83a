import type { IngestorEvents } from '../events.js';
import type { StateReader } from '../state/store.js';
import type { Volume } from './resources.js';

/** Where the daemon is in its life: the phases `/healthz` knows. */
export type DaemonPhase = 'starting' | 'recovering' | 'running' | 'stopping';

/** Files the daemon holds in memory, by where they are. */
export interface QueueFigures {
  /** Complete files waiting for a worker. */
  queued: number;
  /** Being read, hashed, moved or committed. */
  inflight: number;
  /** Seen but not complete yet. */
  pending: number;
}

/**
 * What the control API may ask of the daemon: the narrow side of it that commands/run.ts wires
 * to the orchestrator, so that the server imports no orchestrator internals (and tests can
 * give it a daemon of their own). Reads only, in this step; the remote controls come next.
 */
export interface DaemonControl {
  phase(): DaemonPhase;
  /** Why ingestion is paused (a failing output volume), or undefined. */
  pausedReason(): string | undefined;
  queue(): QueueFigures;
  /** The limits the daemon runs with, by option name (`concurrency`, `batchSize`, ...). */
  limits(): Readonly<Record<string, number>>;
  /** When the daemon started (ms). */
  readonly startedAt: number;
  /** The directories whose volumes' free space the status shows. */
  readonly volumes: readonly Volume[];
  /** The state, for the history and the counts. */
  readonly state: StateReader;
  /** The daemon's events, which the event stream (`GET /v1/events`) follows. */
  readonly events: IngestorEvents;
  /**
   * Durable events after `cursor`, oldest first, at most `limit`, and the cursor to go on from
   * (null at the end): what `GET /v1/events` replays to a client whose `Last-Event-ID` is not
   * in its in-memory ring. Optional: a daemon without it replays from memory only.
   *
   * Ids. A live event's id is `<start>-<seq>`: the daemon's start (ms since the epoch) and a
   * counter from 1 in that run, so an id names its run and orders events within it (see
   * api/event-ring.ts). A durable event's id is the state's own and must not have that form
   * (for example `d<row>`). `cursor` is the client's `Last-Event-ID`: a durable id returned
   * here, or a live id of an earlier run (the state answers from what it can place: the
   * events of that run's start or later).
   */
  eventsAfter?(
    cursor: string,
    limit: number,
  ): Promise<{ events: DurableEvent[]; next: string | null }>;
}

/** An event the state keeps (a file's history), as `eventsAfter` returns it. */
export interface DurableEvent {
  /** Unique among durable events; never of the live form `<start>-<seq>`. */
  id: string;
  /** One of the stream's dotted types (`file.ingested`, ...). */
  type: string;
  /** When it happened (ms since the epoch). */
  at: number;
  data: object;
}
