import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { IngestError, hasCode } from '../errors.js';
import type { Logger } from '../logger.js';
import { errnoName, nativeHelper, nativeMissingReason } from '../native.js';

/**
 * What makes two daemons' states the same state: for SQLite, the state file's real path (the
 * directory resolved, so that links and `..` do not make one file look like two).
 */
export function stateIdentity(statePath: string): string {
  return `sqlite:${path.join(fs.realpathSync(path.dirname(statePath)), path.basename(statePath))}`;
}

/** Lock bytes are spread over [1, 2^41): one byte per state identity. */
const SPACE = 2 ** 40;

/**
 * One input, one state: daemons with different states on one input would each ingest the same
 * files into their own warehouse. Each daemon holds a shared lock on one byte of the input
 * directory chosen by its state's identity (an open-file-description lock: the kernel drops it
 * when the daemon dies, it never blocks a writer, and nothing is written into the input), and
 * refuses to start when another state holds any other byte. Daemons that share one state (a
 * PostgreSQL state shared by several hosts) share a byte, so they may run together.
 */
export class InputLock {
  readonly #fd: number;

  private constructor(fd: number) {
    this.#fd = fd;
  }

  /**
   * Takes the input for `stateIdentity`; throws INGEST_ERR_INPUT_LOCKED when a daemon with
   * another state holds it. Where the kernel cannot lock the directory (a network filesystem,
   * no native helper), says so and goes on: the state lock still guards the state.
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
    const fd = fs.openSync(input, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    const byte = 1 + (createHash('sha256').update(stateIdentity).digest().readUIntBE(0, 5) % SPACE);
    const errno = native.ofdLock(fd, native.F_RDLCK, byte, 1);
    if (errno !== 0) {
      fs.closeSync(fd);
      return unguarded(errnoName(errno));
    }
    // Anyone holding another byte has another state. Our own byte is left out of the test, so
    // that daemons sharing our state do not count (F_OFD_GETLK would report them too).
    const others = [
      [1, byte - 1],
      [byte + 1, SPACE + 1 - byte],
    ] as const;
    for (const [start, length] of others) {
      if (length <= 0) continue;
      const conflict = native.ofdConflict(fd, native.F_WRLCK, start, length);
      if (conflict < -1) {
        fs.closeSync(fd);
        return unguarded(errnoName(-conflict - 1));
      }
      if (conflict >= 0) {
        fs.closeSync(fd);
        throw new IngestError(
          'INGEST_ERR_INPUT_LOCKED',
          `another ingestor with another state is ingesting --input ${JSON.stringify(input)}; each input takes one state: stop that ingestor, or give this one the same --state-path (fuser -v on the input directory lists the processes that hold it open)`,
        );
      }
    }
    return new InputLock(fd);
  }

  release(): void {
    try {
      fs.closeSync(this.#fd);
    } catch (error) {
      if (!hasCode(error, 'EBADF')) throw error;
    }
  }
}
