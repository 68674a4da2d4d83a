import { isUtf8 } from 'node:buffer';
import path from 'node:path';
import type { FsPath } from './interfaces.js';

const SLASH = 0x2f;

/**
 * Turns raw name bytes from the kernel into an FsPath: a string when the bytes are valid
 * UTF-8 (the common case, and the one every API handles), the Buffer itself otherwise.
 */
export function fromBytes(bytes: Buffer): FsPath {
  return isUtf8(bytes) ? bytes.toString('utf8') : bytes;
}

/** The raw bytes of a path. */
export function toBytes(p: FsPath): Buffer {
  return typeof p === 'string' ? Buffer.from(p, 'utf8') : p;
}

/** `dir/name` for paths that may be Buffers. */
export function joinPath(dir: FsPath, name: FsPath): FsPath {
  if (typeof dir === 'string' && typeof name === 'string') return path.join(dir, name);
  const d = toBytes(dir);
  const n = toBytes(name);
  const needsSlash = d.length > 0 && d[d.length - 1] !== SLASH;
  return Buffer.concat(needsSlash ? [d, Buffer.from('/'), n] : [d, n]);
}

/** The last component of a path. */
export function baseName(p: FsPath): FsPath {
  if (typeof p === 'string') return path.basename(p);
  const i = p.lastIndexOf(SLASH);
  return i < 0 ? p : p.subarray(i + 1);
}

/** The directory part of a path. */
export function dirName(p: FsPath): FsPath {
  if (typeof p === 'string') return path.dirname(p);
  const i = p.lastIndexOf(SLASH);
  if (i < 0) return '.';
  return fromBytes(Buffer.from(p.subarray(0, i === 0 ? 1 : i)));
}

/** A string for humans and logs: invalid bytes are shown as U+FFFD. */
export function displayPath(p: FsPath): string {
  return typeof p === 'string' ? p : p.toString('utf8');
}

/** A string that identifies a path exactly, for Map keys. */
export function pathKey(p: FsPath): string {
  return typeof p === 'string' ? p : `\0b64:${p.toString('base64')}`;
}

/** Appends a suffix (such as `.ok`) to a path. */
export function withSuffix(p: FsPath, suffix: string): FsPath {
  return typeof p === 'string' ? p + suffix : Buffer.concat([p, Buffer.from(suffix)]);
}

/** Removes a suffix from a path; the caller has checked that it ends with it. */
export function withoutSuffix(p: FsPath, suffix: string): FsPath {
  if (typeof p === 'string') return p.slice(0, p.length - suffix.length);
  return fromBytes(Buffer.from(p.subarray(0, p.length - Buffer.byteLength(suffix))));
}

/** True when `child` is `parent` or lies below it (both absolute, normalised). */
export function isInside(child: string, parent: string): boolean {
  const rel = path.relative(parent, child);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}
