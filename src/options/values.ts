import path from 'node:path';
import { UsageError } from '../errors.js';
import type { RowKind, RowStatus } from '../interfaces.js';

// Parsers of one flag's value. Each throws a UsageError naming the flag and the value as given.

/**
 * A flag's value is bad: `--<flag> <problem>`. Thrown where flags are resolved and where `list`
 * checks its filters, so that the command line can name where the value came from instead
 * (`namedBy`): the flag, its INGESTOR_* variable, or its key in the --config file.
 */
export class FlagValueError extends UsageError {
  readonly flag: string;
  /** What is wrong, after the name: `must be a positive integer, got "0"`. */
  readonly problem: string;

  constructor(flag: string, problem: string, name = `--${flag}`) {
    super(`${name} ${problem}`);
    this.name = 'FlagValueError';
    this.flag = flag;
    this.problem = problem;
  }

  /** The same problem, said of the value's source (`INGESTOR_CONCURRENCY`). */
  namedBy(name: string): FlagValueError {
    return new FlagValueError(this.flag, this.problem, name);
  }
}

/** A flag's single value (a flag given twice is an error, not a silent choice). */
export function single(flag: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (Array.isArray(value)) throw new UsageError(`--${flag} was given more than once`);
  return String(value);
}

/** A file a flag names: absent (undefined), or a non-empty path, resolved. */
export function fileFlag(flag: string, value: unknown): string | undefined {
  const file = single(flag, value);
  if (file === '') throw new FlagValueError(flag, 'must name a file, got ""');
  return file === undefined ? undefined : path.resolve(file);
}

// Numbers as given on the command line, in variables or as strings in a config file: plain
// decimal digits, a fraction only where one makes sense. `Number()` alone would also take
// `0x10`, `1e9`, `+5`, `Infinity` and `""` (as 0).
const INTEGER = /^\d+$/;
const DECIMAL = /^(?:\d+(?:\.\d*)?|\.\d+)$/;

/** A number from a string of plain decimal digits, or a JSON number as it is; else NaN. */
function plainNumber(value: unknown, integer: boolean): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'string' && (integer ? INTEGER : DECIMAL).test(value)) return Number(value);
  return Number.NaN;
}

/**
 * The longest timer Node.js keeps, in seconds: a longer one fires at once (TimeoutOverflowWarning),
 * so that a --stats-interval of 30 days would log without pause, and a --shutdown-timeout of 30
 * days would not wait at all.
 */
export const MAX_TIMER_SECONDS = Math.floor((2 ** 31 - 1) / 1000);

/** A positive number (an integer if `integer`), at most `max` if given. */
export function positiveNumber(
  flag: string,
  value: unknown,
  integer: boolean,
  max?: number,
): number {
  const n = plainNumber(value, integer);
  if (
    !Number.isFinite(n) ||
    n <= 0 ||
    (integer && !Number.isSafeInteger(n)) ||
    (max !== undefined && n > max)
  ) {
    const what = integer ? 'a positive integer' : 'a positive number';
    const bound = max === undefined ? '' : ` no greater than ${max}`;
    throw new FlagValueError(flag, `must be ${what}${bound}, got ${JSON.stringify(value)}`);
  }
  return n;
}

/** Parses a numeric command-line value, naming the flag and the raw value when it is bad. */
export function parseNumberFlag(
  flag: string,
  raw: unknown,
  integer: boolean,
  max?: number,
): number | undefined {
  if (raw === undefined) return undefined;
  if (Array.isArray(raw)) throw new UsageError(`--${flag} was given more than once`);
  return positiveNumber(flag, raw, integer, max);
}

/** `--metrics-port`: 0 (any free port) to 65535. An empty value is not 0. */
export function parsePort(flag: string, raw: unknown): number | undefined {
  if (raw === undefined) return undefined;
  if (Array.isArray(raw)) throw new UsageError(`--${flag} was given more than once`);
  const port = plainNumber(raw, true);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new FlagValueError(flag, `must be a port number (0-65535), got ${JSON.stringify(raw)}`);
  }
  return port;
}

export function oneOf<T extends string>(flag: string, value: unknown, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !allowed.includes(value as T)) {
    throw new FlagValueError(
      flag,
      `must be one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`,
    );
  }
  return value as T;
}

export function requiredPath(flag: string, value: unknown): string {
  if (typeof value !== 'string' || value === '') {
    throw new UsageError(`--${flag} is required`);
  }
  return path.resolve(value);
}

/** The statuses `list --status` accepts, as operators name them. */
export const LIST_STATUSES = {
  __proto__: null,
  ingested: { kind: 'ingest', status: 'committed' },
  duplicate: { kind: 'duplicate', status: 'committed' },
  quarantined: { kind: 'quarantine', status: 'committed' },
  'in-flight': { kind: null, status: 'intent' },
  aborted: { kind: null, status: 'aborted' },
  vanished: { kind: null, status: 'vanished' },
  released: { kind: 'quarantine', status: 'released' },
} as unknown as Readonly<Record<string, { kind: RowKind | null; status: RowStatus }>>;

/** `--status` of `list`: the rows an operator's status name stands for. */
export function parseListStatus(raw: string): { kind: RowKind | null; status: RowStatus } {
  const named = LIST_STATUSES[raw];
  if (named === undefined) {
    throw new FlagValueError(
      'status',
      `must be one of ${Object.keys(LIST_STATUSES).join(', ')}, got ${JSON.stringify(raw)}`,
    );
  }
  return named;
}

/** Parses `--since`: an ISO date/time, or an age like 30s, 15m, 2h, 7d. */
export function parseSince(raw: string, now = Date.now()): number {
  const age = /^(\d+(?:\.\d+)?)([smhd])$/.exec(raw);
  if (age !== null) {
    const unit = { s: 1e3, m: 6e4, h: 3.6e6, d: 8.64e7 }[age[2] as 's' | 'm' | 'h' | 'd'];
    return now - Number(age[1]) * unit;
  }
  const at = Date.parse(raw);
  if (Number.isNaN(at)) {
    throw new FlagValueError(
      'since',
      `must be an ISO date/time or an age like 15m, 2h, 7d, got ${JSON.stringify(raw)}`,
    );
  }
  return at;
}

/** The shortest `--sha256` prefix: shorter ones match too many files to name one. */
export const SHA256_PREFIX_MIN = 6;

/** Parses `--sha256`: a whole SHA-256 or a prefix of at least 6 hex digits, any case. */
export function parseSha256(raw: string): string {
  if (!new RegExp(`^[0-9a-fA-F]{${SHA256_PREFIX_MIN},64}$`).test(raw)) {
    throw new FlagValueError(
      'sha256',
      `must be a SHA-256 (64 hex digits) or a prefix of at least ${SHA256_PREFIX_MIN}, got ${JSON.stringify(raw)}`,
    );
  }
  return raw.toLowerCase();
}

/** `--path` of `list`: any glob but the empty one. */
export function requireGlob(flag: string, glob: string): string {
  if (glob === '') throw new FlagValueError(flag, 'must be a glob, got ""');
  return glob;
}
