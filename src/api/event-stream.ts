import type { ServerResponse } from 'node:http';
import type { FastifyBaseLogger } from 'fastify';
import type { IngestorEventMap } from '../events.js';
import type { DaemonControl } from './control.js';
import { liveDuplicate, liveIngested, liveQuarantined } from './durable-events.js';
import { EventRing, formatEventId } from './event-ring.js';
import type { EventId, StampedEvent } from './event-ring.js';
import { STREAM_LIMITS, StreamClient, frameOf, matches, subjectOf } from './stream-client.js';
import type { StreamFilter } from './stream-client.js';
import { StatsEvents } from './stats-events.js';
import { followDaemonEvents, isReplayed } from './stream-events.js';

type Payload<K extends keyof IngestorEventMap> = IngestorEventMap[K][0];

/** What a reconnecting client is owed, decided at once (synchronously) when it attaches. */
interface ReplayPlan {
  /** Durable events after this cursor, up to `until`, come first from the state. */
  durable?: { after: string; until: string };
  gap?: { id: string; data: object };
  /** Then these, from memory. */
  ring: StampedEvent[];
}

/**
 * The live event stream (`GET /v1/events`). It follows the daemon two ways: the events the
 * state does not keep (progress, a file found complete, a full volume's pause) as they are
 * emitted, and the durable ones (files committed, the journal's failures, holds, an operator's
 * pause) by reading the state after each write (`#follow`), so that a live event and its
 * replay are the same and carry the same place in the state. Each event is stamped with an id
 * (`<start>-<seq>.<cursor>`, see event-ring.ts), kept in a ring for clients that reconnect,
 * and written to every client whose filter takes it. A client that comes back after the ring
 * has moved on, or after a restart, is replayed the durable events it missed from the state.
 *
 * Ingestion never waits for a client: the listeners write to sockets without awaiting, and a
 * client that does not read is dropped once its queue passes STREAM_LIMITS.maxQueuedBytes.
 */
export class EventHub {
  readonly #control: DaemonControl;
  readonly #log: FastifyBaseLogger;
  readonly #ring = new EventRing(STREAM_LIMITS.ringEvents);
  readonly #clients = new Set<StreamClient>();
  readonly #unfollow: () => void;
  readonly #heartbeat: NodeJS.Timeout;
  readonly #poll: NodeJS.Timeout;
  readonly #stats: StatsEvents;
  #seq = 0;
  /** The state's cursor after the last durable event sent; where this run began following. */
  #cursor: string;
  readonly #startCursor: string;
  /** A read of the state under way, and whether another was asked for meanwhile. */
  #following: Promise<void> | undefined;
  /** File events' data by row id, from the daemon's events (see `#keep`), oldest first. */
  readonly #fresh = new Map<number, { data: Record<string, unknown>; at: number }>();
  #again = false;
  #followFailed = false;
  #closed = false;

  /**
   * A hub that follows the daemon from now on (the state's newest event); each `stats` event
   * carries what `figures` gives (the dashboard's overview: live-figures.ts) beside the rates.
   */
  static async open(
    control: DaemonControl,
    log: FastifyBaseLogger,
    figures: () => Promise<Record<string, unknown>>,
  ): Promise<EventHub> {
    return new EventHub(control, log, await control.eventsCursor(), figures);
  }

  private constructor(
    control: DaemonControl,
    log: FastifyBaseLogger,
    cursor: string,
    figures: () => Promise<Record<string, unknown>>,
  ) {
    this.#control = control;
    this.#log = log;
    this.#stats = new StatsEvents(control, log, figures, (data) =>
      this.#publish({ type: 'stats', data }, this.#cursor),
    );
    this.#cursor = cursor;
    this.#startCursor = cursor;
    const unfollow = followDaemonEvents(
      control.events,
      (payload) => this.#publish(payload, this.#cursor),
      () => this.#follow(),
    );
    const committed = (e: Payload<'file:committed'>) => this.#keep(e.id, liveIngested(e));
    const duplicate = (e: Payload<'file:duplicate'>) => this.#keep(e.id, liveDuplicate(e));
    const quarantined = (e: Payload<'file:quarantined'>) => this.#keep(e.id, liveQuarantined(e));
    control.events.on('file:committed', committed);
    control.events.on('file:duplicate', duplicate);
    control.events.on('file:quarantined', quarantined);
    this.#unfollow = () => {
      unfollow();
      control.events.off('file:committed', committed);
      control.events.off('file:duplicate', duplicate);
      control.events.off('file:quarantined', quarantined);
    };
    this.#heartbeat = setInterval(() => {
      for (const client of this.#clients) client.write(': keep-alive\n\n');
    }, STREAM_LIMITS.heartbeatMs);
    this.#heartbeat.unref();
    // Writes no event announces (a retry, a change of limits) are read within this.
    this.#poll = setInterval(() => this.#follow(), STREAM_LIMITS.followMs);
    this.#poll.unref();
  }

  /** Whether the state can place `cursor` (a client's `Last-Event-ID`): false when malformed. */
  async knows(cursor: string): Promise<boolean> {
    try {
      await this.#control.replayAfter(cursor, 0);
      return true;
    } catch (error) {
      if (error instanceof TypeError) return false;
      throw error;
    }
  }

  /** Clients streaming now. */
  get clients(): number {
    return this.#clients.size;
  }

  #publish(payload: { type: string; data: Record<string, unknown> }, cursor: string): void {
    this.#seq += 1;
    const id = formatEventId(this.#control.startedAt, this.#seq, cursor);
    const event: StampedEvent = {
      id,
      seq: this.#seq,
      cursor,
      ...subjectOf(payload.type, payload.data),
      frame: frameOf(id, payload.type, payload.data),
    };
    if (isReplayed(event.type)) this.#ring.push(event);
    for (const client of this.#clients) client.offer(event);
  }

  /** A file event's data, from the daemon's event, until the state's order reaches it. */
  #keep(fileId: number, data: Record<string, unknown>): void {
    this.#fresh.set(fileId, { data, at: Date.now() });
  }

  /** The kept data of a file's event, or else its row's; kept data too old is let go. */
  async #dataOf(fileId: number): Promise<Record<string, unknown>> {
    const kept = this.#fresh.get(fileId);
    if (kept !== undefined) {
      this.#fresh.delete(fileId);
      return kept.data;
    }
    // The daemon's event came after the state's order reached the row (or never: recovery).
    return (await this.#control.fileEventData(fileId)) ?? { id: fileId };
  }

  #forgetStale(): void {
    const before = Date.now() - STREAM_LIMITS.keptMs;
    for (const [id, kept] of this.#fresh) {
      if (kept.at >= before) break;
      this.#fresh.delete(id);
    }
  }

  /**
   * Reads what the state has after `#cursor` and sends it, page by page; asked again while it
   * reads, it reads again. One read at a time, so events go out in the state's order. The
   * read is of places only: a file's data comes from the daemon's event (`#keep`).
   */
  #follow(): void {
    if (this.#closed) return;
    if (this.#following !== undefined) {
      this.#again = true;
      return;
    }
    this.#following = (async () => {
      try {
        let more = true;
        while (more && !this.#closed) {
          this.#again = false;
          const page = await this.#control.followAfter(this.#cursor, STREAM_LIMITS.replayPage);
          for (const event of page.events) {
            const data = event.data ?? (await this.#dataOf(event.fileId));
            this.#cursor = event.cursor;
            this.#publish({ type: event.type, data }, event.cursor);
          }
          this.#forgetStale();
          this.#cursor = page.cursor;
          more = page.more || this.#again;
        }
        this.#followFailed = false;
      } catch (error) {
        // Logged once until a read works again; the next write or the poll tries again.
        if (!this.#followFailed) {
          this.#log.warn(
            { event: 'api-stream-follow-failed', err: error },
            `event stream: could not read the state's events: ${(error as Error).message}`,
          );
        }
        this.#followFailed = true;
      } finally {
        this.#following = undefined;
      }
    })();
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
    if (this.#clients.size === 0) this.#stats.stop();
  }

  /**
   * Streams to `raw` until it closes: the headers, what the client missed since
   * `lastEventId` (see `#plan`), then live events. Resolves once it is live.
   */
  async attach(
    raw: ServerResponse,
    filter: StreamFilter,
    subject: string,
    lastEventId: EventId | undefined,
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
    this.#stats.start();
    // What the ring holds now is taken at once: later events reach the client's backlog.
    const plan = this.#plan(lastEventId);
    try {
      if (plan.durable !== undefined) {
        await this.#replayDurable(client, plan.durable.after, plan.durable.until);
      }
      if (plan.gap !== undefined) {
        await client.replay(frameOf(plan.gap.id, 'stream.gap', plan.gap.data));
      }
      for (const event of plan.ring) if (matches(filter, event)) await client.replay(event.frame);
    } catch (error) {
      // The stream ends: the client comes back with its own last id and is replayed then,
      // rather than being moved past what it was not given.
      this.#log.warn(
        { event: 'api-stream-replay-failed', err: error, subject },
        `event stream: could not read the missed events from the state: ${(error as Error).message}; the client is asked to reconnect`,
      );
      this.#detach(client);
      client.raw.end();
      return;
    }
    const backlog = client.backlog ?? [];
    client.backlog = null;
    const after = plan.ring.at(-1)?.seq ?? 0;
    for (const event of backlog) if (event.seq > after) client.write(event.frame);
  }

  #plan(last: EventId | undefined): ReplayPlan {
    if (last === undefined) return { ring: [] };
    const { live, cursor } = last;
    const start = this.#control.startedAt;
    // This run's, still in memory.
    if (live?.start === start && live.seq >= this.#ring.lostThrough) {
      return { ring: this.#ring.after(live.seq) };
    }
    const ring = this.#ring.after(0);
    // An earlier run's, or one the ring has moved past: the state has the durable events up to
    // where the ring begins.
    if (cursor !== undefined) {
      return {
        durable: { after: cursor, until: this.#ring.lostCursor ?? this.#startCursor },
        ring,
      };
    }
    return {
      ring,
      gap: {
        id: formatEventId(
          start,
          this.#ring.lostThrough,
          this.#ring.lostCursor ?? this.#startCursor,
        ),
        data: {
          reason: `${formatLive(live)} names no place in the state's events (an id of an older version); GET /v1/files has every file's row`,
        },
      },
    };
  }

  /** Durable events after `cursor` up to `until`, at most STREAM_LIMITS.maxReplayed. */
  async #replayDurable(client: StreamClient, cursor: string, until: string): Promise<void> {
    let next = cursor;
    /** The place of the last event given (or passed by the filter). */
    let place = cursor;
    let sent = 0;
    for (let more = true; more && client.open;) {
      const page = await this.#control.replayAfter(next, STREAM_LIMITS.replayPage, until);
      for (const event of page.events) {
        if (sent >= STREAM_LIMITS.maxReplayed) {
          // Its id is the place of the last event given: a client that comes back with it is
          // replayed the next ones.
          const data = {
            reason: `more than ${STREAM_LIMITS.maxReplayed} events were missed; reconnect with this id for the next ones, or see GET /v1/files`,
            lastEventId: place,
          };
          await client.replay(frameOf(place, 'stream.gap', data));
          return;
        }
        if (matches(client.filter, subjectOf(event.type, event.data))) {
          await client.replay(frameOf(event.cursor, event.type, event.data));
        }
        place = event.cursor;
        sent += 1;
      }
      next = page.cursor;
      more = page.more;
    }
  }

  /** Ends every stream (a stop): clients see the end and reconnect to the next daemon. */
  close(): void {
    this.#closed = true;
    this.#unfollow();
    clearInterval(this.#heartbeat);
    clearInterval(this.#poll);
    this.#stats.close();
    for (const client of this.#clients) {
      client.flush();
      client.raw.end();
    }
    this.#clients.clear();
  }
}

function formatLive(live: EventId['live']): string {
  return live === undefined ? 'the id' : `${live.start}-${live.seq}`;
}
