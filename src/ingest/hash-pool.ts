import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { IngestError, errnoCode } from '../errors.js';
import type { FileIdentity, FsPath } from '../interfaces.js';
import { toBytes } from '../paths.js';
import { SourceReadError } from './failures.js';
import type { ReadResult } from './hasher.js';
import { readAndHash } from './hasher.js';

/** Reads and hashes files (copying them across filesystems); see readAndHash. */
export interface Hasher {
  hash(
    path: FsPath,
    expected: FileIdentity,
    copyTo?: FsPath,
    onCopyProgress?: () => void,
  ): Promise<ReadResult>;
  close(): Promise<void>;
}

/** On the calling thread (tests, and where worker threads are not wanted). */
export const inThreadHasher: Hasher = {
  hash: readAndHash,
  close: async () => {},
};

interface SerializedError {
  name: string;
  code: string | undefined;
  message: string;
  causeCode: string | undefined;
  causeMessage: string | undefined;
}

/** Errors cross the thread boundary as plain data; this keeps what the classification needs. */
export function serializeError(error: unknown): SerializedError {
  const e = error instanceof Error ? error : new Error(String(error));
  return {
    name: e.name,
    code: errnoCode(e),
    message: e.message,
    causeCode: errnoCode(e.cause),
    causeMessage: e.cause instanceof Error ? e.cause.message : undefined,
  };
}

function deserializeError(s: SerializedError): Error {
  const cause =
    s.causeMessage === undefined
      ? undefined
      : Object.assign(new Error(s.causeMessage), { code: s.causeCode });
  if (s.name === 'SourceReadError') return new SourceReadError(s.message, cause);
  if (s.code?.startsWith('INGEST_ERR_') === true) {
    return new IngestError(s.code as never, s.message, { cause });
  }
  return Object.assign(new Error(s.message, { cause }), { code: s.code });
}

/** The compiled worker script (from sources under a test runner, the built one beside them). */
function workerScript(): URL | undefined {
  const here = new URL('./hash-worker.js', import.meta.url);
  if (fs.existsSync(fileURLToPath(here))) return here;
  const built = new URL('../../dist/src/ingest/hash-worker.js', import.meta.url);
  return fs.existsSync(fileURLToPath(built)) ? built : undefined;
}

interface Slot {
  worker: Worker;
  pending: Map<number, { resolve(r: ReadResult): void; reject(e: Error): void }>;
}

/**
 * Worker threads that read and hash, so that hashing uses every core and the main thread stays
 * free for discovery and group commits. Jobs go to the least busy thread.
 */
export class WorkerHasher implements Hasher {
  readonly #slots: Slot[];
  #next = 0;

  private constructor(slots: Slot[]) {
    this.#slots = slots;
  }

  /** undefined when the compiled worker script is not available. */
  static create(threads: number): WorkerHasher | undefined {
    const script = workerScript();
    if (script === undefined) return undefined;
    const slots: Slot[] = [];
    for (let i = 0; i < threads; i += 1) {
      // A hashing thread holds a few buffers and promises at a time: small heaps keep the
      // process's memory flat however many files pass through (V8 collects lazily otherwise).
      const worker = new Worker(script, {
        resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 4 },
      });
      const slot: Slot = { worker, pending: new Map() };
      worker.on(
        'message',
        (m: { id: number; ok: boolean; result?: ReadResult; error?: SerializedError }) => {
          const job = slot.pending.get(m.id);
          if (job === undefined) return;
          slot.pending.delete(m.id);
          if (m.ok) job.resolve(m.result!);
          else job.reject(deserializeError(m.error!));
        },
      );
      worker.on('error', (error) => {
        for (const job of slot.pending.values()) job.reject(error);
        slot.pending.clear();
      });
      worker.unref();
      slots.push(slot);
    }
    return new WorkerHasher(slots);
  }

  hash(path: FsPath, expected: FileIdentity, copyTo?: FsPath): Promise<ReadResult> {
    const slot = this.#slots.reduce((a, b) => (b.pending.size < a.pending.size ? b : a));
    const id = (this.#next += 1);
    return new Promise((resolve, reject) => {
      slot.pending.set(id, { resolve, reject });
      slot.worker.ref();
      slot.worker.postMessage({
        id,
        path: toBytes(path),
        expected,
        copyTo: copyTo === undefined ? null : toBytes(copyTo),
      });
    }).finally(() => {
      if (slot.pending.size === 0) slot.worker.unref();
    }) as Promise<ReadResult>;
  }

  async close(): Promise<void> {
    await Promise.all(this.#slots.map((s) => s.worker.terminate()));
  }
}
