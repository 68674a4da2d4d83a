/**
 * Live event ids: `<start>-<seq>`, the daemon's start (ms since the epoch) and a counter from 1
 * within that run. The start makes an id from an earlier run recognisable (its events are not
 * in this run's memory); the counter orders events within a run and says how many a client
 * missed.
 */
export interface LiveId {
  start: number;
  seq: number;
}

export function formatLiveId(start: number, seq: number): string {
  return `${start}-${seq}`;
}

/** A live id's parts, or undefined for anything else (a durable id, or garbage). */
export function parseLiveId(id: string): LiveId | undefined {
  const match = /^(\d{1,15})-(\d{1,15})$/.exec(id);
  if (match === null) return undefined;
  return { start: Number(match[1]), seq: Number(match[2]) };
}

/** An event with its id, as it is written to clients. */
export interface StampedEvent {
  id: string;
  seq: number;
  type: string;
  at: number;
  data: Record<string, unknown>;
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
  #lostThrough = 0;

  constructor(readonly capacity: number) {
    this.#items = new Array<StampedEvent | undefined>(capacity);
  }

  push(event: StampedEvent): void {
    const evicted = this.#items[this.#next];
    if (evicted !== undefined) this.#lostThrough = evicted.seq;
    this.#items[this.#next] = event;
    this.#next = (this.#next + 1) % this.capacity;
    this.#size = Math.min(this.capacity, this.#size + 1);
  }

  /**
   * The counter of the newest event no longer held (0: none lost yet). A client whose last
   * event is at or after it gets everything it missed from the ring.
   */
  get lostThrough(): number {
    return this.#lostThrough;
  }

  /** The oldest event held, if any. */
  oldest(): StampedEvent | undefined {
    if (this.#size === 0) return undefined;
    return this.#items[(this.#next - this.#size + this.capacity) % this.capacity];
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
