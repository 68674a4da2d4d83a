import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { IngestError, hasCode } from '../errors.js';
import type { FileIdentity, FsPath } from '../interfaces.js';
import { displayPath } from '../paths.js';
import { unlinkIfExists, writeFully } from '../fsutil.js';
import { identityOf, sameIdentity } from '../watch/completion.js';
import { SourceReadError } from './failures.js';

const CHUNK = 1024 * 1024;
const { O_RDONLY, O_NOFOLLOW, O_NONBLOCK } = fs.constants;

export interface ReadResult {
  sha256: string;
  /** The identity of the file that was read, from fstat on the open descriptor. */
  identity: FileIdentity;
  ms: number;
}

/** Files up to this size are read in one synchronous pass by a hashing thread. */
export const SMALL_FILE_BYTES = CHUNK;

function openError(name: string, error: unknown): Error {
  if (hasCode(error, 'ELOOP')) {
    return new IngestError('INGEST_ERR_NOT_REGULAR', `${name} became a symlink`, { cause: error });
  }
  if (hasCode(error, 'ENOENT', 'ENOTDIR')) {
    return new IngestError('INGEST_ERR_VANISHED', `${name} disappeared`, { cause: error });
  }
  return new SourceReadError(`cannot open ${name}: ${(error as Error).message}`, error);
}

/** An error reading the source: the file's fault, unlike an error writing the copy. */
function readError(name: string, error: unknown): SourceReadError {
  return new SourceReadError(`cannot read ${name}: ${(error as Error).message}`, error);
}

function checkBefore(name: string, before: fs.Stats, expected: FileIdentity): void {
  if (!before.isFile()) {
    throw new IngestError('INGEST_ERR_NOT_REGULAR', `${name} is not a regular file`);
  }
  if (!sameIdentity(identityOf(before), expected)) {
    throw new IngestError('INGEST_ERR_CHANGED', `${name} changed since it was found complete`);
  }
}

function checkAfter(name: string, before: fs.Stats, after: fs.Stats, bytes: number): void {
  if (!sameIdentity(identityOf(after), identityOf(before)) || bytes !== before.size) {
    throw new IngestError('INGEST_ERR_CHANGED', `${name} changed while it was read`);
  }
}

/**
 * readAndHash without a copy, synchronously, into `buffer`: for small files on a hashing
 * thread, where the five system calls of a 4 KiB file cost less than one asynchronous
 * round trip. Same checks and errors as readAndHash.
 */
export function readAndHashSync(path: FsPath, expected: FileIdentity, buffer: Buffer): ReadResult {
  const started = performance.now();
  const name = displayPath(path);
  let fd: number;
  try {
    fd = fs.openSync(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  } catch (error) {
    throw openError(name, error);
  }
  const fromSource = <T>(read: () => T): T => {
    try {
      return read();
    } catch (error) {
      throw readError(name, error);
    }
  };
  try {
    const before = fromSource(() => fs.fstatSync(fd));
    checkBefore(name, before, expected);
    const hash = createHash('sha256');
    let position = 0;
    // Reading stops at the size fstat gave: a file that grew or shrank meanwhile has another
    // size or mtime in the second fstat, which rejects it.
    while (position < before.size) {
      const bytesRead = fromSource(() => fs.readSync(fd, buffer, 0, buffer.length, position));
      if (bytesRead === 0) break;
      hash.update(buffer.subarray(0, bytesRead));
      position += bytesRead;
    }
    const after = fromSource(() => fs.fstatSync(fd));
    checkAfter(name, before, after, position);
    return {
      sha256: hash.digest('hex'),
      identity: identityOf(before),
      ms: performance.now() - started,
    };
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Reads a file once: SHA-256 of every byte and, when `copyTo` is given, a copy written while
 * reading (reads and writes overlapped, one pass) that is fsynced and carries the source's
 * mode, owner and times where permitted. Never follows a symlink; a FIFO cannot block it.
 *
 * Throws INGEST_ERR_CHANGED when the file is not the one discovery saw or changed while it
 * was read; the copy is then removed.
 */
export async function readAndHash(
  path: FsPath,
  expected: FileIdentity,
  copyTo?: FsPath,
  onCopyProgress?: () => void,
): Promise<ReadResult> {
  const started = performance.now();
  const name = displayPath(path);
  let input: fs.promises.FileHandle;
  try {
    input = await fs.promises.open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  } catch (error) {
    throw openError(name, error);
  }
  const fromSource = <T>(promise: Promise<T>): Promise<T> =>
    promise.catch((error: unknown) => {
      throw readError(name, error);
    });
  let reading: Promise<{ bytesRead: number }> | undefined;
  let writing: Promise<void> | undefined;
  let output: fs.promises.FileHandle | undefined;
  try {
    const before = await fromSource(input.stat());
    checkBefore(name, before, expected);
    if (copyTo !== undefined) output = await fs.promises.open(copyTo, 'wx', 0o600);
    const hash = createHash('sha256');
    // Three buffers, three things at once: chunk N is hashed on this thread while chunk N+1 is
    // read and chunk N-1 is written by the thread pool. The copy then costs about as long as
    // the slowest of the three instead of the sum of hashing and writing.
    const size = Math.max(1, Math.min(CHUNK, before.size + 1));
    const buffers = [0, 1, 2].map(() => Buffer.allocUnsafe(size));
    let position = 0;
    let current = 0;
    reading = fromSource(input.read(buffers[0]!, 0, size, 0));
    for (;;) {
      const { bytesRead } = await reading;
      if (bytesRead === 0) break;
      const chunk = buffers[current]!.subarray(0, bytesRead);
      const at = position;
      position += bytesRead;
      current = (current + 1) % buffers.length;
      // buffers[current] last held chunk N-2, whose write finished before N-1's began.
      reading = fromSource(input.read(buffers[current]!, 0, size, position));
      hash.update(chunk);
      if (output !== undefined) {
        const out = output;
        await writing;
        writing = writeFully(out, chunk, at).then(() => onCopyProgress?.());
      }
    }
    await writing;
    const after = await fromSource(input.stat());
    checkAfter(name, before, after, position);
    if (output !== undefined) {
      await output.chmod(before.mode & 0o7777);
      try {
        await output.chown(before.uid, before.gid);
      } catch (error) {
        if (!hasCode(error, 'EPERM', 'EINVAL')) throw error;
      }
      // Seconds as numbers keep sub-millisecond precision that Date objects would drop.
      await output.utimes(before.atimeMs / 1000, before.mtimeMs / 1000);
      await output.sync();
    }
    return {
      sha256: hash.digest('hex'),
      identity: identityOf(before),
      ms: performance.now() - started,
    };
  } catch (error) {
    // A read or a write may still be in flight when the other failed: both are settled here,
    // and their own outcomes no longer matter because this attempt has already failed.
    const settled = () => undefined;
    await reading?.then(settled, settled);
    await writing?.then(settled, settled);
    if (output !== undefined) {
      await output.close();
      output = undefined;
      await unlinkIfExists(copyTo!);
    }
    throw error;
  } finally {
    await output?.close();
    await input.close();
  }
}
