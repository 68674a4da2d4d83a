import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { IngestError, hasCode } from '../errors.js';
import type { Logger } from '../ops/logger.js';
import { errnoName, nativeHelper, nativeMissingReason } from '../native.js';

/**
 * What makes two daemons' states the same state: for SQLite, the state file's real path (the
 * directory resolved, so that links and `..` do not make one file look like two).
 */
export function stateIdentity(statePath: string): string {
  return `sqlite:${path.join(fs.realpathSync(path.dirname(statePath)), path.basename(statePath))}`;
}

/**
 * For PostgreSQL, the database: its host, port and name (not the user or the password, which
 * may differ between hosts that share it).
 */
export function sharedStateIdentity(stateUrl: string): string {
  const url = new URL(stateUrl);
  return `postgres:${url.hostname}:${url.port === '' ? '5432' : url.port}${url.pathname}`;
}

/**
 * Lock bytes: a daemon's own input is locked at `INPUT + b`, each directory above it at
 * `ABOVE + b`, where b (in [0, SPACE)) comes from its state's identity.
 */
const SPACE = 2 ** 40;
const INPUT = 1;
const ABOVE = INPUT + SPACE;

type Native = NonNullable<ReturnType<typeof nativeHelper>>;

/** The start of a lock someone else holds in [base, base + SPACE) other than at base + b. */
function otherHolder(native: Native, fd: number, base: number, b: number): number | undefined {
  const ranges = [
    [base, b],
    [base + b + 1, SPACE - b - 1],
  ] as const;
  for (const [start, length] of ranges) {
    if (length <= 0) continue;
    const conflict = native.ofdConflict(fd, native.F_WRLCK, start, length);
    if (conflict < -1)
      throw Object.assign(new Error(errnoName(-conflict - 1)), { lockErrno: true });
    if (conflict >= 0) return conflict;
  }
  return undefined;
}

/**
 * One input, one state: daemons with different states on one input, or on one input and a
 * directory inside it, would each ingest the same files into their own warehouse. Each daemon
 * holds shared locks chosen by its state's identity: one byte on its input directory, and one
 * byte (in another range) on every directory above it. It refuses to start when another state
 * holds a byte on its input (the same input, or an input inside it) or an input byte on a
 * directory above it (an input that contains it). The locks are open-file-description locks:
 * the kernel drops them when the daemon dies, they never block a writer, nothing is written
 * into the input, and daemons that share one state (several hosts on one PostgreSQL state)
 * share the bytes, so they may run together. docs/DESIGN.md says why.
 */
export class InputLock {
  readonly #fds: number[];

  private constructor(fds: number[]) {
    this.#fds = fds;
  }

  /**
   * Takes the input for `stateIdentity`; throws INGEST_ERR_INPUT_LOCKED when a daemon with
   * another state holds it, one inside it or one above it. Where the kernel cannot lock the
   * directory (a network filesystem, no native helper), says so and goes on: the state lock
   * still guards the state.
   */
  static acquire(input: string, stateIdentity: string, logger: Logger): InputLock | undefined {
    const native = nativeHelper();
    const unguarded = (why: string) => {
      logger.warn(
        { event: 'input-lock', input, reason: why },
        `cannot lock --input ${JSON.stringify(input)} (${why}): a second ingestor with another state on it would not be stopped`,
      );
      return undefined;
    };
    if (native === undefined) return unguarded(nativeMissingReason() ?? 'no native helper');
    const b = createHash('sha256').update(stateIdentity).digest().readUIntBE(0, 5) % SPACE;
    const real = fs.realpathSync(input);
    const fds: number[] = [];
    const refuse = (where: string) => {
      for (const fd of fds) fs.closeSync(fd);
      return new IngestError(
        'INGEST_ERR_INPUT_LOCKED',
        `another ingestor with another state is ingesting ${where}; each input takes one state: stop that ingestor, or give this one the same --state-path or --state-url (fuser -v on the directory lists the processes that hold it open)`,
      );
    };
    try {
      const dirs = [real];
      for (let dir = real; path.dirname(dir) !== dir;) dirs.push((dir = path.dirname(dir)));
      for (const [i, dir] of dirs.entries()) {
        let fd: number;
        try {
          fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
        } catch (error) {
          // A directory above the input that this user may not open cannot hold an input of
          // another daemon that this one could see either.
          if (i > 0 && hasCode(error, 'EACCES', 'EPERM')) continue;
          throw error;
        }
        fds.push(fd);
        const errno = native.ofdLock(fd, native.F_RDLCK, (i === 0 ? INPUT : ABOVE) + b, 1);
        if (errno !== 0) throw Object.assign(new Error(errnoName(errno)), { lockErrno: true });
        const q = JSON.stringify(input);
        if (i === 0 && otherHolder(native, fd, INPUT, b) !== undefined) {
          throw refuse(`--input ${q}`);
        }
        if (i === 0 && otherHolder(native, fd, ABOVE, b) !== undefined) {
          throw refuse(`a directory inside --input ${q}`);
        }
        if (i > 0 && otherHolder(native, fd, INPUT, b) !== undefined) {
          throw refuse(`${JSON.stringify(dir)}, which contains --input ${q}`);
        }
      }
    } catch (error) {
      if (error instanceof IngestError) throw error;
      for (const fd of fds) fs.closeSync(fd);
      if ((error as { lockErrno?: boolean }).lockErrno === true) {
        return unguarded((error as Error).message);
      }
      throw error;
    }
    return new InputLock(fds);
  }

  release(): void {
    for (const fd of this.#fds.splice(0)) fs.closeSync(fd);
  }
}
