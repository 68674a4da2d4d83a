import os from 'node:os';
import path from 'node:path';
import type { LevelWithSilent } from 'pino';
import { UsageError } from '../errors.js';
import {
  checkInput,
  checkOutputFlag,
  checkOutsideInput,
  requireDirectory,
  requireReadableState,
} from './check-paths.js';
import {
  MIN_READ_STALL_SECONDS,
  MODES,
  ON_DUPLICATE,
  commandDefaults,
  defaultPlace,
  defaults,
} from './defaults.js';
import { manifestFileName } from '../manifest/manifest-line.js';
import { checkStateUrl } from '../state/pg/connect.js';
import { resolveWebhooks } from '../webhooks/endpoints.js';
import { parseByteSize, parseSpaceFloor } from './bytes.js';
import { RUN_NUMBERS } from './flags.js';
import { resolveApi } from './resolve-api.js';
import type {
  CertsCommandOptions,
  FlagValues,
  IngestorOptions,
  ListCommandOptions,
  ListOptions,
  PriorityRule,
  ResolvedOptions,
  RetryCommandOptions,
  RunCommandOptions,
  StatusCommandOptions,
  VerifyCommandOptions,
} from './types.js';
import {
  FlagValueError,
  MAX_TIMER_SECONDS,
  oneOf,
  parseNumberFlag,
  parsePort,
  parseSince,
  positiveNumber,
  requiredPath,
  single,
} from './values.js';

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
      ? defaultPlace('statePath', manifests)
      : requiredPath('state-path', options.statePath);
  const stateUrl = resolveStateUrl(options.statePath, options.stateUrl);
  const nodeId = options.nodeId ?? `${os.hostname()}:${manifests}`;
  if (nodeId === '' || nodeId.length > 200 || [...nodeId].some((c) => c.charCodeAt(0) < 0x20)) {
    throw new UsageError(
      `--node-id must be 1 to 200 characters without control characters, got ${JSON.stringify(nodeId)}`,
    );
  }
  const leaseSeconds = positiveNumber(
    'lease-seconds',
    options.leaseSeconds ?? commandDefaults.leaseSeconds,
    false,
    MAX_TIMER_SECONDS,
  );
  if (leaseSeconds < MIN_LEASE_SECONDS) {
    throw new UsageError(
      `--lease-seconds must be at least ${MIN_LEASE_SECONDS}, got ${leaseSeconds}`,
    );
  }
  const duplicatesDir =
    options.duplicatesDir === undefined
      ? defaultPlace('duplicatesDir', warehouse)
      : requiredPath('duplicates-dir', options.duplicatesDir);

  const quarantineDir =
    options.quarantineDir === undefined
      ? defaultPlace('quarantineDir', warehouse)
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
  const historyDays = positiveNumber(
    'history-days',
    options.historyDays ?? defaults.historyDays,
    true,
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
    MAX_TIMER_SECONDS,
  );
  const pendingCapacity = positiveNumber(
    'pending-capacity',
    options.pendingCapacity ?? defaults.pendingCapacity,
    true,
  );
  const exclude = [...(options.exclude ?? defaults.exclude)];
  for (const glob of exclude) {
    if (typeof glob !== 'string' || glob === '') {
      throw new FlagValueError('exclude', `must be a non-empty glob, got ${JSON.stringify(glob)}`);
    }
  }

  const readStallSeconds = positiveNumber(
    'read-stall-timeout',
    options.readStallSeconds ?? defaults.readStallSeconds,
    false,
    MAX_TIMER_SECONDS,
  );
  if (readStallSeconds < MIN_READ_STALL_SECONDS) {
    // Shorter, every read of a busy disk would count as hung, and healthy files be quarantined.
    throw new FlagValueError(
      'read-stall-timeout',
      `must be at least ${MIN_READ_STALL_SECONDS} second, got ${JSON.stringify(options.readStallSeconds)}`,
    );
  }
  const maxFileSize =
    options.maxFileSize === undefined
      ? undefined
      : parseByteSize('max-file-size', options.maxFileSize);
  const minFreeSpace =
    options.minFreeSpace === undefined
      ? undefined
      : parseSpaceFloor('min-free-space', options.minFreeSpace);
  const maxBytesPerSecond =
    options.maxBytesPerSecond === undefined
      ? undefined
      : parseByteSize('max-bytes-per-second', options.maxBytesPerSecond);
  const priorities = (options.priority ?? defaults.priority).map(parsePriority);
  const webhooks = resolveWebhooks(options.webhook ?? [], {
    secret: options.webhookSecret,
    secretFile: options.webhookSecretFile,
  });

  const dryRun = options.dryRun ?? defaults.dryRun;
  checkInput(input, !dryRun);
  checkOutputFlag('warehouse', warehouse, 'directory');
  checkOutputFlag('manifests', manifests, 'directory');
  if (onDuplicate === 'move') checkOutputFlag('duplicates-dir', duplicatesDir, 'directory');
  checkOutputFlag('quarantine-dir', quarantineDir, 'directory');
  if (stateUrl === undefined) checkOutputFlag('state-path', statePath, 'file');

  const outputs: [string, string][] = [
    ['warehouse', warehouse],
    ['manifests', manifests],
    ['quarantine-dir', quarantineDir],
  ];
  if (onDuplicate === 'move') outputs.push(['duplicates-dir', duplicatesDir]);
  checkOutsideInput(input, outputs, statePath);

  return Object.freeze({
    input,
    warehouse,
    manifests,
    statePath,
    stateUrl,
    nodeId,
    leaseMs: Math.round(leaseSeconds * 1000),
    manifestName: manifestFileName(stateUrl === undefined ? undefined : nodeId),
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
    historyDays,
    maxFileSize,
    minFreeSpace,
    maxBytesPerSecond,
    readStallMs: Math.round(readStallSeconds * 1000),
    priorities: Object.freeze(priorities),
    webhooks: Object.freeze(webhooks),
  });
}

/** `--priority GLOB=N`: N an integer from -1000 to 1000; the glob as --exclude's. */
function parsePriority(rule: unknown): PriorityRule {
  const match = typeof rule === 'string' ? /^(.+)=(-?\d+)$/.exec(rule) : null;
  const priority = match === null ? Number.NaN : Number(match[2]);
  if (match === null || Math.abs(priority) > PRIORITY_MAX) {
    throw new FlagValueError(
      'priority',
      `must be GLOB=N with N a whole number from -${PRIORITY_MAX} to ${PRIORITY_MAX} (orders/*.csv=10), got ${JSON.stringify(rule)}`,
    );
  }
  return Object.freeze({ glob: match[1]!, priority });
}

/** The largest priority, either way. */
const PRIORITY_MAX = 1000;

/** `ingestor run`: the ingest options and the daemon's own, from the flags. */
export function resolveRun(flags: FlagValues): RunCommandOptions {
  if (flags.json === true && flags['dry-run'] !== true) {
    throw new UsageError('--json applies only with --dry-run (the daemon logs JSON lines anyway)');
  }
  const options: IngestorOptions = {
    input: single('input', flags.input) ?? '',
    warehouse: single('warehouse', flags.warehouse) ?? '',
    manifests: single('manifests', flags.manifests) ?? '',
    once: flags.once === true,
    dryRun: flags['dry-run'] === true,
  };
  const optional: { [K in keyof IngestorOptions]?: IngestorOptions[K] | undefined } = {
    statePath: single('state-path', flags['state-path']),
    stateUrl: single('state-url', flags['state-url']),
    nodeId: single('node-id', flags['node-id']),
    leaseSeconds: parseNumberFlag(
      'lease-seconds',
      flags['lease-seconds'],
      false,
      MAX_TIMER_SECONDS,
    ),
    mode: single('mode', flags.mode) as IngestorOptions['mode'],
    onDuplicate: single('on-duplicate', flags['on-duplicate']) as IngestorOptions['onDuplicate'],
    duplicatesDir: single('duplicates-dir', flags['duplicates-dir']),
    quarantineDir: single('quarantine-dir', flags['quarantine-dir']),
    ...(flags.exclude === undefined ? {} : { exclude: [flags.exclude].flat().map(String) }),
    ...(flags.priority === undefined ? {} : { priority: [flags.priority].flat().map(String) }),
    ...(flags.webhook === undefined ? {} : { webhook: [flags.webhook].flat().map(String) }),
    webhookSecret: single('webhook-secret', flags['webhook-secret']),
    webhookSecretFile: single('webhook-secret-file', flags['webhook-secret-file']),
    maxFileSize: single('max-file-size', flags['max-file-size']),
    minFreeSpace: single('min-free-space', flags['min-free-space']),
    maxBytesPerSecond: single('max-bytes-per-second', flags['max-bytes-per-second']),
  };
  for (const n of RUN_NUMBERS) {
    optional[n.key] = parseNumberFlag(n.flag, flags[n.flag], n.integer, n.max);
  }
  for (const [key, value] of Object.entries(optional)) {
    if (value !== undefined) (options as unknown as Record<string, unknown>)[key] = value;
  }
  const metricsPort = parsePort('metrics-port', flags['metrics-port']);
  const api = resolveApi(flags);
  const resolved = resolveOptions(options);
  return Object.freeze({
    options: resolved,
    daemon: Object.freeze({
      logLevel: (single('log-level', flags['log-level']) ??
        commandDefaults.logLevel) as LevelWithSilent,
      ...(metricsPort === undefined ? {} : { metricsPort }),
      metricsHost: single('metrics-host', flags['metrics-host']) ?? commandDefaults.metricsHost,
      shutdownTimeoutMs:
        (parseNumberFlag('shutdown-timeout', flags['shutdown-timeout'], false, MAX_TIMER_SECONDS) ??
          commandDefaults.shutdownTimeoutSeconds) * 1000,
      json: flags.json === true,
      ...(api === undefined ? {} : { api }),
    }),
  });
}

/** `ingestor certs DIR`, from its words. */
export function resolveCerts(flags: FlagValues): CertsCommandOptions {
  const dir = single('dir', flags.dir);
  if (dir === undefined || dir === '')
    throw new UsageError('certs needs a directory: ingestor certs DIR');
  return Object.freeze({ dir: path.resolve(dir) });
}

/** A directory flag that is required and must exist. */
function existingDir(flag: string, value: unknown): string {
  const dir = single(flag, value);
  if (dir === undefined || dir === '') throw new UsageError(`--${flag} is required`);
  const resolved = path.resolve(dir);
  requireDirectory(flag, resolved);
  return resolved;
}

/** `ingestor verify`, from its flags. */
export function resolveVerify(flags: FlagValues): VerifyCommandOptions {
  const warehouse = existingDir('warehouse', flags.warehouse);
  const manifests = existingDir('manifests', flags.manifests);
  const stateUrl = resolveStateUrl(
    single('state-path', flags['state-path']),
    single('state-url', flags['state-url']),
  );
  const statePath = path.resolve(
    single('state-path', flags['state-path']) ?? defaultPlace('statePath', manifests),
  );
  // Not required to exist: a daemon that never met a duplicate has not created it.
  const duplicatesDir = single('duplicates-dir', flags['duplicates-dir']);
  if (duplicatesDir === '') throw new UsageError('--duplicates-dir must not be empty');
  return Object.freeze({
    verify: Object.freeze({
      warehouse,
      manifests,
      statePath,
      ...(stateUrl === undefined ? {} : { stateUrl }),
      ...(duplicatesDir === undefined ? {} : { duplicatesDir: path.resolve(duplicatesDir) }),
      rehash: flags.rehash === true,
    }),
    json: flags.json === true,
  });
}

/**
 * The state of the commands that read or retry: --state-url, --state-path, or the one in
 * --manifests.
 */
function existingState(flags: FlagValues): { statePath: string; stateUrl?: string } {
  const explicit = single('state-path', flags['state-path']);
  const stateUrl = resolveStateUrl(explicit, single('state-url', flags['state-url']));
  if (stateUrl !== undefined) return { statePath: '', stateUrl };
  const manifests = single('manifests', flags.manifests);
  if (explicit === undefined && manifests === undefined) {
    throw new UsageError('--state-path (or --manifests, or --state-url) is required');
  }
  const statePath = path.resolve(explicit ?? defaultPlace('statePath', manifests!));
  requireReadableState(statePath);
  return { statePath };
}

/** The shortest --lease-seconds: a renewal every third of it must fit a database round trip. */
const MIN_LEASE_SECONDS = 3;

/** `--state-url`, checked: a PostgreSQL URL, and not beside --state-path. */
function resolveStateUrl(
  statePath: string | undefined,
  stateUrl: string | undefined,
): string | undefined {
  if (stateUrl === undefined) return undefined;
  if (statePath !== undefined) {
    throw new UsageError(
      '--state-path and --state-url name two states: give one (--state-url for PostgreSQL)',
    );
  }
  checkStateUrl(stateUrl);
  return stateUrl;
}

/** `ingestor status`, from its flags. */
export function resolveStatus(flags: FlagValues): StatusCommandOptions {
  return Object.freeze({ ...existingState(flags), json: flags.json === true });
}

/** `ingestor retry`, from its flags. */
export function resolveRetry(flags: FlagValues): RetryCommandOptions {
  // The values first, as for the other commands: a bad --id is a bad --id, whatever the state.
  const ids = [flags.id ?? []].flat().map((raw) => parseNumberFlag('id', raw, true) as number);
  return Object.freeze({ ...existingState(flags), ids: Object.freeze(ids) });
}

/**
 * `ingestor list`, from its flags. The filters' own values (--status, --sha256, --path) are
 * checked by `list`, which library callers call with them too.
 */
export function resolveList(flags: FlagValues): ListCommandOptions {
  const since = single('since', flags.since);
  const glob = single('path', flags.path);
  const sha256 = single('sha256', flags.sha256);
  const list: ListOptions = {
    ...(flags.status === undefined ? {} : { status: single('status', flags.status)! }),
    ...(since === undefined ? {} : { since: parseSince(since) }),
    ...(glob === undefined ? {} : { path: glob }),
    ...(sha256 === undefined ? {} : { sha256 }),
    limit: parseNumberFlag('limit', flags.limit, true) ?? commandDefaults.listLimit,
  };
  return Object.freeze({
    ...existingState(flags),
    list: Object.freeze(list),
    json: flags.json === true,
  });
}
