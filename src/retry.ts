import fs from 'node:fs';
import { describeError, hasCode } from './errors.js';
import { fsyncDir, lstatIfExists, unlinkIfExists } from './fsutil.js';
import { placeNoReplace } from './ingest/move.js';
import { candidateName } from './ingest/naming.js';
import type { FileRow, FsPath } from './interfaces.js';
import { baseName, dirName, displayPath, joinPath, toBytes, withSuffix } from './paths.js';
import { openSqliteState } from './state/sqlite-store.js';

export interface RetryResult {
  id: number;
  source: string;
  /** Where the file is now: back in the input (or left there, if quarantined in place). */
  restoredTo: string | null;
  error?: string;
}

/** A free name for the file back in its original directory (the original name if free). */
function returnPath(row: FileRow): FsPath {
  const dir = dirName(row.source);
  for (let attempt = 0; ; attempt += 1) {
    const candidate =
      attempt === 0
        ? row.source
        : joinPath(dir, candidateName(baseName(row.source), `retry${row.id}`, attempt));
    if (!fs.existsSync(candidate)) return candidate;
  }
}

async function moveBack(from: FsPath, to: FsPath): Promise<void> {
  try {
    if (placeNoReplace(from, to) === 'linked') await fs.promises.unlink(from);
  } catch (error) {
    if (!hasCode(error, 'EXDEV')) throw error;
    await fs.promises.copyFile(from, to, fs.constants.COPYFILE_EXCL);
    await fs.promises.unlink(from);
  }
}

/**
 * Puts quarantined files back where they came from, so that the daemon tries them again
 * (a file quarantined in place is simply released). `ids` empty: every quarantined file.
 * Safe while the daemon runs: a file put back is a new arrival, and the state is shared
 * through SQLite's locking.
 */
export async function retryQuarantined(
  statePath: string,
  ids: readonly number[],
): Promise<RetryResult[]> {
  const store = openSqliteState(statePath);
  const results: RetryResult[] = [];
  try {
    const wanted = new Set(ids);
    const rows = store.quarantined().filter((r) => wanted.size === 0 || wanted.has(r.id));
    for (const id of wanted) {
      if (!rows.some((r) => r.id === id)) {
        results.push({
          id,
          source: '',
          restoredTo: null,
          error: 'no quarantined file has this id',
        });
      }
    }
    for (const row of rows) {
      const source = displayPath(row.source);
      try {
        if (toBytes(row.dest).length === 0) {
          store.release(row.id, Date.now());
          results.push({ id: row.id, source, restoredTo: source });
          continue;
        }
        if ((await lstatIfExists(row.dest)) === undefined) {
          throw new Error(`${displayPath(row.dest)} is no longer in quarantine`);
        }
        const target = returnPath(row);
        await fs.promises.mkdir(dirName(target) as string, { recursive: true });
        await moveBack(row.dest, target);
        await fsyncDir(dirName(target));
        await unlinkIfExists(withSuffix(row.dest, '.reason.json'));
        if (row.sidecar !== null) {
          // Sidecar mode: the file was complete when it failed; mark it complete again.
          await fs.promises.writeFile(withSuffix(target, '.ok'), '');
        }
        store.release(row.id, Date.now());
        results.push({ id: row.id, source, restoredTo: displayPath(target) });
      } catch (error) {
        results.push({ id: row.id, source, restoredTo: null, error: describeError(error) });
      }
    }
  } finally {
    store.close();
  }
  return results;
}
