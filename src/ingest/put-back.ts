import fs from 'node:fs';
import { hasCode } from '../errors.js';
import { fsyncDir, lstatIfExists, unlinkIfExists } from '../fsutil.js';
import type { FileRow, FsPath } from '../interfaces.js';
import { freeName, isNoDest } from '../naming.js';
import { baseName, dirName, displayPath, withSuffix } from '../paths.js';
import type { StateStore } from '../state/store.js';
import { placeNoReplace } from './move.js';

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
 * Puts one quarantined file back where it came from, so that the daemon tries it again (a file
 * quarantined in place is simply released), and marks its row released. What `ingestor retry`
 * and the API's retry both do. Returns where the file is now; throws when it cannot be put back
 * (the row stays quarantined).
 */
export async function putBack(
  store: Pick<StateStore, 'release'>,
  row: FileRow,
  at: number,
): Promise<FsPath> {
  if (isNoDest(row.dest)) {
    await store.release(row.id, at);
    return row.source;
  }
  if ((await lstatIfExists(row.dest)) === undefined) {
    throw new Error(`${displayPath(row.dest)} is no longer in quarantine`);
  }
  // Back under its own name, or a tagged one if the name has been reused since.
  const target = freeName(dirName(row.source), baseName(row.source), `retry${row.id}`, new Set());
  await fs.promises.mkdir(dirName(target) as string, { recursive: true });
  await moveBack(row.dest, target);
  await fsyncDir(dirName(target));
  await unlinkIfExists(withSuffix(row.dest, '.reason.json'));
  if (row.sidecar !== null) {
    // Sidecar mode: the file was complete when it failed; mark it complete again.
    await fs.promises.writeFile(withSuffix(target, '.ok'), '');
  }
  await store.release(row.id, at);
  return target;
}
