import fs from 'node:fs';
import path from 'node:path';
import type { FsPath } from './interfaces.js';
import { IngestError, errnoCode, flagPathMessage, hasCode } from './errors.js';
import { dirName } from './paths.js';

/** Makes a directory entry change (create, rename, unlink) in `dir` durable. */
export async function fsyncDir(dir: FsPath): Promise<void> {
  const handle = await fs.promises.open(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

const knownDirs = new Set<string>();

/**
 * `mkdir -p` whose result survives a power cut: every directory it creates is fsynced into its
 * parent. Remembers directories it has seen, so the common case costs nothing.
 */
export async function ensureDir(dir: string): Promise<void> {
  if (knownDirs.has(dir)) return;
  const missing: string[] = [];
  let current = dir;
  for (;;) {
    try {
      const stat = await fs.promises.stat(current);
      if (!stat.isDirectory()) throw new Error(`${JSON.stringify(current)} is not a directory`);
      break;
    } catch (error) {
      if (!hasCode(error, 'ENOENT')) throw error;
      missing.push(current);
      const parent = path.dirname(current);
      if (parent === current) break;
      current = parent;
    }
  }
  for (const created of missing.reverse()) {
    try {
      await fs.promises.mkdir(created);
    } catch (error) {
      if (!hasCode(error, 'EEXIST')) throw error;
    }
    await fsyncDir(path.dirname(created));
  }
  if (knownDirs.size > 10_000) knownDirs.clear();
  knownDirs.add(dir);
}

/**
 * `ensureDir` for a directory a flag names, at start: also checks that entries can be made in
 * it (an existing directory on a read-only volume is found here, before anything is moved), and
 * a failure names the flag, the path and the cause:
 * `--warehouse "/ro/wh" cannot be created: EROFS: read-only file system`.
 */
export async function ensureOutputDir(flag: string, dir: string): Promise<void> {
  try {
    await ensureDir(dir);
  } catch (error) {
    if (errnoCode(error) === undefined) throw error;
    const message = flagPathMessage(flag, dir, 'cannot be created', error);
    throw new IngestError('INGEST_ERR_OUTPUT', message, { cause: error });
  }
  try {
    await fs.promises.access(dir, fs.constants.W_OK | fs.constants.X_OK);
  } catch (error) {
    if (errnoCode(error) === undefined) throw error;
    const message = flagPathMessage(flag, dir, 'cannot be written', error);
    throw new IngestError('INGEST_ERR_OUTPUT', message, { cause: error });
  }
}

/**
 * Throws the system error (EROFS, EACCES, ENOTDIR, ...) that would stop `file` from being
 * created or opened for writing where it is, without opening it: a close would drop the POSIX
 * locks SQLite holds on it in this process. Its directory must take new entries (SQLite puts
 * its -wal, -shm and journal files beside it).
 */
export function checkWritableFile(file: string): void {
  fs.accessSync(path.dirname(file), fs.constants.W_OK | fs.constants.X_OK);
  try {
    fs.accessSync(file, fs.constants.R_OK | fs.constants.W_OK);
  } catch (error) {
    if (!hasCode(error, 'ENOENT')) throw error;
  }
}

/**
 * Writes all of `bytes` at `position` (null: at the end of a file opened to append). write(2)
 * may write less than asked and report no error, when a volume fills up mid-write, and
 * FileHandle.write does not go on: this does, so that the next call reports the error instead
 * of leaving a short file that looks whole.
 */
export async function writeFully(
  handle: fs.promises.FileHandle,
  bytes: Uint8Array,
  position: number | null,
): Promise<void> {
  for (let done = 0; done < bytes.length;) {
    const at = position === null ? null : position + done;
    const { bytesWritten } = await handle.write(bytes, done, bytes.length - done, at);
    if (bytesWritten === 0) {
      throw Object.assign(new Error('EIO: write made no progress'), { code: 'EIO' });
    }
    done += bytesWritten;
  }
}

/** lstat that answers undefined for a missing path. */
export async function lstatIfExists(p: FsPath): Promise<fs.Stats | undefined> {
  try {
    return await fs.promises.lstat(p);
  } catch (error) {
    if (hasCode(error, 'ENOENT', 'ENOTDIR')) return undefined;
    throw error;
  }
}

/** Synchronous lstat that answers undefined for a missing path (batch metadata work). */
export function lstatSyncIfExists(p: FsPath): fs.Stats | undefined {
  try {
    return fs.lstatSync(p);
  } catch (error) {
    if (hasCode(error, 'ENOENT', 'ENOTDIR')) return undefined;
    throw error;
  }
}

/** Synchronous unlink that treats a missing path as done (batch metadata work). */
export function unlinkSyncIfExists(p: FsPath): boolean {
  try {
    fs.unlinkSync(p);
    return true;
  } catch (error) {
    if (hasCode(error, 'ENOENT')) return false;
    throw error;
  }
}

/** unlink that treats an already missing path as done; true when it removed something. */
export async function unlinkIfExists(p: FsPath): Promise<boolean> {
  try {
    await fs.promises.unlink(p);
    return true;
  } catch (error) {
    if (hasCode(error, 'ENOENT')) return false;
    throw error;
  }
}

/**
 * ' (the volume holding it has no free space left)' when the volume holding `file` is full,
 * else ''. SQLite reports a full volume as "disk I/O error" when it cannot size its shared
 * memory file, and as "database or disk is full" without a path: this says which.
 */
export function noSpaceHint(file: FsPath): string {
  try {
    const stats = fs.statfsSync(dirName(file));
    return stats.bavail === 0 ? ' (the volume holding it has no free space left)' : '';
  } catch {
    return '';
  }
}
