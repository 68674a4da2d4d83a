import { SourceReadError, errnoCode } from '../errors.js';
import type { FailureClass } from '../interfaces.js';

export { SourceReadError };

/** Reading a source failed with these: the condition may pass. */
export const TRANSIENT_SOURCE_CODES: ReadonlySet<string> = new Set([
  'EIO',
  'EBUSY',
  'EAGAIN',
  'EWOULDBLOCK',
  'EINTR',
  'EMFILE',
  'ENFILE',
  'ENOMEM',
  'ETIMEDOUT',
  'ESTALE',
  'EHOSTDOWN',
  'ENETDOWN',
]);

/** Not ready after all (the file's own doing, not the daemon's): it waits again, no attempt counted. */
const CHANGED_CODES: ReadonlySet<string> = new Set([
  'INGEST_ERR_CHANGED',
  'INGEST_ERR_VANISHED',
  'INGEST_ERR_OPEN_FOR_WRITING',
  'INGEST_ERR_EMPTY_UNSEEN',
  'INGEST_ERR_LINKED',
  // A hashing thread that died: not the file's doing either, and nothing to count against it.
  'INGEST_ERR_HASHER_STOPPED',
  // Its volume's reads are hung: not read at all (no thread is risked on it), nothing to count.
  'INGEST_ERR_VOLUME_STALLED',
]);

/** A source that makes no progress: tried again with backoff, quarantined after --max-retries. */
const RETRY_CODES: ReadonlySet<string> = new Set(['INGEST_ERR_READ_STALLED']);

export function classifyFailure(error: unknown): FailureClass {
  const code = errnoCode(error);
  if (code !== undefined && CHANGED_CODES.has(code)) return 'changed';
  if (code !== undefined && RETRY_CODES.has(code)) return 'retry';
  if (
    code === 'INGEST_ERR_NOT_REGULAR' ||
    code === 'INGEST_ERR_SOURCE_IMMOVABLE' ||
    code === 'INGEST_ERR_TOO_LARGE'
  ) {
    return 'quarantine';
  }
  if (error instanceof SourceReadError) {
    const cause = errnoCode(error.cause);
    return cause !== undefined && TRANSIENT_SOURCE_CODES.has(cause) ? 'retry' : 'quarantine';
  }
  // Writing the warehouse, the manifests or the state failed: ENOSPC, EDQUOT, EROFS, EIO,
  // SQLITE_FULL, SQLITE_BUSY, SQLITE_READONLY, EACCES on an output directory... None of these
  // is the file's fault, and quarantining files for them would empty the input into quarantine.
  return 'pause';
}

/**
 * Exponential backoff with jitter around the nominal delay (0.5x to 1.5x), never above the cap:
 * the cap is what README promises, jitter included.
 */
export function backoffMs(
  attempt: number,
  baseMs: number,
  capMs: number,
  random = Math.random,
): number {
  const nominal = Math.min(capMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.min(capMs, Math.round(nominal * (0.5 + random())));
}
