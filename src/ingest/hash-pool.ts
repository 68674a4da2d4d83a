import fs from 'node:fs';
import { Worker } from 'node:worker_threads';
import { IngestError } from '../errors.js';
import type { FileIdentity, FsPath } from '../interfaces.js';
import { displayPath, toBytes } from '../paths.js';
import type { ReadResult } from './hasher.js';
import { ByteRate } from './byte-rate.js';
import type { FromHashThread, HashRequest, HashThreadData, ToHashThread } from './hash-messages.js';
import type { CrashInjector } from '../crash.js';
import { deserializeError } from '../thread-errors.js';
import { workerScript } from '../worker-script.js';
import { SMALL_FILE_BYTES, cancelledError, readAndHash } from './hasher.js';
import { readStalledError } from './read-stall.js';
import type { StallWatch } from './read-stall.js';
import type { StalledVolumes } from './stalled-volumes.js';
import { SyscallWatch } from './syscall-watch.js';

/** `--read-stall-timeout`: how long a source operation may take, and the per-volume gate. */
export interface ReadStall {
  /** In force now (an operator may change it: `PUT /v1/limits`). */
  readonly ms: number;
  /** The same, in memory the hashing threads read at each source operation (see LiveLimits). */
  readonly cell?: SharedArrayBuffer;
  readonly volumes: StalledVolumes;
}

/** Reads and hashes files (copying them across filesystems); see readAndHash. */
export interface Hasher {
  hash(
    path: FsPath,
    expected: FileIdentity,
    copyTo?: FsPath,
    /** Bytes done so far of a large read or a copy, a few times a second at most. */
    onProgress?: (bytesDone: number) => void,
    lease?: boolean,
    /** Aborted: a copy stops at its next chunk, removes what it wrote, and fails CANCELLED. */
    signal?: AbortSignal,
  ): Promise<ReadResult>;
  close(): Promise<void>;
}

/**
 * On the calling thread (tests, and where worker threads are not wanted). The crash point
 * during a copy is reached here as a hashing thread reaches it in hash-worker.ts, and a cancel
 * stops the copy at its next chunk as there. With `stall`, reads give up as a hashing
 * thread's asynchronous reads do, behind the same per-volume gate.
 */
export function inThreadHasher(
  crash: CrashInjector = () => {},
  rate?: ByteRate,
  stall?: ReadStall,
): Hasher {
  let tokens = 0;
  const watch = (path: FsPath, device: number): StallWatch | undefined => {
    if (stall === undefined) return undefined;
    return {
      ms: stall.ms,
      stuck: (since, returned) => {
        const token = (tokens += 1);
        stall.volumes.stuck(token, path, device, since);
        void returned.then(() => stall.volumes.returned(token));
      },
    };
  };
  return {
    hash: async (path, expected, copyTo, onProgress, lease, signal) => {
      stall?.volumes.check(path, expected.device);
      return readAndHash(
        path,
        expected,
        copyTo,
        (bytesDone) => {
          if (copyTo !== undefined) crash('during-copy');
          onProgress?.(bytesDone);
          if (signal?.aborted === true) throw cancelledError(path);
        },
        lease,
        rate,
        watch(path, expected.device),
      );
    },
    close: async () => {},
  };
}

interface Job {
  resolve(r: ReadResult): void;
  reject(e: Error): void;
  onProgress: ((bytesDone: number) => void) | undefined;
  /** The file, for the stall gate. */
  path: FsPath;
  device: number;
}

/** One hashing thread. */
interface Thread {
  worker: Worker;
  /** Where its synchronous reads are seen from here. */
  syscalls: SyscallWatch;
  /** Its abandoned reads that have not returned (their jobs' ids): cleared when it ends. */
  stuck: Set<number>;
}

interface Slot {
  /** Started at the first job that needs it (see `hash`). */
  thread: Thread | undefined;
  pending: Map<number, Job>;
  /** Requests not posted yet: they go as one message, once the current turn is over. */
  outbox: HashRequest[];
}

/**
 * Worker threads that read and hash, so that hashing uses every core and the main thread stays
 * free for discovery and group commits. One thread starts with the pool; the others start when
 * a large read (or a copy) arrives while every started thread is busy, and jobs go to the least
 * busy started thread. Small files are hashed in batches, synchronously, and one thread keeps up
 * with them at a third of its time (docs/DESIGN.md): a second isolate would add about 12 MB of
 * memory and nothing else. A thread that dies
 * (out of memory, a crash in native code) fails its jobs as "try again" (not the files' fault:
 * they go back to waiting) and is replaced, so that no later job waits on a dead thread.
 *
 * With `--read-stall-timeout` (see ReadStall): an asynchronous read gives up on its own on its
 * thread. A synchronous one cannot, as its thread is blocked with it: a watchdog here sees it
 * in the thread's SyscallWatch, fails its job INGEST_ERR_READ_STALLED and the thread's other
 * jobs INGEST_ERR_HASHER_STOPPED, puts a new thread in its slot and ends the stuck one (which
 * happens when its system call returns). Either way the volume is held back (StalledVolumes)
 * until the stuck call returns.
 */
export class WorkerHasher implements Hasher {
  readonly #slots: Slot[] = [];
  readonly #script: URL;
  readonly #rate: SharedArrayBuffer;
  readonly #stall: ReadStall | undefined;
  #watchdog: NodeJS.Timeout | undefined;
  #next = 0;
  #closing = false;

  private constructor(
    script: URL,
    threads: number,
    rate: SharedArrayBuffer,
    stall: ReadStall | undefined,
  ) {
    this.#script = script;
    this.#rate = rate;
    this.#stall = stall;
    for (let i = 0; i < threads; i += 1) {
      this.#slots.push({ thread: undefined, pending: new Map(), outbox: [] });
    }
    this.#start(this.#slots[0]!);
  }

  /** The live threads (diagnostics and tests). */
  get threads(): readonly Worker[] {
    return this.#slots.flatMap((s) => (s.thread === undefined ? [] : [s.thread.worker]));
  }

  /**
   * undefined when the compiled worker script is not available. `rate`: the memory of a
   * ByteRate every thread reads under (`--max-bytes-per-second`); `stall`:
   * `--read-stall-timeout` (none: reads are not watched).
   */
  static create(
    threads: number,
    options: { rate?: SharedArrayBuffer; stall?: ReadStall } = {},
  ): WorkerHasher | undefined {
    const script = workerScript('ingest/hash-worker.js');
    return script === undefined
      ? undefined
      : new WorkerHasher(
          script,
          threads,
          options.rate ?? ByteRate.memory(undefined),
          options.stall,
        );
  }

  /** Starts a thread for `slot`; its replies always resolve `slot`'s own jobs. */
  #start(slot: Slot): Thread {
    const syscalls = SyscallWatch.memory();
    const data: HashThreadData = {
      rate: this.#rate,
      stall: this.#stall === undefined ? null : (this.#stall.cell ?? stallCell(this.#stall.ms)),
      syscalls,
    };
    // A hashing thread holds a few buffers and promises at a time: bounded heaps keep the
    // process's memory flat however many files pass through (V8 collects lazily otherwise).
    const worker = new Worker(this.#script, {
      workerData: data,
      resourceLimits: { maxOldGenerationSizeMb: 32, maxYoungGenerationSizeMb: 8 },
    });
    const thread: Thread = { worker, syscalls: new SyscallWatch(syscalls), stuck: new Set() };
    slot.thread = thread;
    worker.on('message', (message: FromHashThread) => {
      if (!Array.isArray(message)) {
        if ('progress' in message) {
          slot.pending.get(message.progress)?.onProgress?.(message.bytesDone);
        } else if ('stuck' in message) {
          const job = slot.pending.get(message.stuck);
          if (job === undefined) return;
          thread.stuck.add(message.stuck);
          this.#stall?.volumes.stuck(message.stuck, job.path, job.device, message.since);
        } else {
          thread.stuck.delete(message.returned);
          this.#stall?.volumes.returned(message.returned);
        }
        return;
      }
      for (const m of message) {
        const job = slot.pending.get(m.id);
        if (job === undefined) {
          // Nobody waits for it any more: a descriptor kept for its lease is closed here.
          if (m.ok && m.result.leaseFd !== null) fs.closeSync(m.result.leaseFd);
          continue;
        }
        slot.pending.delete(m.id);
        if (m.ok) job.resolve(m.result);
        else job.reject(deserializeError(m.error));
      }
      if (slot.pending.size === 0 && slot.thread === thread) worker.unref();
    });
    const died = (error: unknown) => {
      if (slot.thread !== thread || this.#closing) return;
      this.#replace(
        slot,
        new IngestError(
          'INGEST_ERR_HASHER_STOPPED',
          `hashing thread stopped (${error instanceof Error ? error.message : String(error)}); will try again`,
          { cause: error },
        ),
      );
    };
    worker.once('error', died);
    worker.once('exit', (code) => {
      // Its stuck system calls have returned, or it could not have ended.
      for (const token of thread.stuck) this.#stall?.volumes.returned(token);
      thread.stuck.clear();
      died(new Error(`exit code ${code}`));
    });
    worker.unref();
    return thread;
  }

  /** Fails `slot`'s jobs with `failure` and starts a new thread in it. */
  #replace(slot: Slot, failure: Error): void {
    for (const job of slot.pending.values()) job.reject(failure);
    slot.pending.clear();
    slot.outbox = [];
    this.#start(slot);
  }

  /** The least busy started thread, or a new one when it is busy and the job is large. */
  #slotFor(expected: FileIdentity, copy: boolean): Slot {
    const started = this.#slots.filter((s) => s.thread !== undefined);
    const slot = started.reduce((a, b) => (b.pending.size < a.pending.size ? b : a));
    const large = copy || expected.size > SMALL_FILE_BYTES;
    const idle = this.#slots.find((s) => s.thread === undefined);
    if (!large || slot.pending.size === 0 || idle === undefined) return slot;
    this.#start(idle);
    return idle;
  }

  hash(
    path: FsPath,
    expected: FileIdentity,
    copyTo?: FsPath,
    onProgress?: (bytesDone: number) => void,
    lease = false,
    signal?: AbortSignal,
  ): Promise<ReadResult> {
    try {
      // A volume whose reads hang gets no new one: the file waits.
      this.#stall?.volumes.check(path, expected.device);
    } catch (error) {
      return Promise.reject(error as Error);
    }
    const slot = this.#slotFor(expected, copyTo !== undefined);
    const { worker } = slot.thread!;
    const id = (this.#next += 1);
    // Only a copy can be stopped part way; a read without one ends soon, and the caller
    // drops its result.
    if (copyTo !== undefined && signal !== undefined) {
      const cancel = () => {
        if (slot.thread?.worker === worker && slot.pending.has(id)) {
          worker.postMessage({ cancel: id } satisfies ToHashThread);
        }
      };
      signal.addEventListener('abort', cancel, { once: true });
    }
    return new Promise<ReadResult>((resolve, reject) => {
      slot.pending.set(id, { resolve, reject, onProgress, path, device: expected.device });
      worker.ref();
      this.#watch();
      if (slot.outbox.length === 0) setImmediate(() => this.#flush(slot));
      slot.outbox.push({
        id,
        path: toBytes(path),
        expected,
        copyTo: copyTo === undefined ? null : toBytes(copyTo),
        lease,
      });
    });
  }

  #flush(slot: Slot): void {
    if (slot.outbox.length === 0) return;
    slot.thread!.worker.postMessage(slot.outbox satisfies ToHashThread);
    slot.outbox = [];
  }

  /**
   * The watchdog of synchronous reads: runs while any job is pending, a few times per stall
   * timeout (at most every second), and never keeps the process alive.
   */
  #watch(): void {
    const stall = this.#stall;
    if (stall === undefined || this.#watchdog !== undefined) return;
    const every = Math.min(1_000, Math.max(10, stall.ms / 4));
    this.#watchdog = setInterval(() => {
      if (this.#slots.every((s) => s.pending.size === 0)) {
        clearInterval(this.#watchdog);
        this.#watchdog = undefined;
        return;
      }
      for (const slot of this.#slots) {
        const inside = slot.thread?.syscalls.inside();
        if (inside !== undefined && inside.ms > stall.ms) this.#abandon(slot, stall, inside);
      }
    }, every);
    this.#watchdog.unref();
  }

  /**
   * `slot`'s thread has been inside one system call for job `inside.job` for longer than the
   * stall timeout: that job fails READ_STALLED, the thread's others HASHER_STOPPED (read
   * again, uncounted), a new thread takes the slot, and the stuck one is ended, which takes
   * effect when its call returns; the volume is held back until then. Its late messages
   * concern jobs that are no longer pending (ids are never reused): they are ignored.
   */
  #abandon(slot: Slot, stall: ReadStall, inside: { job: number; ms: number }): void {
    const stuck = slot.thread!;
    const job = slot.pending.get(inside.job);
    if (job !== undefined) {
      slot.pending.delete(inside.job);
      stuck.stuck.add(inside.job);
      stall.volumes.stuck(inside.job, job.path, job.device, Date.now() - inside.ms);
      job.reject(readStalledError(displayPath(job.path), stall.ms));
    }
    this.#replace(
      slot,
      new IngestError(
        'INGEST_ERR_HASHER_STOPPED',
        `hashing thread replaced: a read on it made no progress for ${stall.ms / 1000} s; will try again`,
      ),
    );
    stuck.worker.unref();
    void stuck.worker.terminate();
  }

  async close(): Promise<void> {
    this.#closing = true;
    clearInterval(this.#watchdog);
    this.#stall?.volumes.atStop();
    // A thread with a stuck read cannot end until the read returns: not waited for.
    const threads = this.#slots.flatMap((s) => (s.thread === undefined ? [] : [s.thread]));
    await Promise.all(
      threads.map((t) => {
        const ending = t.worker.terminate();
        return t.stuck.size === 0 ? ending : undefined;
      }),
    );
  }
}

/** Memory holding a fixed stall timeout, for a ReadStall given without one. */
function stallCell(ms: number): SharedArrayBuffer {
  const cell = new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT);
  Atomics.store(new Int32Array(cell), 0, ms);
  return cell;
}
