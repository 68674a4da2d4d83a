import fs from 'node:fs';
import { EXIT, describeError, hasCode } from '../errors.js';
import { fsyncDir, lstatIfExists, unlinkIfExists } from '../fsutil.js';
import { placeNoReplace } from '../ingest/move.js';
import { freeName, isNoDest } from '../naming.js';
import type { FsPath } from '../interfaces.js';
import type { RetryCommandOptions } from '../options/types.js';
import { baseName, dirName, displayPath, withSuffix } from '../paths.js';
import { openState } from '../state/open.js';

export interface RetryResult {
  id: number;
  source: string;
  /** Where the file is now: back in the input (or left there, if quarantined in place). */
  restoredTo: string | null;
  error?: string;
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
  const store = await openState({ statePath }, { mustExist: true });
  const results: RetryResult[] = [];
  try {
    const wanted = new Set(ids);
    const rows = (await store.quarantined()).filter((r) => wanted.size === 0 || wanted.has(r.id));
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
        if (isNoDest(row.dest)) {
          await store.release(row.id, Date.now());
          results.push({ id: row.id, source, restoredTo: source });
          continue;
        }
        if ((await lstatIfExists(row.dest)) === undefined) {
          throw new Error(`${displayPath(row.dest)} is no longer in quarantine`);
        }
        // Back under its own name, or a tagged one if the name has been reused since.
        const target = freeName(
          dirName(row.source),
          baseName(row.source),
          `retry${row.id}`,
          new Set(),
        );
        await fs.promises.mkdir(dirName(target) as string, { recursive: true });
        await moveBack(row.dest, target);
        await fsyncDir(dirName(target));
        await unlinkIfExists(withSuffix(row.dest, '.reason.json'));
        if (row.sidecar !== null) {
          // Sidecar mode: the file was complete when it failed; mark it complete again.
          await fs.promises.writeFile(withSuffix(target, '.ok'), '');
        }
        await store.release(row.id, Date.now());
        results.push({ id: row.id, source, restoredTo: displayPath(target) });
      } catch (error) {
        results.push({ id: row.id, source, restoredTo: null, error: describeError(error) });
      }
    }
  } finally {
    await store.close();
  }
  return results;
}

/** `ingestor retry`: what was put back and what was not, on stdout; exit 1 if any was not. */
export async function retryCommand(o: RetryCommandOptions): Promise<number> {
  const results = await retryQuarantined(o.statePath, o.ids);
  const lines = results.map((r) =>
    r.error === undefined
      ? `retry      #${r.id} ${r.source} -> ${r.restoredTo}\n`
      : `not retried #${r.id} ${r.source}: ${r.error}\n`,
  );
  const failed = results.filter((r) => r.error !== undefined).length;
  // One write: a reader that leaves early fails it once (see the end of bin/ingestor.ts).
  process.stdout.write(
    `${lines.join('')}retry: ${results.length - failed} put back, ${failed} failed\n`,
  );
  return failed === 0 ? EXIT.ok : EXIT.failure;
}
