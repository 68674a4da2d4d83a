import fs from 'node:fs';
import path from 'node:path';
import type { LevelWithSilent } from 'pino';
import { UsageError, flagPathMessage, hasCode } from './errors.js';
import type { Mode, OnDuplicate } from './interfaces.js';
import { isInside } from './paths.js';

/** Options as a caller gives them; every field but the three directories has a default. */
export interface IngestorOptions {
  /** The staging directory. Required; must exist. */
  input: string;
  /** Root of the date-partitioned warehouse. Required; created if missing. */
  warehouse: string;
  /** Root of the hourly manifests. Required; created if missing. */
  manifests: string;
  /** SQLite state file. Default: `<manifests>/ingestor.db`. Never inside the input. */
  statePath?: string;
  /** How completion is decided. Default: `stability`. */
  mode?: Mode;
  /** Stability window in seconds (fractions allowed). Default: 5. */
  stabilitySeconds?: number;
  /** Files read and hashed at once (on worker threads). Default: 16. */
  concurrency?: number;
  /** Report what would happen and change nothing. Default: false. */
  dryRun?: boolean;
  /** One pass over the input, then exit. Default: false. */
  once?: boolean;
  /** Globs (relative to the input) of files never ingested. Default: none. */
  exclude?: readonly string[];
  /** What to do with a file whose content is already ingested. Default: `move`. */
  onDuplicate?: OnDuplicate;
  /** Where duplicates go with `onDuplicate: 'move'`. Default: `<warehouse>/_duplicates`. */
  duplicatesDir?: string;
  /** Where files that cannot be ingested go. Default: `<warehouse>/_quarantine`. */
  quarantineDir?: string;
  /** Attempts for a file whose reads fail transiently before it is quarantined. Default: 8. */
  maxRetries?: number;
  /** Shortest interval between full scans, in seconds. Default: 30 (scans also adapt to their cost). */
  scanIntervalSeconds?: number;
  /** Most files per group commit. Default: 256. */
  batchSize?: number;
  /** Seconds between structured stats log lines. Default: 60. */
  statsIntervalSeconds?: number;
  /**
   * Most not-yet-complete files remembered between scans (the rest are found again by the
   * next scan). Default: 50,000. Advanced; no command-line flag.
   */
  pendingCapacity?: number;
}

export interface ResolvedOptions {
  readonly input: string;
  readonly warehouse: string;
  readonly manifests: string;
  readonly statePath: string;
  readonly mode: Mode;
  readonly stabilityMs: number;
  readonly concurrency: number;
  readonly dryRun: boolean;
  readonly once: boolean;
  readonly exclude: readonly string[];
  readonly onDuplicate: OnDuplicate;
  readonly duplicatesDir: string;
  readonly quarantineDir: string;
  readonly maxRetries: number;
  readonly scanIntervalMs: number;
  readonly batchSize: number;
  readonly pendingCapacity: number;
  readonly statsIntervalMs: number;
}

export const defaults = {
  mode: 'stability',
  stabilitySeconds: 5,
  concurrency: 16,
  dryRun: false,
  once: false,
  exclude: [],
  onDuplicate: 'move',
  scanIntervalSeconds: 30,
  batchSize: 256,
  maxRetries: 8,
  pendingCapacity: 50_000,
  statsIntervalSeconds: 60,
} as const satisfies Omit<
  Required<IngestorOptions>,
  'input' | 'warehouse' | 'manifests' | 'statePath' | 'duplicatesDir' | 'quarantineDir'
>;

/** Defaults of the flags that are not ingest options: the daemon's, and `list`'s. */
export const commandDefaults = {
  /** --log-level. */
  logLevel: 'info',
  /** --metrics-host: the metrics server listens on loopback only unless told otherwise. */
  metricsHost: '127.0.0.1',
  /** --shutdown-timeout, in seconds. */
  shutdownTimeoutSeconds: 30,
  /** `list --limit`. */
  listLimit: 50,
} as const satisfies {
  logLevel: LevelWithSilent;
  metricsHost: string;
  shutdownTimeoutSeconds: number;
  listLimit: number;
};

export const MODES: readonly Mode[] = ['stability', 'sidecar'];
export const ON_DUPLICATE: readonly OnDuplicate[] = ['move', 'delete'];

function positiveNumber(flag: string, value: unknown, integer: boolean): number {
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
    const what = integer ? 'a positive integer' : 'a positive number';
    throw new UsageError(`--${flag} must be ${what}, got ${JSON.stringify(value)}`);
  }
  return n;
}

function oneOf<T extends string>(flag: string, value: unknown, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !allowed.includes(value as T)) {
    throw new UsageError(
      `--${flag} must be one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`,
    );
  }
  return value as T;
}

function requiredPath(flag: string, value: unknown): string {
  if (typeof value !== 'string' || value === '') {
    throw new UsageError(`--${flag} is required`);
  }
  return path.resolve(value);
}

/**
 * The real path of `p`, resolving symlinks in the part that exists, so that `a/../b` and links
 * cannot hide that one directory lies inside another.
 */
function realish(p: string): string {
  const missing: string[] = [];
  let current = p;
  for (;;) {
    try {
      return path.join(fs.realpathSync(current), ...missing.reverse());
    } catch (error) {
      if (!hasCode(error, 'ENOENT', 'ENOTDIR')) throw error;
      const parent = path.dirname(current);
      if (parent === current) return p;
      missing.push(path.basename(current));
      current = parent;
    }
  }
}

/** Errors of access(2) and stat(2) that say a path cannot be used as it is. */
const UNUSABLE_PATH_CODES = ['EACCES', 'EPERM', 'EROFS', 'ELOOP', 'ENAMETOOLONG'];

/** Throws a UsageError naming `--flag` unless `dir` is an existing directory. */
export function requireDirectory(flag: string, dir: string): void {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(dir);
  } catch (error) {
    if (hasCode(error, 'ENOENT', 'ENOTDIR')) {
      throw new UsageError(`--${flag} ${JSON.stringify(dir)} does not exist`);
    }
    throw new UsageError(flagPathMessage(flag, dir, 'cannot be read', error), { cause: error });
  }
  if (!stat.isDirectory()) {
    throw new UsageError(`--${flag} ${JSON.stringify(dir)} is not a directory`);
  }
}

/** Throws a UsageError naming `--flag` when access(2) refuses `mode` on `p`. */
function requireAccess(flag: string, p: string, mode: number, problem: string): void {
  try {
    fs.accessSync(p, mode);
  } catch (error) {
    if (!hasCode(error, ...UNUSABLE_PATH_CODES)) throw error;
    throw new UsageError(flagPathMessage(flag, p, problem, error), { cause: error });
  }
}

/**
 * The input must be listed and entered (else the daemon would run and find nothing) and, unless
 * nothing is to change (dry run), written: every ingested file is removed from it.
 */
function checkInput(input: string, write: boolean): void {
  requireDirectory('input', input);
  requireAccess('input', input, fs.constants.R_OK | fs.constants.X_OK, 'cannot be read');
  if (write) {
    requireAccess(
      'input',
      input,
      fs.constants.W_OK,
      'cannot be written (ingested files are removed from it)',
    );
  }
}

/**
 * An output directory (or the state file) may be missing, since it is created at start, but
 * not be something else, nor lie where nothing can be created.
 */
function checkOutputFlag(flag: string, p: string, kind: 'directory' | 'file'): void {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(p);
  } catch (error) {
    if (hasCode(error, 'ENOENT')) return;
    if (hasCode(error, 'ENOTDIR')) {
      throw new UsageError(flagPathMessage(flag, p, 'cannot be created', error), { cause: error });
    }
    if (!hasCode(error, ...UNUSABLE_PATH_CODES)) throw error;
    throw new UsageError(flagPathMessage(flag, p, 'cannot be reached', error), { cause: error });
  }
  if (kind === 'directory' && !stat.isDirectory()) {
    throw new UsageError(`--${flag} ${JSON.stringify(p)} is not a directory`);
  }
  if (kind === 'file' && stat.isDirectory()) {
    throw new UsageError(`--${flag} ${JSON.stringify(p)} is a directory`);
  }
}

/**
 * For the commands that read an existing state (status, list, retry): a UsageError naming
 * --state-path when it cannot be reached or read. A missing state is left to the command, which
 * says where to look.
 */
export function requireReadableState(statePath: string): void {
  try {
    fs.accessSync(statePath, fs.constants.R_OK);
  } catch (error) {
    if (hasCode(error, 'ENOENT', 'ENOTDIR')) return;
    if (!hasCode(error, ...UNUSABLE_PATH_CODES)) throw error;
    throw new UsageError(flagPathMessage('state-path', statePath, 'cannot be read', error), {
      cause: error,
    });
  }
}

/**
 * Checks every option, naming the flag and the bad value, and returns the frozen resolved
 * options. Touches nothing on disk: it only reads.
 */
export function resolveOptions(options: IngestorOptions): ResolvedOptions {
  const input = requiredPath('input', options.input);
  const warehouse = requiredPath('warehouse', options.warehouse);
  const manifests = requiredPath('manifests', options.manifests);
  const statePath =
    options.statePath === undefined
      ? path.join(manifests, 'ingestor.db')
      : requiredPath('state-path', options.statePath);
  const duplicatesDir =
    options.duplicatesDir === undefined
      ? path.join(warehouse, '_duplicates')
      : requiredPath('duplicates-dir', options.duplicatesDir);

  const quarantineDir =
    options.quarantineDir === undefined
      ? path.join(warehouse, '_quarantine')
      : requiredPath('quarantine-dir', options.quarantineDir);
  const maxRetries = positiveNumber('max-retries', options.maxRetries ?? defaults.maxRetries, true);
  const mode = oneOf('mode', options.mode ?? defaults.mode, MODES);
  const onDuplicate = oneOf(
    'on-duplicate',
    options.onDuplicate ?? defaults.onDuplicate,
    ON_DUPLICATE,
  );
  const stabilitySeconds = positiveNumber(
    'stability-seconds',
    options.stabilitySeconds ?? defaults.stabilitySeconds,
    false,
  );
  const concurrency = positiveNumber(
    'concurrency',
    options.concurrency ?? defaults.concurrency,
    true,
  );
  const scanIntervalSeconds = positiveNumber(
    'scan-interval',
    options.scanIntervalSeconds ?? defaults.scanIntervalSeconds,
    false,
  );
  const batchSize = positiveNumber('batch-size', options.batchSize ?? defaults.batchSize, true);
  const statsIntervalSeconds = positiveNumber(
    'stats-interval',
    options.statsIntervalSeconds ?? defaults.statsIntervalSeconds,
    false,
  );
  const pendingCapacity = positiveNumber(
    'pending-capacity',
    options.pendingCapacity ?? defaults.pendingCapacity,
    true,
  );
  const exclude = [...(options.exclude ?? defaults.exclude)];
  for (const glob of exclude) {
    if (typeof glob !== 'string' || glob === '') {
      throw new UsageError(`--exclude must be a non-empty glob, got ${JSON.stringify(glob)}`);
    }
  }

  const dryRun = options.dryRun ?? defaults.dryRun;
  checkInput(input, !dryRun);
  checkOutputFlag('warehouse', warehouse, 'directory');
  checkOutputFlag('manifests', manifests, 'directory');
  if (onDuplicate === 'move') checkOutputFlag('duplicates-dir', duplicatesDir, 'directory');
  checkOutputFlag('quarantine-dir', quarantineDir, 'directory');
  checkOutputFlag('state-path', statePath, 'file');

  const realInput = realish(input);
  const outputs: [string, string][] = [
    ['warehouse', warehouse],
    ['manifests', manifests],
    ['quarantine-dir', quarantineDir],
  ];
  if (onDuplicate === 'move') outputs.push(['duplicates-dir', duplicatesDir]);
  for (const [flag, dir] of outputs) {
    const real = realish(dir);
    if (isInside(real, realInput)) {
      throw new UsageError(
        `--${flag} ${JSON.stringify(dir)} is inside --input ${JSON.stringify(input)}`,
      );
    }
    if (isInside(realInput, real)) {
      throw new UsageError(
        `--input ${JSON.stringify(input)} is inside --${flag} ${JSON.stringify(dir)}`,
      );
    }
  }
  if (isInside(realish(statePath), realInput)) {
    throw new UsageError(
      `--state-path ${JSON.stringify(statePath)} is inside --input ${JSON.stringify(input)}`,
    );
  }

  return Object.freeze({
    input,
    warehouse,
    manifests,
    statePath,
    mode,
    stabilityMs: Math.round(stabilitySeconds * 1000),
    concurrency,
    dryRun,
    once: options.once ?? defaults.once,
    exclude: Object.freeze(exclude),
    onDuplicate,
    duplicatesDir,
    quarantineDir,
    maxRetries,
    scanIntervalMs: Math.round(scanIntervalSeconds * 1000),
    batchSize,
    pendingCapacity,
    statsIntervalMs: Math.round(statsIntervalSeconds * 1000),
  });
}

/** Parses a numeric command-line value, naming the flag and the raw value when it is bad. */
export function parseNumberFlag(flag: string, raw: unknown, integer: boolean): number | undefined {
  if (raw === undefined) return undefined;
  if (Array.isArray(raw)) throw new UsageError(`--${flag} was given more than once`);
  return positiveNumber(flag, raw, integer);
}

/**
 * The options in a `--config` file: a JSON object whose keys are the flags. A file that cannot
 * be read or is not such an object is a UsageError naming the file and the cause.
 */
export function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    if (!hasCode(error, 'ENOENT', 'ENOTDIR', 'EISDIR', ...UNUSABLE_PATH_CODES)) throw error;
    throw new UsageError(flagPathMessage('config', file, 'cannot be read', error), {
      cause: error,
    });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    if (!(error instanceof SyntaxError)) throw error;
    throw new UsageError(flagPathMessage('config', file, 'is not valid JSON', error), {
      cause: error,
    });
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    const got = Array.isArray(parsed) ? 'an array' : JSON.stringify(parsed);
    throw new UsageError(
      `--config ${JSON.stringify(file)} must hold a JSON object of options (keys as the flags), got ${got}`,
    );
  }
  return parsed as Record<string, unknown>;
}
