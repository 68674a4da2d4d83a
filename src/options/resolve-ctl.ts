// \`ingestor ctl\`'s options: its action and ids, the server's address, and the client's
// certificate, checked before any call (resolve.ts has the other commands').
import fs from 'node:fs';
import tls from 'node:tls';
import { UsageError, errnoCode, flagPathMessage, hasCode } from '../errors.js';
import { UNUSABLE_PATH_CODES } from './check-paths.js';
import { MIN_READ_STALL_SECONDS, commandDefaults } from './defaults.js';
import { CTL_ACTIONS, CTL_MAX_PAGE } from './flags.js';
import { PENDING_ID_PATTERN } from '../pending-id.js';
import type { CtlActionName } from './flags.js';
import type { CtlAction, CtlCommandOptions, CtlFilesQuery, FlagValues } from './types.js';
import { parseByteSize, parseSpaceFloor } from './bytes.js';

import {
  FlagValueError,
  MAX_TIMER_SECONDS,
  fileFlag,
  parseNumberFlag,
  parseListStatus,
  parseSha256,
  parseSince,
  single,
} from './values.js';

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

/** The flags of `ctl limits`, by the field of `PUT /v1/limits` each sets. */
const LIMIT_FLAGS: Readonly<Record<string, string>> = {
  concurrency: 'concurrency',
  'max-bytes-per-second': 'maxBytesPerSecond',
  'min-free-space': 'minFreeSpace',
  'max-file-size': 'maxFileSize',
  'read-stall-timeout': 'readStallTimeout',
};

/**
 * `ctl limits --max-bytes-per-second 50MiB ...`: the body of `PUT /v1/limits`, checked here as
 * `run` checks the same flags (a bad value is a usage error before any call); `none` lifts a
 * size limit or the floor. Undefined when no limit flag is given.
 */
function limitChanges(flags: FlagValues): Record<string, number | string | null> | undefined {
  const body: Record<string, number | string | null> = {};
  for (const [flag, field] of Object.entries(LIMIT_FLAGS)) {
    const value = single(flag, flags[flag]);
    if (value === undefined) continue;
    if (flag === 'concurrency') body[field] = parseNumberFlag(flag, value, true)!;
    else if (flag === 'read-stall-timeout') {
      const seconds = parseNumberFlag(flag, value, false, MAX_TIMER_SECONDS)!;
      if (seconds < MIN_READ_STALL_SECONDS) {
        throw new FlagValueError(
          flag,
          `must be at least ${MIN_READ_STALL_SECONDS} second, got "${value}"`,
        );
      }
      body[field] = seconds;
    } else if (value === 'none') body[field] = null;
    else if (flag === 'min-free-space') {
      const floor = parseSpaceFloor(flag, value);
      body[field] = 'bytes' in floor ? floor.bytes : `${floor.percent}%`;
    } else body[field] = parseByteSize(flag, value);
  }
  return Object.keys(body).length === 0 ? undefined : body;
}

/** `ctl webhooks` (the list) or `ctl webhooks redeliver ID`. */
function webhooksAction(words: string[], limit: number | undefined): CtlAction {
  if (words.length === 0) return { kind: 'webhooks', limit };
  const [verb, id, ...rest] = words;
  if (verb !== 'redeliver') {
    throw new UsageError(`ctl webhooks takes redeliver ID or nothing, got ${JSON.stringify(verb)}`);
  }
  if (id === undefined || rest.length > 0 || !/^[1-9][0-9]{0,14}$/.test(id)) {
    throw new UsageError(
      `ctl webhooks redeliver takes one delivery id (a positive integer, as ctl webhooks shows), got ${JSON.stringify(words.slice(1).join(' '))}`,
    );
  }
  return { kind: 'redeliver', id };
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
  const changes = limitChanges(flags);
  if (changes !== undefined && name !== 'limits') {
    const flag = Object.keys(LIMIT_FLAGS).find((f) => flags[f] !== undefined)!;
    throw new UsageError(`--${flag} applies only to ctl limits, not ctl ${name}`);
  }
  for (const flag of LS_FLAGS) {
    if (flags[flag] !== undefined && name !== 'ls') {
      throw new UsageError(`--${flag} applies only to ctl ls, not ctl ${name}`);
    }
  }
  const limit = parseNumberFlag('limit', flags.limit, true);
  if (limit !== undefined && name !== 'ls' && name !== 'pending' && name !== 'webhooks') {
    throw new UsageError(
      `--limit applies only to ctl ls, ctl pending and ctl webhooks, not ctl ${name}`,
    );
  }
  if (limit !== undefined && limit > CTL_MAX_PAGE) {
    throw new FlagValueError('limit', `must be at most ${CTL_MAX_PAGE}, got ${limit}`);
  }
  const words = [flags.ids ?? []].flat();
  if (name === 'webhooks') return webhooksAction(words.map(String), limit);
  const idKind = ID_KINDS[name];
  if (idKind === undefined) {
    if (words.length > 0) throw new UsageError(`ctl ${name} takes no ids, got ${words.join(' ')}`);
    if (name === 'limits') return { kind: 'limits', changes };
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
