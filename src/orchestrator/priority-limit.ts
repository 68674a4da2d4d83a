/** A task waiting for a slot: higher `priority` first, then lower `order` (an mtime), then arrival. */
interface Waiting {
  readonly priority: number;
  readonly order: number;
  readonly seq: number;
  readonly start: () => void;
}

/** Whether `a` goes before `b`. */
function before(a: Waiting, b: Waiting): boolean {
  if (a.priority !== b.priority) return a.priority > b.priority;
  if (a.order !== b.order) return a.order < b.order;
  return a.seq < b.seq;
}

/**
 * Runs at most `concurrency` tasks at once, like p-limit, but the next task to start is the
 * waiting one with the highest priority, then the oldest (the smallest `order`: a file's
 * mtime), then the first to arrive. A task of a higher priority than one running does not wait
 * for a slot to end (a copy of several gigabytes, or small files waiting for their batch): it
 * starts at once, past the bound by at most an eighth of it. A binary heap: a few comparisons per task for the thousand
 * or so files that wait at most (the scheduler bounds the queue), where p-limit's FIFO costs
 * none; docs/DESIGN.md has the measurement.
 */
export class PriorityLimit {
  #concurrency: number;
  #active = 0;
  #seq = 0;
  readonly #heap: Waiting[] = [];
  /** Waiting tasks by priority, for the backpressure and the metrics. */
  readonly #byPriority = new Map<number, number>();
  /** Running tasks by priority: an urgent task may start past the bound over lower ones. */
  readonly #running = new Map<number, number>();

  constructor(concurrency: number) {
    this.#concurrency = concurrency;
  }

  get concurrency(): number {
    return this.#concurrency;
  }

  /** Changes the bound: more tasks start at once when it grows; running ones finish when it shrinks. */
  set concurrency(concurrency: number) {
    this.#concurrency = concurrency;
    this.#startWaiting();
  }

  get activeCount(): number {
    return this.#active;
  }

  get pendingCount(): number {
    return this.#heap.length;
  }

  /** Waiting tasks of `priority` or higher. */
  pendingAtLeast(priority: number): number {
    let n = 0;
    for (const [p, count] of this.#byPriority) if (p >= priority) n += count;
    return n;
  }

  /** Waiting tasks by priority (only priorities that have some). */
  pendingByPriority(): ReadonlyMap<number, number> {
    return this.#byPriority;
  }

  /** Runs `work` when a slot is free and no task that goes before it waits. */
  run<T>(priority: number, order: number, work: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const start = () => {
        this.#active += 1;
        count(this.#running, priority, 1);
        work()
          .then(resolve, reject)
          .finally(() => {
            this.#active -= 1;
            count(this.#running, priority, -1);
            this.#startWaiting();
          });
      };
      if (this.#active < this.#concurrency && this.#heap.length === 0) {
        start();
        return;
      }
      this.#push({ priority, order, seq: (this.#seq += 1), start });
      count(this.#byPriority, priority, 1);
      this.#startWaiting();
    });
  }

  /** Whether the next waiting task may start now. */
  #mayStart(next: Waiting): boolean {
    if (this.#active < this.#concurrency) return true;
    if (this.#active >= this.#concurrency + Math.ceil(this.#concurrency / 8)) return false;
    for (const p of this.#running.keys()) if (p < next.priority) return true;
    return false;
  }

  #startWaiting(): void {
    while (this.#heap.length > 0 && this.#mayStart(this.#heap[0]!)) {
      const next = this.#pop();
      count(this.#byPriority, next.priority, -1);
      next.start();
    }
  }

  #push(item: Waiting): void {
    const heap = this.#heap;
    heap.push(item);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(heap[i]!, heap[parent]!)) break;
      [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
      i = parent;
    }
  }

  #pop(): Waiting {
    const heap = this.#heap;
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let best = i;
        if (l < heap.length && before(heap[l]!, heap[best]!)) best = l;
        if (r < heap.length && before(heap[r]!, heap[best]!)) best = r;
        if (best === i) break;
        [heap[i], heap[best]] = [heap[best]!, heap[i]!];
        i = best;
      }
    }
    return top;
  }
}

/** Adds `by` to a count by priority, deleting counts that reach 0. */
function count(counts: Map<number, number>, priority: number, by: number): void {
  const n = (counts.get(priority) ?? 0) + by;
  if (n === 0) counts.delete(priority);
  else counts.set(priority, n);
}
