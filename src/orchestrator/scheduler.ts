import { SMALL_FILE_BYTES } from '../ingest/hasher.js';
import { Signal } from '../ingest/signal.js';
import { PriorityLimit } from './priority-limit.js';

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
 * The files waiting for a slot (the ready set, bounded) are taken by `--priority`, then oldest
 * mtime first (PriorityLimit). The bound on waiting files applies per priority: files of a
 * higher priority than those filling the queue always get in, so a backlog of low-priority
 * files never keeps an urgent one out of the ready set.
 */
export class Scheduler {
  /** Files read and hashed at once: `--concurrency` for large files... */
  readonly #limit: PriorityLimit;
  /** ...and, for small ones (read in one synchronous pass), enough to fill two batches. */
  readonly #smallLimit: PriorityLimit;
  readonly #maxQueued: number;
  readonly #inflight = new Set<string>();
  /** Notified each time a file in flight settles. */
  readonly #settled = new Signal();

  constructor(options: SchedulerOptions) {
    this.#limit = new PriorityLimit(options.concurrency);
    this.#smallLimit = new PriorityLimit(Math.max(options.concurrency, options.batchSize * 2));
    this.#maxQueued = Math.max(256, options.batchSize * 4);
  }

  /** Large files read and hashed at once now (`--concurrency`, or what an operator set). */
  get concurrency(): number {
    return this.#limit.concurrency;
  }

  /**
   * Changes the reading concurrency at run time (an operator's `PUT /v1/limits`): queued files
   * start at once when it grows, and running ones finish when it shrinks.
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

  /** Files waiting for a slot by priority (only the priorities that have some). */
  queuedByPriority(): Map<number, number> {
    const counts = new Map(this.#limit.pendingByPriority());
    for (const [p, n] of this.#smallLimit.pendingByPriority())
      counts.set(p, (counts.get(p) ?? 0) + n);
    return counts;
  }

  #queuedAtLeast(priority: number): number {
    return this.#limit.pendingAtLeast(priority) + this.#smallLimit.pendingAtLeast(priority);
  }

  /**
   * Starts `ingest` for the file with this key unless it is in flight already. With `wait`
   * (a scan), resolves when the queue has room again at this priority (backpressure on scans);
   * without (a hint, a due file), starts it only if there is room now and says whether it did.
   */
  async submit(
    key: string,
    priority: number,
    ingest: () => Promise<void>,
    wait = true,
  ): Promise<boolean> {
    if (this.#inflight.has(key)) return true;
    if (!wait && this.#queuedAtLeast(priority) >= this.#maxQueued) return false;
    this.#inflight.add(key);
    void ingest().finally(() => {
      this.#inflight.delete(key);
      this.#settled.notify();
    });
    // A queued file that starts says nothing; a file that settles has left its slot.
    while (this.#queuedAtLeast(priority) >= this.#maxQueued) await this.#settled.wait();
    return true;
  }

  /**
   * Runs `work` (reading and hashing a file of `size` bytes) in a slot of the right pool:
   * higher priorities first, then the oldest `mtimeMs`.
   */
  slot<T>(size: number, priority: number, mtimeMs: number, work: () => Promise<T>): Promise<T> {
    const limit = size <= SMALL_FILE_BYTES ? this.#smallLimit : this.#limit;
    return limit.run(priority, mtimeMs, work);
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
