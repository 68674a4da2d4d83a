import pLimit from 'p-limit';
import { SMALL_FILE_BYTES } from '../ingest/hasher.js';
import { Signal } from '../ingest/signal.js';

/** What the scheduler's bounds are computed from (the resolved options of the same names). */
export interface SchedulerOptions {
  /** Large files read and hashed at once (`--concurrency`). */
  concurrency: number;
  /** Files per group commit (`--batch-size`): small files and the queue are sized from it. */
  batchSize: number;
}

/**
 * The worker pools and the backpressure on discovery: a file is in flight from its submission
 * until its outcome is reported, and holds a slot of a pool only while it is read and hashed.
 * Waiting for room and for idleness wakes on files settling; nothing polls.
 *
 * p-limit, not p-queue: p-queue's events would say the moment a queue has room, but it cost
 * twice the scheduling CPU per file here (docs/DESIGN.md).
 */
export class Scheduler {
  /** Files read and hashed at once: `--concurrency` for large files... */
  readonly #limit: ReturnType<typeof pLimit>;
  /** ...and, for small ones (read in one synchronous pass), enough to fill two batches. */
  readonly #smallLimit: ReturnType<typeof pLimit>;
  readonly #maxQueued: number;
  readonly #inflight = new Set<string>();
  /** Notified each time a file in flight settles. */
  readonly #settled = new Signal();

  constructor(options: SchedulerOptions) {
    this.#limit = pLimit(options.concurrency);
    this.#smallLimit = pLimit(Math.max(options.concurrency, options.batchSize * 2));
    this.#maxQueued = Math.max(256, options.batchSize * 4);
  }

  /** Large files read and hashed at once now (`--concurrency`, or what an operator set). */
  get concurrency(): number {
    return this.#limit.concurrency;
  }

  /**
   * Changes the reading concurrency at run time (an operator's `PUT /v1/limits`): p-limit
   * starts queued files at once when it grows, and lets running ones finish when it shrinks.
   * The small files' pool keeps its own bound unless the new figure is larger.
   */
  setConcurrency(concurrency: number, batchSize: number): void {
    this.#limit.concurrency = concurrency;
    this.#smallLimit.concurrency = Math.max(concurrency, batchSize * 2);
  }

  /** Whether the file with this key was submitted and has not settled yet. */
  has(key: string): boolean {
    return this.#inflight.has(key);
  }

  /** Files submitted and not settled: queued, being hashed, or waiting for their commit. */
  get inflight(): number {
    return this.#inflight.size;
  }

  /** Files waiting for a slot to be read and hashed. */
  get queued(): number {
    return this.#limit.pendingCount + this.#smallLimit.pendingCount;
  }

  /** Files being read and hashed now (a batch that is not full may wait for them). */
  get hashing(): number {
    return this.#limit.activeCount + this.#smallLimit.activeCount;
  }

  /**
   * Starts `ingest` for the file with this key unless it is in flight already; resolves when
   * the queue has room (backpressure on scans).
   */
  async submit(key: string, ingest: () => Promise<void>): Promise<void> {
    if (this.#inflight.has(key)) return;
    this.#inflight.add(key);
    void ingest().finally(() => {
      this.#inflight.delete(key);
      this.#settled.notify();
    });
    // p-limit says nothing when a queued file starts; a file that settles has left its slot.
    while (this.queued >= this.#maxQueued) await this.#settled.wait();
  }

  /** Runs `work` (reading and hashing a file of `size` bytes) in a slot of the right pool. */
  slot<T>(size: number, work: () => Promise<T>): Promise<T> {
    const limit = size <= SMALL_FILE_BYTES ? this.#smallLimit : this.#limit;
    return limit(work);
  }

  /** Calls `listener` once, when the next file settles; returns what removes it before then. */
  onSettled(listener: () => void): () => void {
    return this.#settled.onNext(listener);
  }

  /** Resolves when every submitted file has settled. */
  async whenIdle(): Promise<void> {
    // Files queued for a slot or in one are in flight too: none left means none anywhere.
    while (this.#inflight.size > 0) await this.#settled.wait();
  }
}
