/**
 * Event ids: `<start>-<seq>.<cursor>`. `start` is the daemon's start (ms since the epoch) and
 * `seq` a counter from 1 within that run: together they place an event in this run's memory
 * (the ring below) and say how many a client missed. `cursor` is the state's place in the
 * durable events (`StateStore.eventsAfter`) when the event was sent: every durable event up to
 * it had been sent before. A client that comes back after the ring has moved on, or to a daemon
 * started since, is replayed the durable events after its cursor from the state.
 *
 * A bare cursor (no `<start>-<seq>.`) is also an id: the one a replayed durable event carries.
 */
export interface EventId {
  /** The run and the counter, for a live event; undefined for a replayed durable one. */
  live: { start: number; seq: number } | undefined;
  /** The state's cursor; undefined only for the ids of older versions (`<start>-<seq>`). */
  cursor: string | undefined;
}

/** The characters of a state's cursor (see `StateStore.eventsAfter`). */
const CURSOR = '[A-Za-z0-9_-]{1,40}';
const LIVE_ID = new RegExp(`^(\\d{1,15})-(\\d{1,15})(?:\\.(${CURSOR}))?$`);
const CURSOR_ID = new RegExp(`^${CURSOR}$`);

export function formatEventId(start: number, seq: number, cursor: string): string {
  return `${start}-${seq}.${cursor}`;
}

/** An id's parts, or undefined for anything that is not an id this stream sends. */
export function parseEventId(id: string): EventId | undefined {
  const live = LIVE_ID.exec(id);
  if (live !== null) {
    return { live: { start: Number(live[1]), seq: Number(live[2]) }, cursor: live[3] };
  }
  return CURSOR_ID.test(id) ? { live: undefined, cursor: id } : undefined;
}

/** What a filter (`?file=`) looks at: the file an event is about, if any. */
export interface EventSubject {
  type: string;
  /** The file's source path; undefined for events of the daemon as a whole. */
  source: string | undefined;
  /** The file's row id, once it has one. */
  fileId: number | undefined;
}

/**
 * An event with its id, as it is written to clients: its frame and what filters look at, not
 * its data (the ring holds thousands; their objects would weigh on a small heap).
 */
export interface StampedEvent extends EventSubject {
  id: string;
  seq: number;
  /** The state's cursor when it was sent (see above). */
  cursor: string;
  /** Its `id: ... event: ... data: ...` frame, made once for every client. */
  frame: string;
}

/**
 * The last `capacity` events of this run, for clients that reconnect: a fixed array used as a
 * circle, so that memory stays flat however long the daemon runs.
 */
export class EventRing {
  readonly #items: (StampedEvent | undefined)[];
  #next = 0;
  #size = 0;
  #lost: StampedEvent | undefined;

  constructor(readonly capacity: number) {
    this.#items = new Array<StampedEvent | undefined>(capacity);
  }

  push(event: StampedEvent): void {
    const evicted = this.#items[this.#next];
    if (evicted !== undefined) this.#lost = evicted;
    this.#items[this.#next] = event;
    this.#next = (this.#next + 1) % this.capacity;
    this.#size = Math.min(this.capacity, this.#size + 1);
  }

  /**
   * The counter of the newest event no longer held (0: none lost yet). A client whose last
   * event is at or after it gets everything it missed from the ring.
   */
  get lostThrough(): number {
    return this.#lost?.seq ?? 0;
  }

  /** The cursor of the newest event no longer held: durable events up to it are not here. */
  get lostCursor(): string | undefined {
    return this.#lost?.cursor;
  }

  /** Events with a counter above `seq`, oldest first. */
  after(seq: number): StampedEvent[] {
    const out: StampedEvent[] = [];
    for (let i = 0; i < this.#size; i += 1) {
      const event = this.#items[(this.#next - this.#size + i + this.capacity) % this.capacity]!;
      if (event.seq > seq) out.push(event);
    }
    return out;
  }
}
