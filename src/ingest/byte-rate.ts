import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Reads allowed ahead of the average: one chunk of a large read. A larger burst would let a
 * short run of small files go faster than the limit for a moment; none would make every 4 KiB
 * file wait its own few microseconds.
 */
export const BURST_BYTES = 1024 * 1024;

const NS = 1_000_000_000n;

/** A wait looks at the rate again this often (an operator may raise or lift it meanwhile). */
const SLICE_MS = 250;

/**
 * `--max-bytes-per-second`: the bytes the daemon reads from files (to hash them, copy them, or
 * check a copy), all threads together, stay under a rate on average. A generic cell rate
 * algorithm over memory the threads share: each read reserves its bytes by moving the
 * "theoretical arrival time" forward by bytes / rate, with one compare-and-swap, and waits
 * until that time less the burst. Nothing is queued and nothing is refilled by a timer; the
 * rate can be changed (or lifted, 0) at run time by any thread that holds the memory.
 */
export class ByteRate {
  /**
   * [0]: the theoretical arrival time, ns on the monotonic clock; [1]: bytes per second, 0 for
   * none; [2]: how many times the rate was changed (waiters give up their wait when it moves).
   */
  readonly #cells: BigInt64Array;

  constructor(shared: SharedArrayBuffer) {
    this.#cells = new BigInt64Array(shared);
  }

  /** Memory for a limit of `bytesPerSecond` (undefined or 0: none), to share with threads. */
  static memory(bytesPerSecond: number | undefined): SharedArrayBuffer {
    const shared = new SharedArrayBuffer(3 * BigInt64Array.BYTES_PER_ELEMENT);
    new ByteRate(shared).bytesPerSecond = bytesPerSecond ?? 0;
    return shared;
  }

  get bytesPerSecond(): number {
    return Number(Atomics.load(this.#cells, 1));
  }

  /**
   * Changes the limit (0: none). What was reserved at the old rate is forgotten: reads waiting
   * go at once (a raised or lifted limit helps now, not after the old rate's debt).
   */
  set bytesPerSecond(rate: number) {
    Atomics.store(this.#cells, 1, BigInt(Math.max(0, Math.floor(rate))));
    Atomics.store(this.#cells, 0, process.hrtime.bigint());
    Atomics.add(this.#cells, 2, 1n);
  }

  /** Reserves `bytes` and returns the milliseconds to wait before reading them (0: at once). */
  reserve(bytes: number): number {
    const rate = Atomics.load(this.#cells, 1);
    if (rate === 0n || bytes <= 0) return 0;
    const cost = (BigInt(bytes) * NS) / rate;
    const burst = (BigInt(BURST_BYTES) * NS) / rate;
    for (;;) {
      const now = process.hrtime.bigint();
      const tat = Atomics.load(this.#cells, 0);
      const next = (tat > now ? tat : now) + cost;
      if (Atomics.compareExchange(this.#cells, 0, tat, next) !== tat) continue;
      const wait = next - burst - now;
      return wait > 0n ? Number(wait) / 1e6 : 0;
    }
  }

  /** Waits, asynchronously, until `bytes` may be read (or the rate is changed). */
  async take(bytes: number): Promise<void> {
    const generation = Atomics.load(this.#cells, 2);
    const until = performance.now() + this.reserve(bytes);
    for (;;) {
      const left = until - performance.now();
      if (left <= 0 || Atomics.load(this.#cells, 2) !== generation) return;
      await sleep(Math.min(left, SLICE_MS));
    }
  }

  /** Waits, blocking this thread (a hashing thread reading small files in one pass). */
  takeSync(bytes: number): void {
    const generation = Atomics.load(this.#cells, 2);
    const until = performance.now() + this.reserve(bytes);
    for (;;) {
      const left = until - performance.now();
      if (left <= 0 || Atomics.load(this.#cells, 2) !== generation) return;
      Atomics.wait(BLOCK, 0, 0, Math.min(left, SLICE_MS));
    }
  }
}

/** Nothing ever wakes it: `Atomics.wait` on it is a sleep. */
const BLOCK = new Int32Array(new SharedArrayBuffer(4));
