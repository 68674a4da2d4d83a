import type { ResolvedOptions } from '../options.js';
import { unlinkIfExists } from '../fsutil.js';
import type { Entry, HashedFile, Outcome } from './outcome.js';
import type { Pause } from './pause.js';
import { Signal } from './signal.js';

/**
 * How long a batch may wait to fill while more files are being hashed: a batch's fixed costs
 * (two transactions, a manifest fsync, directory fsyncs) are then shared by many files.
 */
const LINGER_MS = 20;

/** What the group-commit queue needs from the pipeline. */
export interface GroupCommitDeps {
  options: ResolvedOptions;
  /** Decides when a batch may run, and settles what a failed one leaves. */
  pause: Pause;
  /**
   * Ingests one batch (see `ingestBatch`); calls `placed` once its files have their final names
   * and their sources are gone, when the next batch may start.
   */
  ingest(batch: Entry[], placed: () => void): Promise<void>;
}

/**
 * The group-commit queue: every file that is ready while a batch runs joins the next batch, so
 * that a batch costs one transaction for its intents, one fsync per manifest file and one
 * transaction for its commits, whatever its size. A batch that is not full waits up to
 * LINGER_MS while `moreComing()` says files are still being hashed.
 *
 * Two batches overlap: the next one claims and places its files while the one before writes its
 * manifest lines and commits (the fsyncs that make up most of a batch's time). Only one batch at
 * a time claims and places, so the next one's free names see the files of the one before. A
 * batch that fails is settled (by the recovery rules, over every open intent) only once no
 * other batch is running, and while a pause is on or intents wait to be settled, batches run
 * one at a time, as before.
 */
export class GroupCommit {
  readonly #d: GroupCommitDeps;
  #queue: Entry[] = [];
  /** Notified when the queue may have room again (a batch took files, or a stop). */
  readonly #room = new Signal();
  /** Batches running: at most two, one of them still claiming and placing (`#placing`). */
  readonly #running = new Set<Promise<void>>();
  #placing = false;
  /** Files carried to a later batch, waiting for the batches of their twins to end. */
  readonly #carries = new Set<Promise<void>>();
  /** Batches that failed, settled together once no other batch runs. */
  #failed: { batch: Entry[]; error: unknown }[] = [];
  /** Notified when a batch starts: `drain` waits on it while a batch lingers. */
  readonly #started = new Signal();
  #pauseTimer: NodeJS.Timeout | undefined;
  #lingerTimer: NodeJS.Timeout | undefined;
  /** Whether more files are being read and hashed (the batch may wait for them). */
  moreComing: () => boolean = () => false;
  #stopping = false;

  constructor(deps: GroupCommitDeps) {
    this.#d = deps;
  }

  /** Files waiting for a batch. */
  get queued(): number {
    return this.#queue.length;
  }

  /** Claims, moves, records and commits a prepared file, in the next group commit. */
  ingestInNextBatch(item: HashedFile): Promise<Outcome> {
    return new Promise((resolve) => {
      const entry: Entry = {
        item,
        queuedAt: performance.now(),
        settled: false,
        carried: 0,
        resolve: (outcome) => {
          if (entry.settled) return;
          entry.settled = true;
          resolve(outcome);
        },
      };
      this.#enqueue(entry);
      this.kick();
    });
  }

  /**
   * Behind the files of its priority or higher, ahead of lower ones (`--priority`): an urgent
   * file read while a backlog waits for its batches joins the next batch.
   */
  #enqueue(entry: Entry): void {
    const queue = this.#queue;
    const priority = entry.item.candidate.priority ?? 0;
    if (queue.length === 0 || (queue.at(-1)!.item.candidate.priority ?? 0) >= priority) {
      queue.push(entry);
      return;
    }
    const at = queue.findIndex((e) => (e.item.candidate.priority ?? 0) < priority);
    queue.splice(at, 0, entry);
  }

  /** Puts files back at the head of the queue: they join the next batch first. */
  carry(entries: Entry[]): void {
    if (entries.length === 0) return;
    // Their twins' intents belong to batches running now (this one, or the one it overlaps):
    // back in the queue before those commit, they would find the twins busy again at once and
    // use up their carries in a few milliseconds.
    const back: Promise<void> = Promise.all(this.#running).then(() => {
      this.#carries.delete(back);
      this.#queue.unshift(...entries);
      this.kick();
    });
    this.#carries.add(back);
  }

  /**
   * Resolves when the commit queue has room for a file of `priority` (two batches' worth of
   * files of that priority or higher: the queue is in priority order, and an urgent file does
   * not wait behind a backlog of lower ones), or when stopping.
   */
  async whenBatchRoom(priority = 0): Promise<void> {
    const bound = this.#d.options.batchSize * 2;
    const full = () => {
      if (this.#queue.length < bound) return false;
      let ahead = 0;
      for (const entry of this.#queue) {
        if ((entry.item.candidate.priority ?? 0) < priority) break;
        ahead += 1;
        if (ahead >= bound) return true;
      }
      return false;
    };
    while (!this.#stopping && full()) await this.#room.wait();
  }

  /** Resolves when no batch is running and none is queued. */
  async drain(): Promise<void> {
    const { pause } = this.#d;
    for (;;) {
      const busy = [...this.#running, ...this.#carries];
      if (busy.length === 0 && !(this.#hasWork() && !pause.active)) return;
      // Not running but not paused with files queued: the batch lingers; it starts when its
      // linger timer fires, unless a pause begins first.
      await (busy.length > 0
        ? Promise.all(busy)
        : Promise.race([this.#started.wait(), pause.changed()]));
    }
  }

  /** Stops: queued files that cannot be committed now (paused) are left in the input. */
  async stop(): Promise<void> {
    this.#stopping = true;
    clearTimeout(this.#pauseTimer);
    this.kick();
    this.#room.notify();
    await this.drain();
    for (const entry of this.#queue.splice(0)) {
      if (entry.item.tmp !== null) await unlinkIfExists(entry.item.tmp);
      entry.resolve({ kind: 'deferred', reason: 'stopping while ingestion is paused' });
    }
  }

  #hasWork(): boolean {
    return this.#queue.length > 0 || this.#d.pause.unsettled || this.#failed.length > 0;
  }

  /** Starts the next batch if one may run now, or arms the timer that will. */
  kick(): void {
    const { pause } = this.#d;
    if (!this.#hasWork()) return;
    if (this.#failed.length > 0) {
      // Recovery settles every open intent: no other batch may be placing or committing then.
      if (this.#running.size === 0) this.#run(this.#settleFailed());
      return;
    }
    if (this.#placing || this.#running.size >= 2) return;
    if (this.#running.size > 0 && (pause.active || pause.unsettled)) return;
    const wait = pause.remainingMs;
    if (wait > 0) {
      if (this.#pauseTimer === undefined && !this.#stopping) {
        this.#pauseTimer = setTimeout(() => {
          this.#pauseTimer = undefined;
          this.kick();
        }, wait);
      }
      return;
    }
    if (this.#queue.length === 0) {
      this.#run(pause.settleHeld());
      return;
    }
    const { batchSize } = this.#d.options;
    if (this.#queue.length < batchSize && !this.#stopping && this.moreComing()) {
      const linger = this.#queue[0]!.queuedAt + LINGER_MS - performance.now();
      if (linger > 0) {
        this.#lingerTimer ??= setTimeout(() => {
          this.#lingerTimer = undefined;
          this.kick();
        }, linger);
        return;
      }
    }
    clearTimeout(this.#lingerTimer);
    this.#lingerTimer = undefined;
    const batch = this.#queue.splice(0, batchSize);
    this.#room.notify();
    this.#placing = true;
    let placing = true;
    const placed = () => {
      if (!placing) return;
      placing = false;
      this.#placing = false;
      this.kick();
    };
    this.#run(
      pause
        .runBatch(batch, (entries) => this.#d.ingest(entries, placed))
        .catch((error: unknown) => {
          this.#failed.push({ batch, error });
        })
        .finally(placed),
    );
  }

  /** Settles the batches that failed (see `Pause.settleFailed`), all at once. */
  async #settleFailed(): Promise<void> {
    const failed = this.#failed.splice(0);
    await this.#d.pause.settleFailed(
      failed.flatMap((f) => f.batch),
      failed[0]!.error,
    );
  }

  #run(batch: Promise<void>): void {
    const running: Promise<void> = batch.finally(() => {
      this.#running.delete(running);
      this.kick();
    });
    this.#running.add(running);
    this.#started.notify();
  }
}
