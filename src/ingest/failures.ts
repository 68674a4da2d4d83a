import { IngestError, errnoCode } from '../errors.js';

/**
 * What a failure means for the file and for the daemon:
 * - `changed`: the file is not ready after all (changed, replaced, vanished): wait again;
 * - `retry`: reading this file failed in a way that may pass (EIO, EBUSY...): try the file again
 *   later with backoff, counting attempts; when they run out it is quarantined;
 * - `quarantine`: this file can never be read as it is (permissions, not a regular file...):
 *   move it aside at once so that it does not block the queue;
 * - `pause`: an output volume (warehouse, manifests, state) is full, read-only, locked or
 *   failing: no file is to blame, so all ingestion pauses and backs off, attempts uncounted.
 */
export type FailureClass = 'changed' | 'retry' | 'quarantine' | 'pause';

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

/** The file's own doing, not the daemon's: retried when they change, never in a loop. */
const CHANGED_CODES: ReadonlySet<string> = new Set([
  'INGEST_ERR_CHANGED',
  'INGEST_ERR_VANISHED',
  'INGEST_ERR_OPEN_FOR_WRITING',
  'INGEST_ERR_EMPTY_UNSEEN',
  'INGEST_ERR_LINKED',
]);

/** An error from reading the source file (as opposed to writing outputs or state). */
export class SourceReadError extends IngestError {
  constructor(message: string, cause: unknown) {
    super('INGEST_ERR_SOURCE_READ', message, { cause });
    this.name = 'SourceReadError';
  }
}

export function classifyFailure(error: unknown): FailureClass {
  const code = errnoCode(error);
  if (code !== undefined && CHANGED_CODES.has(code)) return 'changed';
  if (code === 'INGEST_ERR_NOT_REGULAR') return 'quarantine';
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
