import { createHash } from 'node:crypto';
import type { FsPath } from './interfaces.js';
import { toBytes } from './paths.js';

/**
 * The id of a file that has no row yet (pending, in flight, backing off or held): `p` and 22
 * base64url characters of the SHA-256 of its path's bytes. Derived, never stored: the same file
 * has the same id across restarts and in every reply, and no table grows with the input
 * (docs/DESIGN.md). Row ids are plain integers, so the two never collide.
 */
export function pendingId(path: FsPath): string {
  return `p${createHash('sha256').update(toBytes(path)).digest('base64url').slice(0, 22)}`;
}

/** What a pending id looks like (the API's schema checks it before any lookup). */
export const PENDING_ID_PATTERN = '^p[A-Za-z0-9_-]{22}$';
