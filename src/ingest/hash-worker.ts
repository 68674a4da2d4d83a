// A hashing thread: runs readAndHash for the main thread, so that reading and hashing use the
// other cores while the main thread discovers files and commits batches.
import { parentPort } from 'node:worker_threads';
import { crashInjectorFromEnv } from '../crash.js';
import type { FileIdentity } from '../interfaces.js';
import { fromBytes } from '../paths.js';
import { serializeError } from './hash-pool.js';
import { readAndHash } from './hasher.js';

export interface HashRequest {
  id: number;
  path: Uint8Array;
  expected: FileIdentity;
  copyTo: Uint8Array | null;
}

const crash = crashInjectorFromEnv();
const asPath = (bytes: Uint8Array) =>
  fromBytes(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length));

parentPort!.on('message', (request: HashRequest) => {
  readAndHash(
    asPath(request.path),
    request.expected,
    request.copyTo === null ? undefined : asPath(request.copyTo),
    () => crash('during-copy'),
  ).then(
    (result) => parentPort!.postMessage({ id: request.id, ok: true, result }),
    (error: unknown) =>
      parentPort!.postMessage({ id: request.id, ok: false, error: serializeError(error) }),
  );
});
