// A hashing thread: runs readAndHash for the main thread, so that reading and hashing use the
// other cores while the main thread discovers files and commits batches. Requests come in
// batches; small files are read synchronously, one after another, and answered as one batch.
import { parentPort, workerData } from 'node:worker_threads';
import { ByteRate } from './byte-rate.js';
import { crashInjectorFromEnv } from '../crash.js';
import { fromBytes } from '../paths.js';
import type { HashProgress, HashReply, HashThreadData, ToHashThread } from './hash-messages.js';
import { PROGRESS_INTERVAL_MS } from './hash-messages.js';
import { serializeError } from '../thread-errors.js';
import { SMALL_FILE_BYTES, cancelledError, readAndHash, readAndHashSync } from './hasher.js';

const crash = crashInjectorFromEnv();
/** `--max-bytes-per-second`, shared with the other threads (see ByteRate). */
const rate = new ByteRate((workerData as HashThreadData).rate);
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
          result: readAndHashSync(path, request.expected, buffer, request.lease, rate),
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
