import fs from 'node:fs';
import type { FsPath } from '../interfaces.js';
import { IngestError, errnoMessage, hasCode } from '../errors.js';
import { displayPath, joinPath } from '../paths.js';

/** Errors from link(2) that mean "this filesystem cannot hard-link", not "this move failed". */
const NO_HARD_LINKS = ['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'EMLINK', 'ENOSYS'];

/**
 * Gives `src` the name `dst` without ever replacing an existing `dst`: link(2) fails with
 * EEXIST instead of overwriting, which rename(2) cannot promise from Node. The caller removes
 * `src` afterwards. On filesystems without hard links, falls back to rename after checking
 * that `dst` is free (the daemon's lock makes it the warehouse's only writer).
 * Returns 'linked' (src still exists) or 'renamed' (src is gone). EXDEV propagates.
 */
export function placeNoReplace(src: FsPath, dst: FsPath): 'linked' | 'renamed' {
  // Synchronous on purpose: metadata calls of a few microseconds, made for a whole batch in a
  // row; a thread-pool round trip for each would cost more than the call.
  try {
    fs.linkSync(src, dst);
    return 'linked';
  } catch (error) {
    if (!hasCode(error, ...NO_HARD_LINKS)) throw error;
  }
  try {
    fs.lstatSync(dst);
    throw Object.assign(new Error(`EEXIST: file already exists, rename -> ${String(dst)}`), {
      code: 'EEXIST',
    });
  } catch (error) {
    if (!hasCode(error, 'ENOENT')) throw error;
  }
  fs.renameSync(src, dst);
  return 'renamed';
}

/**
 * A source that this user may read but not remove or rename (EPERM): another user's file in a
 * sticky directory (a 1777 drop directory), or an immutable one. Not an output volume's failure,
 * and it will not pass by itself: the file is quarantined in place, and the others go on.
 *
 * A rename's EPERM may also be the target's (an immutable warehouse directory, a filesystem
 * that refuses): with `targetDir`, the blame goes to the source only once a file can be made
 * in that directory, so a refusing warehouse still pauses ingestion rather than quarantining
 * the input. Anything else is returned as it was.
 */
export function immovableSource(error: unknown, source: FsPath, targetDir?: FsPath): unknown {
  if (!hasCode(error, 'EPERM')) return error;
  if (targetDir !== undefined && !canCreateIn(targetDir)) return error;
  return new IngestError(
    'INGEST_ERR_SOURCE_IMMOVABLE',
    `${displayPath(source)} cannot be moved out of the input by this user (${errnoMessage(error)}): another user's file in a sticky directory, or an immutable one; change its owner (or the directory's), then ingestor retry`,
    { cause: error },
  );
}

/** Whether a new file can be made (and removed) in `dir`: a probe, on the error path only. */
function canCreateIn(dir: FsPath): boolean {
  const probe = joinPath(dir, `.ingestor-probe-${process.pid}-${Date.now()}`);
  try {
    fs.closeSync(fs.openSync(probe, 'wx'));
    fs.unlinkSync(probe);
    return true;
  } catch {
    return false;
  }
}
