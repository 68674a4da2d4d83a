import { once } from 'node:events';
import type { ServerResponse } from 'node:http';
import type { EventSubject, StampedEvent } from './event-ring.js';

/** The event stream's figures (README, "The event stream"). */
export const STREAM_LIMITS = {
  /**
   * Events kept in memory for clients that reconnect with `Last-Event-ID`. A client further
   * behind is replayed the durable events from the state; only progress and the like are lost.
   */
  ringEvents: 2_000,
  /** A client with more than this queued on its socket does not read: it is dropped. */
  maxQueuedBytes: 1024 * 1024,
  /** A comment line this often keeps proxies and idle timers from closing a quiet stream. */
  heartbeatMs: 15_000,
  /** One `stats` event this often while a client streams. */
  statsMs: 1_000,
  /** Durable events replayed to one reconnecting client, at most (then a `stream.gap`). */
  maxReplayed: 10_000,
  /** Durable events asked of the state at once. */
  replayPage: 500,
  /** The state is read this often for durable events no daemon event announced. */
  followMs: 1_000,
  /** A file event's data is kept this long for the state's order to reach it. */
  keptMs: 60_000,
} as const;

/** Which events a client asked for: `?types=` and `?file=`. */
export interface StreamFilter {
  /** undefined: every type. */
  types: ReadonlySet<string> | undefined;
  /** A row id (digits only) or a part of the source path; undefined: every file. */
  file: string | undefined;
}

/** What a filter looks at in an event's data: `source` and `id` (see matchesFile). */
export function subjectOf(type: string, data: Record<string, unknown>): EventSubject {
  const { source, id } = data;
  return {
    type,
    source: typeof source === 'string' ? source : undefined,
    fileId: typeof id === 'number' ? id : undefined,
  };
}

/**
 * Events about one file carry its `source` (and, once it has a row, its `id`). A number is a
 * row id, never a part of a path: "2" would otherwise match every path with a 2 in it (`/2026`
 * with its slash is a part of a path).
 */
function matchesFile(event: EventSubject, file: string) {
  // Events of the daemon as a whole (pauses, scans, stats) are not about any file: kept.
  if (event.source === undefined) return true;
  if (/^\d+$/.test(file)) return event.fileId === Number(file);
  return event.source.includes(file);
}

export function matches(filter: StreamFilter, event: EventSubject) {
  if (event.type === 'stream.gap') return true;
  if (filter.types !== undefined && !filter.types.has(event.type)) return false;
  return filter.file === undefined || matchesFile(event, filter.file);
}

export function frameOf(id: string, type: string, data: object): string {
  return `id: ${id}\nevent: ${type}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** One streaming client: its socket, its filter, and events held while it is replayed to. */
export class StreamClient {
  /** Live events that came while the replay was written; null once it is live. */
  backlog: StampedEvent[] | null = [];
  #backlogBytes = 0;
  /** Frames written in this turn of the loop, sent together at its end. */
  #pending = '';

  constructor(
    readonly raw: ServerResponse,
    readonly filter: StreamFilter,
    readonly subject: string,
    readonly drop: (client: StreamClient, queued: number) => void,
  ) {}

  get open(): boolean {
    return !this.raw.destroyed && !this.raw.writableEnded;
  }

  /**
   * Writes without waiting: the event path never awaits a client. The frames of one turn of
   * the loop (a batch's files) are joined and leave as one write: one chunk, one TLS record,
   * one system call, not one each. A client that lets more than STREAM_LIMITS.maxQueuedBytes
   * pile up on its socket is dropped.
   */
  write(frame: string): void {
    if (!this.open) return;
    if (this.#pending === '') process.nextTick(this.flush);
    this.#pending += frame;
  }

  /** Sends the frames of this turn now (at the latest at its end). */
  readonly flush = (): void => {
    const text = this.#pending;
    this.#pending = '';
    if (!this.open || text === '') return;
    this.raw.write(text);
    if (this.raw.writableLength > STREAM_LIMITS.maxQueuedBytes) {
      this.drop(this, this.raw.writableLength);
    }
  };

  offer(event: StampedEvent): void {
    if (!matches(this.filter, event)) return;
    if (this.backlog === null) {
      this.write(event.frame);
      return;
    }
    this.backlog.push(event);
    this.#backlogBytes += event.frame.length;
    if (this.#backlogBytes > STREAM_LIMITS.maxQueuedBytes) this.drop(this, this.#backlogBytes);
  }

  /** A replayed frame: the client's own path, which may wait for its socket to drain. */
  async replay(frame: string): Promise<void> {
    if (!this.open) return;
    if (!this.raw.write(frame))
      await Promise.race([once(this.raw, 'drain'), once(this.raw, 'close')]);
  }
}
