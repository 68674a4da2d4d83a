import { once } from 'node:events';
import type { ServerResponse } from 'node:http';
import type { FastifyBaseLogger } from 'fastify';
import type { DaemonControl, ReplayedEvent } from './control.js';
import { EventRing, formatLiveId, parseLiveId } from './event-ring.js';
import type { StampedEvent } from './event-ring.js';
import type { StreamPayload } from './stream-events.js';
import { followDaemonEvents, isReplayed } from './stream-events.js';

/** The event stream's figures (README, "The event stream"). */
export const STREAM_LIMITS = {
  /** Events kept in memory for clients that reconnect with `Last-Event-ID`. */
  ringEvents: 10_000,
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
} as const;

/** Which events a client asked for: `?types=` and `?file=`. */
export interface StreamFilter {
  /** undefined: every type. */
  types: ReadonlySet<string> | undefined;
  /** A row id (digits only) or a part of the source path; undefined: every file. */
  file: string | undefined;
}

/**
 * Events about one file carry its `source` (and, once it has a row, its `id`). A number is a
 * row id, never a part of a path: "2" would otherwise match every path with a 2 in it (`/2026`
 * with its slash is a part of a path).
 */
function matchesFile(event: { type: string; data: Record<string, unknown> }, file: string) {
  const { source, id } = event.data;
  // Events of the daemon as a whole (pauses, scans, stats) are not about any file: kept.
  if (source === undefined) return true;
  if (/^\d+$/.test(file)) return id === Number(file);
  return typeof source === 'string' && source.includes(file);
}

function matches(filter: StreamFilter, event: { type: string; data: Record<string, unknown> }) {
  if (event.type === 'stream.gap') return true;
  if (filter.types !== undefined && !filter.types.has(event.type)) return false;
  return filter.file === undefined || matchesFile(event, filter.file);
}

function frameOf(id: string, type: string, data: object): string {
  return `id: ${id}\nevent: ${type}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** One streaming client: its socket, its filter, and events held while it is replayed to. */
class StreamClient {
  /** Live events that came while the replay was written; null once it is live. */
  backlog: StampedEvent[] | null = [];
  #backlogBytes = 0;

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
   * Writes without waiting: the event path never awaits a client. One that lets more than
   * STREAM_LIMITS.maxQueuedBytes pile up on its socket is dropped.
   */
  write(frame: string): void {
    if (!this.open) return;
    this.raw.write(frame);
    if (this.raw.writableLength > STREAM_LIMITS.maxQueuedBytes) {
      this.drop(this, this.raw.writableLength);
    }
  }

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

/**
 * The live event stream (`GET /v1/events`): follows the daemon's events, stamps each with an id
 * (`<start>-<seq>`, see event-ring.ts), keeps the recent ones in a ring for clients that
 * reconnect, and writes each to every client whose filter takes it. Ingestion never waits for
 * a client: the listeners write to sockets without awaiting, and a client that does not read
 * is dropped once its queue passes STREAM_LIMITS.maxQueuedBytes.
 */
export class EventHub {
  readonly #control: DaemonControl;
  readonly #log: FastifyBaseLogger;
  readonly #ring = new EventRing(STREAM_LIMITS.ringEvents);
  readonly #clients = new Set<StreamClient>();
  readonly #unfollow: () => void;
  readonly #heartbeat: NodeJS.Timeout;
  #stats: NodeJS.Timeout | undefined;
  #seq = 0;
  /** Files and bytes ingested so far, and at the last stats event: the rates' source. */
  #ingested = { files: 0, bytes: 0 };
  #lastStats = { at: 0, files: 0, bytes: 0 };

  constructor(control: DaemonControl, log: FastifyBaseLogger) {
    this.#control = control;
    this.#log = log;
    this.#unfollow = followDaemonEvents(control.events, (payload) => this.#publish(payload));
    const count = (e: { bytes: number }) => {
      this.#ingested.files += 1;
      this.#ingested.bytes += e.bytes;
    };
    control.events.on('file:committed', count);
    const unfollow = this.#unfollow;
    this.#unfollow = () => {
      unfollow();
      control.events.off('file:committed', count);
    };
    this.#heartbeat = setInterval(() => {
      for (const client of this.#clients) client.write(': keep-alive\n\n');
    }, STREAM_LIMITS.heartbeatMs);
    this.#heartbeat.unref();
  }

  /** Clients streaming now. */
  get clients(): number {
    return this.#clients.size;
  }

  #stamp(payload: StreamPayload): StampedEvent {
    this.#seq += 1;
    const id = formatLiveId(this.#control.startedAt, this.#seq);
    return {
      id,
      seq: this.#seq,
      at: Date.now(),
      ...payload,
      frame: frameOf(id, payload.type, payload.data),
    };
  }

  #publish(payload: StreamPayload): void {
    const event = this.#stamp(payload);
    if (isReplayed(event.type)) this.#ring.push(event);
    for (const client of this.#clients) client.offer(event);
  }

  #publishStats(): void {
    const now = Date.now();
    const seconds = Math.max(0.001, (now - this.#lastStats.at) / 1000);
    const { files, bytes } = this.#ingested;
    const queue = this.#control.queue();
    const paused = this.#control.pausedReason();
    this.#publish({
      type: 'stats',
      data: {
        filesPerSecond: Math.round(((files - this.#lastStats.files) / seconds) * 1000) / 1000,
        bytesPerSecond: Math.round((bytes - this.#lastStats.bytes) / seconds),
        queued: queue.queued,
        inflight: queue.inflight,
        pending: queue.pending,
        paused: paused !== undefined,
        pausedReason: paused ?? null,
      },
    });
    this.#lastStats = { at: now, files, bytes };
  }

  #drop = (client: StreamClient, queued: number): void => {
    this.#log.warn(
      { event: 'api-stream-dropped', subject: client.subject, queuedBytes: queued },
      `event stream: dropped a client that does not read (${queued} bytes queued) by ${client.subject}`,
    );
    this.#detach(client);
    client.raw.destroy();
  };

  #detach(client: StreamClient): void {
    if (!this.#clients.delete(client)) return;
    if (this.#clients.size === 0 && this.#stats !== undefined) {
      clearInterval(this.#stats);
      this.#stats = undefined;
    }
  }

  /**
   * Streams to `raw` until it closes: the headers, what the client missed since
   * `lastEventId` (see `#replay`), then live events. Resolves once it is live.
   */
  async attach(
    raw: ServerResponse,
    filter: StreamFilter,
    subject: string,
    lastEventId: string | undefined,
  ): Promise<void> {
    raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      'x-accel-buffering': 'no',
    });
    raw.write(`retry: 2000\n\n`);
    const client = new StreamClient(raw, filter, subject, this.#drop);
    this.#clients.add(client);
    raw.on('close', () => this.#detach(client));
    if (this.#stats === undefined) {
      this.#lastStats = { at: Date.now(), ...this.#ingested };
      this.#stats = setInterval(() => this.#publishStats(), STREAM_LIMITS.statsMs);
      this.#stats.unref();
    }
    // What the ring holds now is taken at once: later events reach the client's backlog.
    const plan = this.#plan(lastEventId);
    try {
      if (plan.durableFrom !== undefined)
        await this.#replayDurable(client, plan.durableFrom, plan.cut);
      if (plan.gap !== undefined) {
        await client.replay(frameOf(plan.gap.id, 'stream.gap', plan.gap.data));
      }
      for (const event of plan.ring) if (matches(filter, event)) await client.replay(event.frame);
    } catch (error) {
      this.#log.warn({ err: error, subject }, 'event stream: replay failed');
      await client.replay(
        frameOf(formatLiveId(this.#control.startedAt, 0), 'stream.gap', {
          reason: `the events before this run could not be read: ${(error as Error).message}`,
        }),
      );
    }
    const backlog = client.backlog ?? [];
    client.backlog = null;
    const after = plan.ring.at(-1)?.seq ?? 0;
    for (const event of backlog) if (event.seq > after) client.write(event.frame);
  }

  /** What a client that last saw `lastEventId` is owed, decided at once (synchronously). */
  #plan(lastEventId: string | undefined): {
    ring: StampedEvent[];
    gap?: { id: string; data: object };
    durableFrom?: string;
    cut: number;
  } {
    const start = this.#control.startedAt;
    const oldest = this.#ring.oldest();
    // Durable events before `cut` happened before the ring's first: the ring has the rest.
    const cut = this.#ring.lostThrough === 0 ? start : (oldest?.at ?? Date.now());
    if (lastEventId === undefined) return { ring: [], cut };
    const live = parseLiveId(lastEventId);
    const gapId = formatLiveId(start, this.#ring.lostThrough);
    if (live !== undefined && live.start === start) {
      if (live.seq >= this.#ring.lostThrough) return { ring: this.#ring.after(live.seq), cut };
      return {
        ring: this.#ring.after(0),
        gap: {
          id: gapId,
          data: {
            reason: `events after ${lastEventId} are older than the ${STREAM_LIMITS.ringEvents} kept in memory; GET /v1/files has every file's row`,
            lastEventId,
          },
        },
        cut,
      };
    }
    if (this.#control.replayAfter !== undefined && live === undefined) {
      return { ring: this.#ring.after(0), durableFrom: lastEventId, cut };
    }
    return {
      ring: this.#ring.after(0),
      gap: {
        id: gapId,
        data: {
          reason: `the daemon started at ${new Date(start).toISOString()}, after ${lastEventId}; the events before that are not kept in memory`,
          lastEventId,
        },
      },
      cut,
    };
  }

  /** Durable events after `cursor` that happened before `cut`, at most STREAM_LIMITS.maxReplayed. */
  async #replayDurable(client: StreamClient, cursor: string, cut: number): Promise<void> {
    let next: string | null = cursor;
    let sent = 0;
    while (next !== null && client.open) {
      const page: { events: ReplayedEvent[]; next: string | null } = await this.#control
        .replayAfter!(next, STREAM_LIMITS.replayPage);
      for (const event of page.events) {
        if (event.at >= cut) return;
        if (sent >= STREAM_LIMITS.maxReplayed) {
          const data = {
            reason: `more than ${STREAM_LIMITS.maxReplayed} events were missed; GET /v1/files has every file's row`,
            lastEventId: event.id,
          };
          await client.replay(frameOf(event.id, 'stream.gap', data));
          return;
        }
        if (
          matches(client.filter, { type: event.type, data: event.data as Record<string, unknown> })
        ) {
          await client.replay(frameOf(event.id, event.type, event.data));
        }
        sent += 1;
      }
      next = page.next;
    }
  }

  /** Ends every stream (a stop): clients see the end and reconnect to the next daemon. */
  close(): void {
    this.#unfollow();
    clearInterval(this.#heartbeat);
    if (this.#stats !== undefined) clearInterval(this.#stats);
    for (const client of this.#clients) client.raw.end();
    this.#clients.clear();
  }
}
