// A hashing thread: runs readAndHash for the main thread, so that reading and hashing use the
// other cores while the main thread discovers files and commits batches. Requests come in
// batches; small files are read synchronously, one after another, and answered as one batch.
import { parentPort, workerData } from 'node:worker_threads';
import { ByteRate } from './byte-rate.js';
import { crashInjectorFromEnv } from '../crash.js';
import { fromBytes } from '../paths.js';
import type {
  FromHashThread,
  HashProgress,
  HashReply,
  HashThreadData,
  ToHashThread,
} from './hash-messages.js';
import { PROGRESS_INTERVAL_MS } from './hash-messages.js';
import type { StallWatch } from './read-stall.js';
import { serializeError } from '../thread-errors.js';
import { SMALL_FILE_BYTES, cancelledError, readAndHash, readAndHashSync } from './hasher.js';
import { SyscallWatch } from './syscall-watch.js';

const crash = crashInjectorFromEnv();
const data = workerData as HashThreadData;
/** `--max-bytes-per-second`, shared with the other threads (see ByteRate). */
const rate = new ByteRate(data.rate);
/** Where the main thread watches this thread's synchronous reads (it gives up on them). */
const syscalls = new SyscallWatch(data.syscalls);
const post = (message: FromHashThread) => parentPort!.postMessage(message);

/**
 * An asynchronous read gives up on its own: the main thread hears of the stuck operation
 * first (to hold back the volume's other files), then of its return.
 */
const stallMs = data.stall === null ? undefined : new Int32Array(data.stall);
function stallWatch(id: number): StallWatch | undefined {
  if (stallMs === undefined) return undefined;
  return {
    ms: Atomics.load(stallMs, 0),
    stuck: (since, returned) => {
      post({ stuck: id, since });
      void returned.then(() => post({ returned: id }));
    },
  };
}
const asPath = (bytes: Uint8Array) =>
  fromBytes(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length));
const buffer = Buffer.allocUnsafe(SMALL_FILE_BYTES);
const failed = (id: number, error: unknown): HashReply => ({
  id,
  ok: false,
  error: serializeError(error),
});

/**
 * Progress of one large job for the main thread: the first chunk at once, then at most every
 * PROGRESS_INTERVAL_MS, so that a 10 GiB copy posts a few messages a second, not 10,000.
 */
function reportProgress(id: number, copying: boolean): (bytesDone: number) => void {
  let last = -Infinity;
  return (bytesDone) => {
    if (copying) crash('during-copy');
    const now = performance.now();
    if (now - last < PROGRESS_INTERVAL_MS) return;
    last = now;
    const message: HashProgress = { progress: id, bytesDone };
    parentPort!.postMessage(message);
  };
}

/** Copies in progress that an operator cancelled: each stops at its next chunk. */
const cancelled = new Set<number>();
const copying = new Set<number>();

parentPort!.on('message', (message: ToHashThread) => {
  if (!Array.isArray(message)) {
    if (copying.has(message.cancel)) cancelled.add(message.cancel);
    return;
  }
  const requests = message;
  const replies: HashReply[] = [];
  for (const request of requests) {
    const path = asPath(request.path);
    if (request.copyTo === null && request.expected.size <= SMALL_FILE_BYTES) {
      try {
        replies.push({
          id: request.id,
          ok: true,
          result: readAndHashSync(
            path,
            request.expected,
            buffer,
            request.lease,
            rate,
            syscalls.fenceFor(request.id),
          ),
        });
      } catch (error) {
        replies.push(failed(request.id, error));
      }
      continue;
    }
    copying.add(request.id);
    const progress = reportProgress(request.id, request.copyTo !== null);
    readAndHash(
      path,
      request.expected,
      request.copyTo === null ? undefined : asPath(request.copyTo),
      (bytesDone) => {
        progress(bytesDone);
        if (cancelled.has(request.id)) throw cancelledError(path);
      },
      request.lease,
      rate,
      stallWatch(request.id),
    )
      .then(
        (result) => parentPort!.postMessage([{ id: request.id, ok: true, result }]),
        (error: unknown) => parentPort!.postMessage([failed(request.id, error)]),
      )
      .finally(() => {
        copying.delete(request.id);
        cancelled.delete(request.id);
      });
  }
  if (replies.length > 0) parentPort!.postMessage(replies);
});
