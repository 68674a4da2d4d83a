import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { FsPath } from './interfaces.js';
import { fromBytes, joinPath, pathKey, toBytes } from './paths.js';

/** Linux's limit on one name, in bytes. */
export const NAME_MAX = 255;

const COMPRESSION = new Set(['.gz', '.bz2', '.xz', '.zst', '.lz4', '.br', '.z']);
const DOT = 0x2e;

/** Splits `a.csv.gz` into `a` and `.csv.gz`; a leading dot is part of the stem. */
export function splitExtension(name: Buffer): [Buffer, Buffer] {
  const last = name.lastIndexOf(DOT);
  if (last <= 0) return [name, Buffer.alloc(0)];
  const ext = name.subarray(last).toString('latin1').toLowerCase();
  if (COMPRESSION.has(ext)) {
    const prev = name.lastIndexOf(DOT, last - 1);
    if (prev > 0 && last - prev <= 8) return [name.subarray(0, prev), name.subarray(prev)];
  }
  if (name.length - last > 16) return [name, Buffer.alloc(0)]; // not an extension
  return [name.subarray(0, last), name.subarray(last)];
}

/** Cuts `bytes` to at most `max` bytes without splitting a UTF-8 sequence. */
export function truncateBytes(bytes: Buffer, max: number): Buffer {
  if (bytes.length <= max) return bytes;
  let end = max;
  // Step back over continuation bytes (10xxxxxx) so that a character is never cut.
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end -= 1;
  return bytes.subarray(0, end);
}

/**
 * The name a file gets in the warehouse on its `attempt`-th try (0 first). A name already
 * used that day by other content becomes `<stem>~<first 12 hex of sha256><ext>` (then
 * `-2`, `-3`, ...), shortened to fit in 255 bytes by cutting the stem.
 */
export function candidateName(name: FsPath, sha256: string, attempt: number): FsPath {
  const bytes = toBytes(name);
  if (attempt === 0 && bytes.length <= NAME_MAX) return name;
  const [stem, ext] = splitExtension(bytes);
  const tag = Buffer.from(`~${sha256.slice(0, 12)}${attempt > 1 ? `-${attempt}` : ''}`);
  const safeExt = ext.length + tag.length < NAME_MAX / 2 ? ext : Buffer.alloc(0);
  const room = NAME_MAX - tag.length - safeExt.length;
  return fromBytes(Buffer.concat([truncateBytes(stem, room), tag, safeExt]));
}

/**
 * The first of `name`'s candidate names (see candidateName, tagged with `tag`) that is neither
 * on disk in `dir` nor in `reserved`; reserves it. `lstat` without throwing: a dangling symlink
 * counts as a name taken, and a missing name costs no exception (`existsSync` took 2.8 us a
 * name here, this 1.1 us).
 */
export function freeName(dir: FsPath, name: FsPath, tag: string, reserved: Set<string>): FsPath {
  for (let attempt = 0; ; attempt += 1) {
    const dest = joinPath(dir, candidateName(name, tag, attempt));
    const key = pathKey(dest);
    if (!reserved.has(key) && fs.lstatSync(dest, { throwIfNoEntry: false }) === undefined) {
      reserved.add(key);
      return dest;
    }
  }
}

/** No file can have this name: a duplicate deleted, or a file quarantined in place. */
export const NO_DEST = '';

/** True for a row destination that is NO_DEST. */
export function isNoDest(dest: FsPath): boolean {
  return toBytes(dest).length === 0;
}

/** A fresh temporary file name (hidden, never a data name). */
export function temporaryName(): string {
  return `.ingestor-${randomBytes(8).toString('hex')}.tmp`;
}

/** The most characters of a node id kept in its manifests' names. */
const NODE_TAG_MAX = 48;

/**
 * A node id as it appears in file names: itself when it is made of `[A-Za-z0-9._-]` (and does
 * not start with a dot), otherwise those characters with `_` for the rest and eight hex digits
 * of its SHA-256, so that two ids never share a name.
 */
export function nodeTag(nodeId: string): string {
  const plain = nodeId.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\./, '_');
  if (plain === nodeId && plain.length <= NODE_TAG_MAX) return plain;
  const digest = createHash('sha256').update(nodeId).digest('hex').slice(0, 8);
  return `${plain.slice(0, NODE_TAG_MAX)}-${digest}`;
}

/** Directory, inside the warehouse, holding copies in progress. */
export const TMP_DIR_NAME = '.ingestor-tmp';

/**
 * Where this daemon's copies in progress are, inside the warehouse (and the duplicates
 * directory): `.ingestor-tmp`, or with several daemons sharing the warehouse a directory of
 * each one's below it (`.ingestor-tmp/<node>`), so that a daemon that starts clears only its
 * own leftovers.
 */
export function tmpDirOf(root: string, node: string | undefined): string {
  return node === undefined
    ? path.join(root, TMP_DIR_NAME)
    : path.join(root, TMP_DIR_NAME, nodeTag(node));
}
