import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { promisify } from 'node:util';
import { IngestError, errnoCode, hasCode } from '../errors.js';
import type { FileIdentity, FsPath } from '../interfaces.js';
import { dirName, displayPath } from '../paths.js';
import { unlinkIfExists, writeFully } from '../fsutil.js';
import { identityOf, sameIdentity } from '../identity.js';
import { SourceReadError } from '../errors.js';
import type { ByteRate } from './byte-rate.js';
import { handOver, leaseIntact, tryReadLease } from './lease.js';
import { SourceStall } from './read-stall.js';
import type { StallWatch } from './read-stall.js';
import type { SyscallFence } from './syscall-watch.js';

const CHUNK = 1024 * 1024;
const { O_RDONLY, O_NOFOLLOW, O_NONBLOCK } = fs.constants;

export interface ReadResult {
  sha256: string;
  /** The identity of the file that was read, from fstat on the open descriptor. */
  identity: FileIdentity;
  /** Its number of hard links then. */
  links: number;
  ms: number;
  /**
   * With `lease`: the descriptor, still open and holding a read lease, which the caller closes
   * once the file is placed (a writer that opens the file meanwhile breaks the lease). Null
   * when no lease was asked for or the kernel cannot give one here (`leaseUnavailable`).
   */
  leaseFd: number | null;
  /** With `lease`: the errno code that says why the kernel cannot tell here, else null. */
  leaseUnavailable: string | null;
}

const promisified = {
  open: promisify(fs.open),
  fstat: promisify(fs.fstat),
  read: promisify(fs.read),
  close: promisify(fs.close),
};

/** Files up to this size are read in one synchronous pass by a hashing thread. */
export const SMALL_FILE_BYTES = CHUNK;

function openError(name: string, error: unknown): Error {
  if (hasCode(error, 'INGEST_ERR_READ_STALLED')) return error as Error;
  if (hasCode(error, 'ELOOP')) {
    return new IngestError('INGEST_ERR_NOT_REGULAR', `${name} became a symlink`, { cause: error });
  }
  if (hasCode(error, 'ENOENT', 'ENOTDIR')) {
    return new IngestError('INGEST_ERR_VANISHED', `${name} disappeared`, { cause: error });
  }
  return new SourceReadError(`cannot open ${name}: ${(error as Error).message}`, error);
}

/**
 * An error writing the copy names where it was being written (the pause line then says which
 * volume is full), and keeps its errno code, by which failures are classified.
 */
function copyError(copyTo: FsPath, error: unknown): Error {
  return Object.assign(
    new Error(
      `cannot write a copy in ${displayPath(dirName(copyTo))}: ${(error as Error).message}`,
      {
        cause: error,
      },
    ),
    { code: errnoCode(error) },
  );
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
 * Asks the kernel whether a process has the file open for writing, by taking a read lease on
 * `fd`: refused (EAGAIN) means a writer holds it open, however quiet it has been. Returns the
 * descriptor that holds the lease, or why the kernel cannot tell here.
 */
function takeLease(name: string, fd: number): { fd: number | null; unavailable: string | null } {
  const attempt = tryReadLease(fd);
  if (attempt.kind === 'busy') {
    throw new IngestError(
      'INGEST_ERR_OPEN_FOR_WRITING',
      `${name} is open for writing by another process`,
    );
  }
  return attempt.kind === 'held'
    ? { fd, unavailable: null }
    : { fd: null, unavailable: attempt.code };
}

function checkLease(name: string, leaseFd: number | null): void {
  if (leaseFd !== null && !leaseIntact(leaseFd)) {
    throw new IngestError(
      'INGEST_ERR_OPEN_FOR_WRITING',
      `${name} was opened for writing while it was read`,
    );
  }
}

/**
 * readAndHash without a copy, synchronously, into `buffer`: for small files on a hashing
 * thread, where the five system calls of a 4 KiB file cost less than one asynchronous
 * round trip. Same checks and errors as readAndHash. `fence` brackets each system call on
 * the source, so that another thread can see one that hangs (see SyscallWatch): this one
 * cannot give up on it.
 */
export function readAndHashSync(
  path: FsPath,
  expected: FileIdentity,
  buffer: Buffer,
  lease = false,
  rate?: ByteRate,
  fence?: SyscallFence,
): ReadResult {
  const started = performance.now();
  const name = displayPath(path);
  const blocking = <T>(call: () => T): T => {
    fence?.enter();
    try {
      return call();
    } finally {
      fence?.leave();
    }
  };
  let fd: number;
  try {
    fd = blocking(() => fs.openSync(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK));
  } catch (error) {
    throw openError(name, error);
  }
  const fromSource = <T>(read: () => T): T => {
    try {
      return blocking(read);
    } catch (error) {
      throw readError(name, error);
    }
  };
  let leased: { fd: number | null; unavailable: string | null } = { fd: null, unavailable: null };
  try {
    const before = fromSource(() => fs.fstatSync(fd));
    checkBefore(name, before, expected);
    if (lease) leased = takeLease(name, fd);
    const hash = createHash('sha256');
    let position = 0;
    // Reading stops at the size fstat gave: a file that grew or shrank meanwhile has another
    // size or mtime in the second fstat, which rejects it.
    while (position < before.size) {
      rate?.takeSync(Math.min(buffer.length, before.size - position));
      const bytesRead = fromSource(() => fs.readSync(fd, buffer, 0, buffer.length, position));
      if (bytesRead === 0) break;
      hash.update(buffer.subarray(0, bytesRead));
      position += bytesRead;
    }
    const after = fromSource(() => fs.fstatSync(fd));
    checkAfter(name, before, after, position);
    checkLease(name, leased.fd);
    return {
      sha256: hash.digest('hex'),
      identity: identityOf(before),
      links: before.nlink,
      ms: performance.now() - started,
      // The lease travels with the result on a descriptor of its own (see handOver).
      leaseFd: leased.fd === null ? null : handOver(leased.fd),
      leaseUnavailable: leased.unavailable,
    };
  } finally {
    blocking(() => fs.closeSync(fd));
  }
}

/**
 * Reads a file once: SHA-256 of every byte and, when `copyTo` is given, a copy written while
 * reading (reads and writes overlapped, one pass) that is fsynced and carries the source's
 * mode, owner and times where permitted. Never follows a symlink; a FIFO cannot block it.
 * `onProgress` is told the bytes done after each chunk: hashed, or written when copying.
 *
 * Throws INGEST_ERR_CHANGED when the file is not the one discovery saw or changed while it
 * was read; the copy is then removed. With `stall`, an operation on the source that takes
 * longer than `stall.ms` fails the read with INGEST_ERR_READ_STALLED (see SourceStall).
 */
export async function readAndHash(
  path: FsPath,
  expected: FileIdentity,
  copyTo?: FsPath,
  onProgress?: (bytesDone: number) => void,
  lease = false,
  rate?: ByteRate,
  stall?: StallWatch,
): Promise<ReadResult> {
  const started = performance.now();
  const name = displayPath(path);
  const source = new SourceStall(name, stall);
  let fd: number;
  try {
    // A raw descriptor rather than a FileHandle: one that holds a lease outlives this call,
    // and a FileHandle left open would be closed by the garbage collector.
    fd = await source.run(promisified.open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK), (late) =>
      promisified.close(late),
    );
  } catch (error) {
    await source.close(undefined);
    throw openError(name, error);
  }
  const fromSource = <T>(promise: Promise<T>): Promise<T> =>
    source.run(
      promise.catch((error: unknown) => {
        throw readError(name, error);
      }),
    );
  let reading: Promise<{ bytesRead: number }> | undefined;
  let writing: Promise<void> | undefined;
  let output: fs.promises.FileHandle | undefined;
  let leased: { fd: number | null; unavailable: string | null } = { fd: null, unavailable: null };
  let handedOver: number | null = null;
  try {
    const before = await fromSource(promisified.fstat(fd));
    checkBefore(name, before, expected);
    if (lease) leased = takeLease(name, fd);
    if (copyTo !== undefined) output = await fs.promises.open(copyTo, 'wx', 0o600);
    const hash = createHash('sha256');
    // Three buffers, three things at once: chunk N is hashed on this thread while chunk N+1 is
    // read and chunk N-1 is written by the thread pool. The copy then costs about as long as
    // the slowest of the three instead of the sum of hashing and writing.
    const size = Math.max(1, Math.min(CHUNK, before.size + 1));
    const buffers = [0, 1, 2].map(() => Buffer.allocUnsafe(size));
    let position = 0;
    let current = 0;
    // Under --max-bytes-per-second each read waits for its turn first (see ByteRate); the
    // stall timeout counts from the read itself.
    const read = (buffer: Buffer, at: number) =>
      rate === undefined
        ? fromSource(promisified.read(fd, buffer, 0, size, at))
        : rate
            .take(Math.min(size, Math.max(1, before.size - at)))
            .then(() => fromSource(promisified.read(fd, buffer, 0, size, at)));
    reading = read(buffers[0]!, 0);
    for (;;) {
      const { bytesRead } = await reading;
      if (bytesRead === 0) break;
      // A writer that opens the file now waits for this lease: give up the file at once.
      checkLease(name, leased.fd);
      const chunk = buffers[current]!.subarray(0, bytesRead);
      const at = position;
      position += bytesRead;
      current = (current + 1) % buffers.length;
      // buffers[current] last held chunk N-2, whose write finished before N-1's began.
      reading = read(buffers[current]!, position);
      hash.update(chunk);
      if (output === undefined) onProgress?.(position);
      else {
        const out = output;
        await writing;
        const done = position;
        writing = writeFully(out, chunk, at).then(
          () => onProgress?.(done),
          (error: unknown) => {
            throw copyError(copyTo!, error);
          },
        );
        // Awaited at the next turn, after the next read: a write that fails meanwhile (a full
        // volume) must not count as unhandled, which ends a hashing thread and strands its copy.
        writing.catch(() => undefined);
      }
    }
    await writing;
    const after = await fromSource(promisified.fstat(fd));
    checkAfter(name, before, after, position);
    checkLease(name, leased.fd);
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
    // The lease travels with the result on a descriptor of its own (see handOver).
    handedOver = leased.fd === null ? null : handOver(leased.fd);
    return {
      sha256: hash.digest('hex'),
      identity: identityOf(before),
      links: before.nlink,
      ms: performance.now() - started,
      leaseFd: handedOver,
      leaseUnavailable: leased.unavailable,
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
    // After a stalled operation, once it returns (see SourceStall). A close that fails or hangs
    // itself drops the result, and its lease with it.
    await source
      .close(() => promisified.close(fd))
      .catch((error: unknown) => {
        if (handedOver !== null) fs.closeSync(handedOver);
        throw error;
      });
  }
}

/** The error of a copy stopped by an operator's cancel (its copy is removed like any failed one). */
export function cancelledError(path: FsPath): IngestError {
  return new IngestError(
    'INGEST_ERR_CANCELLED',
    `${displayPath(path)} was cancelled by an operator`,
  );
}

/** SHA-256 of a whole file, read afresh (to check a copy against what was hashed). */
export async function hashFile(path: FsPath, rate?: ByteRate): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of fs.createReadStream(path, { highWaterMark: CHUNK })) {
    hash.update(chunk as Buffer);
    // The stream reads ahead by a chunk: the wait after each keeps the average.
    await rate?.take((chunk as Buffer).length);
  }
  return hash.digest('hex');
}
