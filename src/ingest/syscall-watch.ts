/** Brackets each blocking system call on a source, for a watcher on another thread. */
export interface SyscallFence {
  enter(): void;
  leave(): void;
}

/**
 * Which job a hashing thread is inside a blocking system call for, and since when, in memory
 * the main thread reads: a thread stuck in a synchronous read cannot say so itself (its event
 * loop is blocked with it). Cells: [0] the job's id (0: in no system call), [1] when the call
 * began, on process.hrtime.bigint()'s clock, which every thread of the process shares.
 */
export class SyscallWatch {
  readonly #cells: BigInt64Array;

  constructor(shared: SharedArrayBuffer) {
    this.#cells = new BigInt64Array(shared);
  }

  static memory(): SharedArrayBuffer {
    return new SharedArrayBuffer(2 * BigInt64Array.BYTES_PER_ELEMENT);
  }

  /** The fence of one job (on the hashing thread). */
  fenceFor(job: number): SyscallFence {
    const id = BigInt(job);
    return {
      enter: () => {
        // The time first: a reader that sees the job sees its time.
        Atomics.store(this.#cells, 1, process.hrtime.bigint());
        Atomics.store(this.#cells, 0, id);
      },
      leave: () => {
        Atomics.store(this.#cells, 0, 0n);
      },
    };
  }

  /** The system call the thread is in now, if any, and for how long (ms) (on the main thread). */
  inside(): { job: number; ms: number } | undefined {
    const job = Atomics.load(this.#cells, 0);
    if (job === 0n) return undefined;
    const since = Atomics.load(this.#cells, 1);
    // Left and entered again meanwhile: the next look sees the new call.
    if (Atomics.load(this.#cells, 0) !== job) return undefined;
    return { job: Number(job), ms: Number(process.hrtime.bigint() - since) / 1e6 };
  }
}
