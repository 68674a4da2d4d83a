import fs from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import type { LevelWithSilent } from 'pino';
import { UsageError, errnoCode, flagPathMessage, hasCode } from '../errors.js';
import { UNUSABLE_PATH_CODES } from './check-paths.js';
import {
  checkInput,
  checkOutputFlag,
  checkOutsideInput,
  requireDirectory,
  requireReadableState,
} from './check-paths.js';
import { MODES, ON_DUPLICATE, commandDefaults, defaultPlace, defaults } from './defaults.js';
import { CTL_ACTIONS, CTL_MAX_PAGE, RUN_NUMBERS } from './flags.js';
import { PENDING_ID_PATTERN } from '../pending-id.js';
import { resolveApi } from './resolve-api.js';
import type { CtlActionName } from './flags.js';
import type {
  CertsCommandOptions,
  CtlAction,
  CtlCommandOptions,
  CtlFilesQuery,
  FlagValues,
  IngestorOptions,
  ListCommandOptions,
  ListOptions,
  ResolvedOptions,
  RetryCommandOptions,
  RunCommandOptions,
  StatusCommandOptions,
  VerifyCommandOptions,
} from './types.js';
import {
  FlagValueError,
  MAX_TIMER_SECONDS,
  fileFlag,
  oneOf,
  parseNumberFlag,
  parseListStatus,
  parsePort,
  parseSha256,
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

  const dryRun = options.dryRun ?? defaults.dryRun;
  checkInput(input, !dryRun);
  checkOutputFlag('warehouse', warehouse, 'directory');
  checkOutputFlag('manifests', manifests, 'directory');
  if (onDuplicate === 'move') checkOutputFlag('duplicates-dir', duplicatesDir, 'directory');
  checkOutputFlag('quarantine-dir', quarantineDir, 'directory');
  checkOutputFlag('state-path', statePath, 'file');

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
  });
}

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
    mode: single('mode', flags.mode) as IngestorOptions['mode'],
    onDuplicate: single('on-duplicate', flags['on-duplicate']) as IngestorOptions['onDuplicate'],
    duplicatesDir: single('duplicates-dir', flags['duplicates-dir']),
    quarantineDir: single('quarantine-dir', flags['quarantine-dir']),
    ...(flags.exclude === undefined ? {} : { exclude: [flags.exclude].flat().map(String) }),
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
      ...(duplicatesDir === undefined ? {} : { duplicatesDir: path.resolve(duplicatesDir) }),
      rehash: flags.rehash === true,
    }),
    json: flags.json === true,
  });
}

/** The state of the commands that read or retry: --state-path, or the one in --manifests. */
function existingStatePath(flags: FlagValues): string {
  const explicit = single('state-path', flags['state-path']);
  const manifests = single('manifests', flags.manifests);
  if (explicit === undefined && manifests === undefined) {
    throw new UsageError('--state-path (or --manifests) is required');
  }
  const statePath = path.resolve(explicit ?? defaultPlace('statePath', manifests!));
  requireReadableState(statePath);
  return statePath;
}

/** `ingestor status`, from its flags. */
export function resolveStatus(flags: FlagValues): StatusCommandOptions {
  return Object.freeze({ statePath: existingStatePath(flags), json: flags.json === true });
}

/** `ingestor retry`, from its flags. */
export function resolveRetry(flags: FlagValues): RetryCommandOptions {
  // The values first, as for the other commands: a bad --id is a bad --id, whatever the state.
  const ids = [flags.id ?? []].flat().map((raw) => parseNumberFlag('id', raw, true) as number);
  return Object.freeze({ statePath: existingStatePath(flags), ids: Object.freeze(ids) });
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
    statePath: existingStatePath(flags),
    list: Object.freeze(list),
    json: flags.json === true,
  });
}

/** A row id: digits, no sign, no leading zero, at most 15 digits (the API's pattern). */
const ROW_ID = /^[1-9]\d{0,14}$/;
const PENDING_ID = new RegExp(PENDING_ID_PATTERN);

/** What each id-taking action of `ctl` takes: row ids only, or row and pending ids. */
const ID_KINDS = {
  __proto__: null,
  show: 'row',
  history: 'row',
  retry: 'any',
  cancel: 'any',
  hold: 'any',
  release: 'any',
} as unknown as Readonly<Partial<Record<CtlActionName, 'row' | 'any'>>>;

/** The flags only `ctl ls` takes: its filters and its cursor (`--limit` is also `pending`'s). */
const LS_FLAGS = ['status', 'q', 'since', 'sha256', 'cursor'] as const;

/** One id of `ctl ACTION`, checked as the API checks it, or a line that says which it takes. */
function ctlId(name: CtlActionName, kind: 'row' | 'any', raw: unknown): string {
  const id = typeof raw === 'string' ? raw : String(raw);
  if (ROW_ID.test(id)) return id;
  if (kind === 'any' && PENDING_ID.test(id)) return id;
  if (kind === 'row' && PENDING_ID.test(id)) {
    throw new UsageError(
      `ctl ${name} takes a row id (a positive integer, as ctl ls shows), got the pending id ${id}: a file has a row once it is taken (ctl pending shows why it waits)`,
    );
  }
  throw new UsageError(
    kind === 'row'
      ? `ctl ${name} takes a row id (a positive integer, as ctl ls shows), got ${JSON.stringify(id)}`
      : `ctl ${name} takes row ids (a positive integer, as ctl ls shows) or pending ids (p and 22 characters, as ctl pending shows), got ${JSON.stringify(id)}`,
  );
}

/** `ctl ls`'s query: each flag checked here as the API would, so that a typo exits 2 at once. */
function filesQuery(flags: FlagValues, limit: number | undefined): CtlFilesQuery {
  const query: CtlFilesQuery = {};
  const status = single('status', flags.status);
  if (status !== undefined) {
    parseListStatus(status);
    query.status = status;
  }
  const q = single('q', flags.q);
  if (q !== undefined) {
    if (q === '' || q.length > 1024) {
      throw new FlagValueError('q', `must be 1 to 1024 characters, got ${q.length}`);
    }
    query.q = q;
  }
  const since = single('since', flags.since);
  if (since !== undefined) {
    parseSince(since);
    query.since = since;
  }
  const sha256 = single('sha256', flags.sha256);
  if (sha256 !== undefined) query.sha256 = parseSha256(sha256);
  const cursor = single('cursor', flags.cursor);
  if (cursor !== undefined) {
    if (!/^[A-Za-z0-9_-]{1,40}$/.test(cursor)) {
      throw new FlagValueError(
        'cursor',
        `must be the cursor a page of ctl ls gave (letters, digits, - and _), got ${JSON.stringify(cursor)}`,
      );
    }
    query.cursor = cursor;
  }
  if (limit !== undefined) query.limit = String(limit);
  return query;
}

/** `ctl ACTION [ids..]`: the action, its ids and the flags that only some actions take. */
function ctlAction(flags: FlagValues): CtlAction {
  const names = Object.keys(CTL_ACTIONS);
  const word = single('action', flags.action);
  if (word === undefined || word === '') {
    throw new UsageError(`ctl needs an action: one of ${names.join(', ')}`);
  }
  if (!names.includes(word)) {
    throw new UsageError(`ctl has no action ${JSON.stringify(word)} (one of ${names.join(', ')})`);
  }
  const name = word as CtlActionName;
  const concurrency = parseNumberFlag('concurrency', flags.concurrency, true);
  if (concurrency !== undefined && name !== 'limits') {
    throw new UsageError(`--concurrency applies only to ctl limits, not ctl ${name}`);
  }
  for (const flag of LS_FLAGS) {
    if (flags[flag] !== undefined && name !== 'ls') {
      throw new UsageError(`--${flag} applies only to ctl ls, not ctl ${name}`);
    }
  }
  const limit = parseNumberFlag('limit', flags.limit, true);
  if (limit !== undefined && name !== 'ls' && name !== 'pending') {
    throw new UsageError(`--limit applies only to ctl ls and ctl pending, not ctl ${name}`);
  }
  if (limit !== undefined && limit > CTL_MAX_PAGE) {
    throw new FlagValueError('limit', `must be at most ${CTL_MAX_PAGE}, got ${limit}`);
  }
  const words = [flags.ids ?? []].flat();
  const idKind = ID_KINDS[name];
  if (idKind === undefined) {
    if (words.length > 0) throw new UsageError(`ctl ${name} takes no ids, got ${words.join(' ')}`);
    if (name === 'limits') return { kind: 'limits', concurrency };
    if (name === 'ls') return { kind: 'ls', query: Object.freeze(filesQuery(flags, limit)) };
    if (name === 'pending') return { kind: 'pending', limit };
    return { kind: name as 'status' };
  }
  const what = idKind === 'row' ? 'ROW-ID' : 'ID';
  if (name === 'retry') {
    if (words.length === 0) {
      throw new UsageError(`ctl retry takes at least one id (ctl retry ${what}...)`);
    }
    return { kind: 'retry', ids: Object.freeze(words.map((w) => ctlId(name, idKind, w))) };
  }
  if (words.length !== 1) {
    throw new UsageError(`ctl ${name} takes one id (ctl ${name} ${what}), got ${words.length}`);
  }
  return { kind: name as 'show', id: ctlId(name, idKind, words[0]) };
}

/** A PEM file a ctl flag names, read now: one line naming the flag when it cannot be. */
function pemFile(flag: string, value: unknown): Buffer {
  const file = fileFlag(flag, value);
  if (file === undefined) {
    throw new UsageError(
      `ctl needs --${flag} (or INGESTOR_CTL_${flag.toUpperCase()}, or the key "${flag}" in --config): the control API takes mutual TLS only (\`ingestor certs DIR\` makes a set to try it)`,
    );
  }
  let pem: Buffer;
  try {
    pem = fs.readFileSync(file);
  } catch (error) {
    if (!hasCode(error, 'ENOENT', 'ENOTDIR', 'EISDIR', ...UNUSABLE_PATH_CODES)) throw error;
    throw new UsageError(flagPathMessage(flag, file, 'cannot be read', error), { cause: error });
  }
  if (!pem.includes('-----BEGIN ')) {
    throw new UsageError(`--${flag} ${JSON.stringify(file)} is not PEM (no -----BEGIN line)`);
  }
  return pem;
}

/** `--server`: `https://HOST:PORT` and nothing after it; the port is required, as the API has none of its own. */
function serverUrl(value: unknown): URL {
  const raw = single('server', value) ?? commandDefaults.ctlServer;
  let url: URL | undefined;
  try {
    url = new URL(raw);
  } catch (error) {
    if (!(error instanceof TypeError)) throw error;
  }
  // The URL parser drops a port that is https' default (443): the raw text says if one was given.
  const authority = /^https:\/\/([^/?#]*)/i.exec(raw)?.[1] ?? '';
  if (
    url === undefined ||
    url.protocol !== 'https:' ||
    url.hostname === '' ||
    !/:\d+$/.test(authority) ||
    (url.pathname !== '/' && url.pathname !== '') ||
    url.search !== '' ||
    url.hash !== ''
  ) {
    throw new FlagValueError(
      'server',
      `must be https://HOST:PORT (the daemon's host and its --api-port), got ${JSON.stringify(raw)}`,
    );
  }
  return url;
}

/** Why OpenSSL refused a PEM, from its error: its reason (`no start line`), else its message. */
function opensslReason(error: Error): string {
  const reason = (error as { reason?: unknown }).reason;
  return typeof reason === 'string' ? reason : error.message;
}

/**
 * The certificate and its key, loaded as the connection will load them: a file that is not a
 * certificate or a key, or a key that is not the certificate's, is a usage error naming the
 * flags, before any connection (OpenSSL's own words would say neither which file nor what to do).
 */
function checkClientPair(cert: Buffer, key: Buffer, files: { cert: string; key: string }): void {
  const load = (options: tls.SecureContextOptions, problem: (error: Error) => string) => {
    try {
      tls.createSecureContext(options);
    } catch (error) {
      if (!(errnoCode(error) ?? '').startsWith('ERR_OSSL_')) {
        throw error;
      }
      // No cause: OpenSSL's words would follow on the line, and the message says it all.
      throw new UsageError(problem(error as Error));
    }
  };
  load(
    { cert },
    (e) => `--cert ${JSON.stringify(files.cert)} is not a certificate (${opensslReason(e)})`,
  );
  load(
    { key },
    (e) => `--key ${JSON.stringify(files.key)} is not a private key (${opensslReason(e)})`,
  );
  load(
    { cert, key },
    () =>
      `--cert ${JSON.stringify(files.cert)} and --key ${JSON.stringify(files.key)}: the key does not match the certificate (give the .key made with that .crt)`,
  );
}

/** `ingestor ctl ACTION [ids..]`, from its words and flags; the PEM files are read here. */
export function resolveCtl(flags: FlagValues): CtlCommandOptions {
  const action = ctlAction(flags);
  const server = serverUrl(flags.server);
  const cert = pemFile('cert', flags.cert);
  const key = pemFile('key', flags.key);
  checkClientPair(cert, key, {
    cert: fileFlag('cert', flags.cert)!,
    key: fileFlag('key', flags.key)!,
  });
  return Object.freeze({
    action: Object.freeze(action),
    server,
    cert,
    key,
    ca: pemFile('ca', flags.ca),
    json: flags.json === true,
  });
}
