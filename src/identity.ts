import type fs from 'node:fs';
import type { FileIdentity } from './interfaces.js';

/** The spec's identity of whatever `stat` describes. */
export function identityOf(stat: fs.Stats): FileIdentity {
  return { device: stat.dev, inode: stat.ino, size: stat.size, mtimeMs: stat.mtimeMs };
}

/** Whether two observations describe the same version of the same file. */
export function sameIdentity(a: FileIdentity, b: FileIdentity): boolean {
  return (
    a.device === b.device && a.inode === b.inode && a.size === b.size && a.mtimeMs === b.mtimeMs
  );
}
