import fs from 'node:fs';
import { Worker } from 'node:worker_threads';
import { IngestError } from '../errors.js';
import type { FileIdentity, FsPath } from '../interfaces.js';
import { toBytes } from '../paths.js';
import type { ReadResult } from './hasher.js';
import { ByteRate } from './byte-rate.js';
import type { FromHashThread, HashRequest, HashThreadData, ToHashThread } from './hash-messages.js';
import type { CrashInjector } from '../crash.js';
import { deserializeError } from '../thread-errors.js';
import { workerScript } from '../worker-script.js';
import { SMALL_FILE_BYTES, cancelledError, readAndHash } from './hasher.js';

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
 * stops the copy at its next chunk as there.
 */
export function inThreadHasher(crash: CrashInjector = () => {}, rate?: ByteRate): Hasher {
  return {
    hash: (path, expected, copyTo, onProgress, lease, signal) =>
      readAndHash(
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
      ),
    close: async () => {},
  };
}

interface Job {
  resolve(r: ReadResult): void;
  reject(e: Error): void;
  onProgress: ((bytesDone: number) => void) | undefined;
}

interface Slot {
  /** Started at the first job that needs it (see `hash`). */
  worker: Worker | undefined;
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
 */
export class WorkerHasher implements Hasher {
  readonly #slots: Slot[] = [];
  readonly #script: URL;
  readonly #data: HashThreadData;
  #next = 0;
  #closing = false;

  private constructor(script: URL, threads: number, rate: SharedArrayBuffer) {
    this.#script = script;
    this.#data = { rate };
    for (let i = 0; i < threads; i += 1) {
      this.#slots.push({ worker: undefined, pending: new Map(), outbox: [] });
    }
    this.#start(this.#slots[0]!);
  }

  /** The live threads (diagnostics and tests). */
  get threads(): readonly Worker[] {
    return this.#slots.flatMap((s) => (s.worker === undefined ? [] : [s.worker]));
  }

  /**
   * undefined when the compiled worker script is not available. `rate`: the memory of a
   * ByteRate every thread reads under (`--max-bytes-per-second`).
   */
  static create(threads: number, rate = ByteRate.memory(undefined)): WorkerHasher | undefined {
    const script = workerScript('ingest/hash-worker.js');
    return script === undefined ? undefined : new WorkerHasher(script, threads, rate);
  }

  /** Starts a thread for `slot`; its replies always resolve `slot`'s own jobs. */
  #start(slot: Slot): Worker {
    // A hashing thread holds a few buffers and promises at a time: bounded heaps keep the
    // process's memory flat however many files pass through (V8 collects lazily otherwise).
    const worker = new Worker(this.#script, {
      workerData: this.#data,
      resourceLimits: { maxOldGenerationSizeMb: 32, maxYoungGenerationSizeMb: 8 },
    });
    slot.worker = worker;
    worker.on('message', (message: FromHashThread) => {
      if (!Array.isArray(message)) {
        slot.pending.get(message.progress)?.onProgress?.(message.bytesDone);
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
      if (slot.pending.size === 0) worker.unref();
    });
    const died = (error: unknown) => {
      if (slot.worker !== worker || this.#closing) return;
      const failure = new IngestError(
        'INGEST_ERR_HASHER_STOPPED',
        `hashing thread stopped (${error instanceof Error ? error.message : String(error)}); will try again`,
        { cause: error },
      );
      for (const job of slot.pending.values()) job.reject(failure);
      slot.pending.clear();
      slot.outbox = [];
      this.#start(slot);
    };
    worker.once('error', died);
    worker.once('exit', (code) => died(new Error(`exit code ${code}`)));
    worker.unref();
    return worker;
  }

  /** The least busy started thread, or a new one when it is busy and the job is large. */
  #slotFor(expected: FileIdentity, copy: boolean): Slot {
    const started = this.#slots.filter((s) => s.worker !== undefined);
    const slot = started.reduce((a, b) => (b.pending.size < a.pending.size ? b : a));
    const large = copy || expected.size > SMALL_FILE_BYTES;
    const idle = this.#slots.find((s) => s.worker === undefined);
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
    const slot = this.#slotFor(expected, copyTo !== undefined);
    const worker = slot.worker!;
    const id = (this.#next += 1);
    // Only a copy can be stopped part way; a read without one ends soon, and the caller
    // drops its result.
    if (copyTo !== undefined && signal !== undefined) {
      const cancel = () => {
        if (slot.worker === worker && slot.pending.has(id)) {
          worker.postMessage({ cancel: id } satisfies ToHashThread);
        }
      };
      signal.addEventListener('abort', cancel, { once: true });
    }
    return new Promise<ReadResult>((resolve, reject) => {
      slot.pending.set(id, { resolve, reject, onProgress });
      worker.ref();
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
    slot.worker!.postMessage(slot.outbox satisfies ToHashThread);
    slot.outbox = [];
  }

  async close(): Promise<void> {
    this.#closing = true;
    await Promise.all(this.threads.map((worker) => worker.terminate()));
  }
}
