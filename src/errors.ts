/**
 * The catalogue of errors Ingestor raises itself. Filesystem and SQLite errors keep their own
 * `code` and are wrapped only where the wrapper adds what the operator needs (which file,
 * which step), with the original as `cause`.
 */
export const ERROR_CODES = Object.freeze({
  __proto__: null,
  INGEST_ERR_USAGE: 'a command-line flag or option has a bad value',
  INGEST_ERR_LOCKED: 'another ingestor holds the state file',
  INGEST_ERR_STATE: 'the state database cannot be used',
  INGEST_ERR_OUTPUT: 'an output directory cannot be created or written',
  INGEST_ERR_RECOVERY: 'recovery found state and disk that disagree',
  INGEST_ERR_CHANGED: 'the file changed while it was read',
  INGEST_ERR_NOT_REGULAR: 'the path is not a regular file',
  INGEST_ERR_VANISHED: 'the file disappeared before it was moved',
  INGEST_ERR_OPEN_FOR_WRITING: 'another process has the file open for writing',
  INGEST_ERR_EMPTY_UNSEEN:
    'an empty file on a volume where writers cannot be seen, younger than the empty-file wait',
  INGEST_ERR_LINKED: 'the file gained another hard link before it was moved',
  INGEST_ERR_INPUT_LOCKED: 'another ingestor, with another state, ingests this input',
  INGEST_ERR_SOURCE_READ: 'the source file cannot be read',
  INGEST_ERR_SOURCE_IMMOVABLE: 'the source file cannot be moved out of the input by this user',
  INGEST_ERR_CANCELLED:
    'an operator cancelled the file while it was read; it is held until released',
  INGEST_ERR_STOPPING: 'the daemon is stopping: the file waits in the input for the next start',
  INGEST_ERR_TOO_LARGE: 'the file is larger than --max-file-size; it is quarantined unread',
  INGEST_ERR_LOW_SPACE:
    'an output volume has less free space than --min-free-space; ingestion pauses until it has more',
  INGEST_ERR_READ_STALLED:
    'a read made no progress for --read-stall-timeout seconds (a hung mount); it is abandoned and retried',
  INGEST_ERR_VOLUME_STALLED:
    "reads on the file's volume are hung (an earlier read there is stuck); the file waits, no attempt counted",
  INGEST_ERR_HASHER_STOPPED:
    "the thread reading the file stopped (not the file's fault); it is read again",
  INGEST_ERR_LEASE_LOST:
    "the daemon's lease in the shared state ran out (the database was unreachable, or the daemon was stopped too long): it places nothing more, and another daemon may take its files over",
  INGEST_ERR_HOUR_CLOSED:
    'a manifest line was to land in an hour already closed (its _SUCCESS written): a bug; nothing was appended',
} as const);

export type ErrorCode = Exclude<keyof typeof ERROR_CODES, '__proto__'>;

export class IngestError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'IngestError';
    this.code = code;
  }
}

/** Exit codes: 0 done, 1 runtime failure (or files failed in --once), 2 usage error. */
export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

/** A bad flag or option: the CLI prints the message on one line and exits 2 (EXIT.usage). */
export class UsageError extends IngestError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('INGEST_ERR_USAGE', message, options);
    this.name = 'UsageError';
  }
}

/**
 * A step refused because this daemon's lease in a shared state ran out (or another daemon took
 * its files over): it changes nothing more, and restarts itself.
 */
export class FencedError extends IngestError {
  constructor(message: string) {
    super('INGEST_ERR_LEASE_LOST', message);
    this.name = 'FencedError';
  }
}

/** An error from reading the source file (as opposed to writing outputs or state). */
export class SourceReadError extends IngestError {
  constructor(message: string, cause: unknown) {
    super('INGEST_ERR_SOURCE_READ', message, { cause });
    this.name = 'SourceReadError';
  }
}

/** A volume (an output's or the state's) is full: an incident that passes when space returns. */
export const FULL_VOLUME_CODES: readonly string[] = ['ENOSPC', 'EDQUOT', 'SQLITE_FULL'];

/** The errno code of a Node.js system error, or undefined. */
export function errnoCode(error: unknown): string | undefined {
  if (error !== null && typeof error === 'object' && 'code' in error) {
    const { code } = error as { code: unknown };
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}

/** True when `error` is a system error with one of the given codes. */
export function hasCode(error: unknown, ...codes: string[]): boolean {
  const code = errnoCode(error);
  return code !== undefined && codes.includes(code);
}

/**
 * A system error's own words, without the syscall and path Node.js appends: "EROFS: read-only
 * file system" for "EROFS: read-only file system, mkdir '/ro/wh'", for messages that name the
 * path themselves. Other errors: their message.
 */
export function errnoMessage(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const { syscall } = error as { syscall?: unknown };
  const at = typeof syscall === 'string' ? error.message.indexOf(`, ${syscall}`) : -1;
  return at > 0 ? error.message.slice(0, at) : error.message;
}

/**
 * How a path given by a flag that cannot be used is reported:
 * `--warehouse "/ro/wh" cannot be created: EROFS: read-only file system`.
 */
export function flagPathMessage(flag: string, p: string, problem: string, cause?: unknown): string {
  const why = cause === undefined ? '' : `: ${errnoMessage(cause)}`;
  return `--${flag} ${JSON.stringify(p)} ${problem}${why}`;
}

/**
 * One line for a log or a terminal: the message, and the cause's message if there is one (and
 * the message does not already say it).
 */
export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause =
    error.cause instanceof Error && !error.message.includes(errnoMessage(error.cause))
      ? `: ${error.cause.message}`
      : '';
  return `${error.message}${cause}`;
}
