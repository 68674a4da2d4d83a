import fs from 'node:fs';
import type { FsPath } from '../interfaces.js';
import { displayPath, fromBytes, joinPath } from '../paths.js';
import { hasCode } from '../errors.js';

export type EntryType = 'file' | 'dir' | 'symlink' | 'fifo' | 'socket' | 'device' | 'gone';

export interface ScanEntry {
  path: FsPath;
  name: FsPath;
  /** The name as text (invalid bytes as U+FFFD), for filters and logs. */
  nameText: string;
  /** Path relative to the scan root, as text. */
  relPath: string;
  type: EntryType;
}

export interface ScanOptions {
  /** Directories not descended into. */
  skipDirectory(nameText: string): boolean;
  /** A directory that could not be read (permissions, I/O): reported, the scan goes on. */
  onDirectoryError(dir: FsPath, error: unknown): void;
  /** Entries read per readdir call. Default 256. */
  bufferSize?: number;
}

/** The type of a directory entry or lstat result; undefined when the dirent does not say. */
export function typeOf(d: fs.Dirent | fs.Stats): EntryType | undefined {
  if (d.isFile()) return 'file';
  if (d.isDirectory()) return 'dir';
  if (d.isSymbolicLink()) return 'symlink';
  if (d.isFIFO()) return 'fifo';
  if (d.isSocket()) return 'socket';
  if (d.isBlockDevice() || d.isCharacterDevice()) return 'device';
  return undefined;
}

async function classify(path: FsPath, dirent: fs.Dirent): Promise<EntryType> {
  const fromDirent = typeOf(dirent);
  if (fromDirent !== undefined) return fromDirent;
  // DT_UNKNOWN (some network and older filesystems): ask lstat, never following links.
  try {
    return typeOf(await fs.promises.lstat(path)) ?? 'device';
  } catch (error) {
    if (hasCode(error, 'ENOENT', 'ENOTDIR')) return 'gone';
    throw error;
  }
}

/**
 * Walks the tree under `root` in batches, depth first, without ever holding a full directory
 * listing: each directory is read `bufferSize` entries at a time with opendir. Symlinks are
 * reported, never followed. Yields arrays of entries (subdirectories included, type `dir`).
 */
export async function* scanTree(root: string, options: ScanOptions): AsyncGenerator<ScanEntry[]> {
  const bufferSize = options.bufferSize ?? 256;
  const stack: { dir: FsPath; rel: string }[] = [{ dir: root, rel: '' }];
  while (stack.length > 0) {
    const { dir, rel } = stack.pop()!;
    let handle: fs.Dir;
    try {
      handle = await fs.promises.opendir(dir, { encoding: 'buffer', bufferSize } as never);
    } catch (error) {
      if (hasCode(error, 'ENOENT', 'ENOTDIR')) continue; // removed since it was listed
      options.onDirectoryError(dir, error);
      continue;
    }
    let batch: ScanEntry[] = [];
    try {
      for await (const dirent of handle) {
        const name = fromBytes(dirent.name as unknown as Buffer);
        const nameText = displayPath(name);
        const path = joinPath(dir, name);
        const relPath = rel === '' ? nameText : `${rel}/${nameText}`;
        const type = await classify(path, dirent);
        if (type === 'gone') continue;
        if (type === 'dir' && !options.skipDirectory(nameText)) {
          stack.push({ dir: path, rel: relPath });
        }
        batch.push({ path, name, nameText, relPath, type });
        if (batch.length >= bufferSize) {
          yield batch;
          batch = [];
        }
      }
    } catch (error) {
      if (!hasCode(error, 'ENOENT', 'ENOTDIR')) options.onDirectoryError(dir, error);
    }
    if (batch.length > 0) yield batch;
  }
}
