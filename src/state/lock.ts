import fs from 'node:fs';
import Database from 'better-sqlite3';
import type { Database as DatabaseType } from 'better-sqlite3';
import { FULL_VOLUME_CODES, IngestError, describeError, errnoCode, hasCode } from '../errors.js';
import { noSpaceHint } from '../fsutil.js';
import { prepareStateLocation } from './sqlite-location.js';

/**
 * One daemon per state file. The lock is an exclusive SQLite lock on `<state>.lock`: it is a
 * POSIX record lock, so the kernel releases it when the holder dies, even by kill -9, and a
 * stale lock can never block a restart. The holder's pid is written beside it for the message.
 */
export class StateLock {
  readonly #db: DatabaseType;
  readonly #pidPath: string;

  private constructor(db: DatabaseType, pidPath: string) {
    this.#db = db;
    this.#pidPath = pidPath;
  }

  static acquire(statePath: string): StateLock {
    const lockPath = `${statePath}.lock`;
    const pidPath = pidPathOf(statePath);
    // The lock is the first file made beside the state: a location that cannot hold the state
    // is reported here, naming --state-path and the cause.
    prepareStateLocation(statePath, lockPath, statePath);
    const db = new Database(lockPath, { timeout: 0 });
    try {
      db.pragma('locking_mode = EXCLUSIVE');
      db.exec('BEGIN EXCLUSIVE; COMMIT;');
    } catch (error) {
      db.close();
      if (errnoCode(error) === 'SQLITE_BUSY') {
        let holder = '';
        try {
          const pid = fs.readFileSync(pidPath, 'utf8').trim();
          if (pid !== '') holder = ` (pid ${pid})`;
        } catch (readError) {
          if (errnoCode(readError) !== 'ENOENT') throw readError;
        }
        throw new IngestError(
          'INGEST_ERR_LOCKED',
          `another ingestor${holder} is running on state ${JSON.stringify(statePath)}; stop it first, or give this one its own --state-path and its own --input`,
          { cause: error },
        );
      }
      throw new IngestError(
        'INGEST_ERR_STATE',
        `cannot take the state lock ${JSON.stringify(lockPath)}: ${describeError(error)}${noSpaceHint(lockPath)}`,
        { cause: error },
      );
    }
    try {
      fs.writeFileSync(pidPath, `${process.pid}\n`);
    } catch (error) {
      // Only for the message above: a full volume must not stop a start that can wait it out.
      if (!hasCode(error, ...FULL_VOLUME_CODES)) {
        db.close();
        throw error;
      }
    }
    return new StateLock(db, pidPath);
  }

  release(): void {
    if (!this.#db.open) return;
    try {
      fs.unlinkSync(this.#pidPath);
    } catch (error) {
      if (errnoCode(error) !== 'ENOENT') throw error;
    }
    this.#db.close();
  }
}

/** Where the lock's holder writes its pid: beside the state. */
function pidPathOf(statePath: string): string {
  return `${statePath}.pid`;
}

/**
 * The pid the holder of the state's lock wrote beside it, if there is one (`ingestor status`
 * asks whether it still runs). It may be stale: a daemon killed by -9 leaves it behind.
 */
export function lockHolderPid(statePath: string): number | undefined {
  let text: string;
  try {
    text = fs.readFileSync(pidPathOf(statePath), 'utf8');
  } catch (error) {
    if (hasCode(error, 'ENOENT')) return undefined;
    throw error;
  }
  const pid = Number(text.trim());
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}
