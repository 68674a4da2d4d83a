import { LOG_LEVELS } from '../ops/logger.js';
import { MODES, ON_DUPLICATE, commandDefaults, defaults, describePlace } from './defaults.js';
import type { IngestorOptions } from './types.js';
import { LIST_STATUSES, MAX_TIMER_SECONDS, SHA256_PREFIX_MIN } from './values.js';

/**
 * One flag as the command line and its --help know it. The fields are the ones yargs reads
 * (bin/ingestor.ts hands the table to it as it is).
 */
export interface FlagSpec {
  readonly type: 'string' | 'boolean' | 'number';
  readonly describe: string;
  readonly choices?: readonly string[];
  readonly array?: boolean;
  /** Parse as a string (see numberOption). */
  readonly string?: boolean;
  /** The default as --help shows it; the value itself is applied at resolution. */
  readonly defaultDescription?: string;
}

export type Command = 'run' | 'verify' | 'retry' | 'status' | 'list' | 'state' | 'certs' | 'ctl';

/** The commands, in the order --help shows them; `run` is also the default. */
export const COMMANDS: readonly Command[] = [
  'run',
  'verify',
  'retry',
  'status',
  'list',
  'state',
  'certs',
  'ctl',
];

/** What `ingestor ctl` does, in the order its help shows them; the words after some are ids. */
export const CTL_ACTIONS = {
  status: 'what the daemon is doing, its counts and its use of the machine',
  ls: 'the newest files, a page at a time (--status, --q, --since, --sha256, --limit, --cursor)',
  show: 'one file (ctl show ROW-ID)',
  history: "one file's events (ctl history ROW-ID)",
  pending: 'files seen but not taken yet, and why, with their pending ids',
  stats: 'rates, times and failures over the last 1, 5 and 60 minutes',
  retry: 'try quarantined (ROW-ID) or backing-off (P-ID) files again (ctl retry ID...)',
  cancel: 'stop a file being read or copied, and hold it (ctl cancel P-ID)',
  hold: 'keep a waiting file from being taken (ctl hold P-ID)',
  release: 'let a held file be taken again (ctl release P-ID)',
  pause: "the operator's pause",
  resume: "end the operator's pause",
  limits:
    'show the limits, or set them (ctl limits --concurrency N --max-bytes-per-second 50MiB ...)',
  watch: 'a live screen of files in flight and the last events',
  webhooks: "the webhooks' messages, newest first; ctl webhooks redeliver ID sends one again",
} as const;

export type CtlActionName = keyof typeof CTL_ACTIONS;

/** What `ingestor state` does: its actions (words), as its help shows them. */
export const STATE_ACTIONS = {
  copy: 'copy a SQLite state (--from FILE) into an empty PostgreSQL state (--to postgres://...), in one transaction',
} as const;

/** The most rows one page of `ctl ls` or `ctl pending` asks for: the API's most. */
export const CTL_MAX_PAGE = 1000;

/** How many pending files `ctl pending` asks for without --limit (the API's default). */
export const CTL_PENDING_LIMIT = 100;

/** A command's words as yargs declares them, where it takes more than its name. */
export const COMMAND_WORDS: Readonly<Partial<Record<Command, string>>> = {
  state: 'state [action]',
  certs: 'certs [dir]',
  ctl: 'ctl [action] [ids..]',
};

/** What --help says of each positional word a command takes. */
export const POSITIONALS: Readonly<Partial<Record<Command, Record<string, string>>>> = {
  state: {
    action: Object.entries(STATE_ACTIONS)
      .map(([name, what]) => `${name}: ${what}`)
      .join('; '),
  },
  certs: { dir: 'directory to write the certificates to (created if missing)' },
  ctl: {
    action: Object.entries(CTL_ACTIONS)
      .map(([name, what]) => `${name}: ${what}`)
      .join('; '),
    ids: 'file ids: row ids (a number, as ctl ls shows) for show and history; row ids or pending ids (p and 22 characters, as ctl pending shows) for retry, cancel, hold and release',
  },
};

/** What --help says each command does. */
export const COMMAND_HELP: Readonly<Record<Command, string>> = {
  run: 'ingest complete files from --input, exactly once',
  verify: 'audit warehouse, manifests and state; exit 1 on any problem',
  retry: 'put quarantined files back to be tried again',
  status: 'counts, last ingest and what the daemon is doing',
  list: 'the history of files, newest first',
  state: 'move a state: state copy --from FILE --to postgres://... (SQLite into PostgreSQL)',
  certs: 'write a CA, a server certificate and client certificates for the control API',
  ctl: "ask a running daemon over its control API (--api-port's mutual TLS)",
};

export const USAGE = '$0 [run] --input DIR --warehouse DIR --manifests DIR [options]';

/**
 * A numeric flag. Parsed as a string, so that src/options/resolve.ts validates it once and quotes
 * a bad value as it was given (`got "abc"`, where yargs' own number type would give NaN), but
 * shown as `[number]` in --help: yargs shows the last type it knows an option by, number after
 * string.
 */
function numberOption(describe: string, defaultValue?: number | string): FlagSpec {
  return {
    string: true,
    type: 'number',
    describe,
    ...(defaultValue === undefined ? {} : { defaultDescription: String(defaultValue) }),
  };
}

/** The ingest options that are numbers. */
type NumberKey = {
  [K in keyof typeof defaults]: (typeof defaults)[K] extends number ? K : never;
}[keyof typeof defaults] &
  keyof IngestorOptions;

/** A numeric flag of `run`: the option it sets, its help, whether it is an integer, its bound. */
export interface RunNumber {
  readonly flag: string;
  readonly key: NumberKey;
  readonly integer: boolean;
  readonly describe: string;
  /** The largest value accepted, where there is one. */
  readonly max?: number;
}

/** The numeric flags of `run` that set ingest options. */
export const RUN_NUMBERS: readonly RunNumber[] = [
  {
    flag: 'stability-seconds',
    key: 'stabilitySeconds',
    integer: false,
    describe: 'seconds a file must stay unchanged (stability mode)',
  },
  {
    flag: 'concurrency',
    key: 'concurrency',
    integer: true,
    describe: 'files over 1 MiB read and hashed at once',
  },
  {
    flag: 'max-retries',
    key: 'maxRetries',
    integer: true,
    describe: 'attempts for transient read errors before quarantine',
  },
  {
    flag: 'scan-interval',
    key: 'scanIntervalSeconds',
    integer: false,
    describe: 'seconds between full scans, at least',
  },
  {
    flag: 'batch-size',
    key: 'batchSize',
    integer: true,
    describe: 'most files per group commit (one transaction and fsync for all)',
  },
  {
    flag: 'history-days',
    key: 'historyDays',
    integer: true,
    describe: "days the journal of failures, retries, holds and operators' actions is kept",
    max: 36_500,
  },
  {
    flag: 'stats-interval',
    key: 'statsIntervalSeconds',
    integer: false,
    describe: 'seconds between two stats log lines',
    max: MAX_TIMER_SECONDS,
  },
  {
    flag: 'read-stall-timeout',
    key: 'readStallSeconds',
    integer: false,
    describe:
      'seconds a read may make no progress (a hung mount) before it is abandoned and retried',
    max: MAX_TIMER_SECONDS,
  },
];

/** The limits of `run` given as sizes (`50MiB`) and the priorities: strings, checked at resolution. */
const LIMIT_FLAGS: Record<string, FlagSpec> = {
  'max-file-size': {
    type: 'string',
    describe: 'quarantine larger files unread (bytes, or 2GiB, 500MB)',
  },
  'min-free-space': {
    type: 'string',
    describe:
      'pause before warehouse, manifests or state volume has less free (bytes, 5GiB, or 10%)',
  },
  'max-bytes-per-second': {
    type: 'string',
    describe: 'read at most this much per second, all files together (bytes, or 50MiB)',
  },
  // Repeatable, one webhook per --webhook.
  webhook: {
    type: 'string',
    describe:
      'announce events to this URL, signed (Standard Webhooks): "URL [events=file.quarantined,...] [secret-file=F | secret-env=V]" (repeatable)',
  },
  'webhook-secret': {
    type: 'string',
    describe: 'the whsec_ secret of webhooks without their own (better: INGESTOR_WEBHOOK_SECRET)',
  },
  'webhook-secret-file': { type: 'string', describe: 'a file holding it' },
  // Repeatable, one rule per --priority, as --exclude.
  priority: {
    type: 'string',
    describe: 'GLOB=N: complete files matching GLOB go first, highest N first (repeatable)',
  },
};

/** The control API of `run`: off unless --api-port is given; mutual TLS, always. */
const API_FLAGS: Record<string, FlagSpec> = {
  'api-port': numberOption(
    'serve the control API (HTTPS, mutual TLS) on this port (0: any free port)',
  ),
  'api-host': {
    type: 'string',
    describe: 'address for the control API',
    defaultDescription: commandDefaults.apiHost,
  },
  'tls-cert': { type: 'string', describe: "the control API's certificate (PEM; with --api-port)" },
  'tls-key': { type: 'string', describe: 'its private key (PEM; with --api-port)' },
  'tls-ca': {
    type: 'string',
    describe: 'the CA that signs client certificates (PEM; with --api-port)',
  },
  'tls-crl': { type: 'string', describe: 'revoked client certificates (PEM CRL of --tls-ca)' },
  'api-roles': {
    type: 'string',
    describe: 'JSON file mapping certificate subjects or CNs to roles (admin, user, none)',
  },
};

/** `run` and `verify` need the manifests. */
const MANIFESTS_AND_STATE: Record<string, FlagSpec> = {
  manifests: { type: 'string', describe: 'manifest root (required)' },
  'state-path': {
    type: 'string',
    describe: 'SQLite state file',
    defaultDescription: describePlace('statePath'),
  },
  'state-url': {
    type: 'string',
    describe:
      'PostgreSQL state shared by several daemons (postgres://USER@HOST/DB), instead of --state-path',
  },
};

/** The commands that read or retry need the state, found by either flag. */
const STATE: Record<string, FlagSpec> = {
  'state-path': { type: 'string', describe: 'SQLite state file (required, or --manifests)' },
  'state-url': {
    type: 'string',
    describe: 'PostgreSQL state (postgres://USER@HOST/DB), instead of --state-path',
  },
  manifests: {
    type: 'string',
    describe: `manifest root, for the state ${describePlace('statePath')} (or --state-path)`,
  },
};

/**
 * Every command's flags, in the order --help shows them. Also what an INGESTOR_* variable or a
 * --config key may name (checkSources).
 */
export const FLAGS: Readonly<Record<Command, Readonly<Record<string, FlagSpec>>>> = {
  run: {
    input: { type: 'string', describe: 'staging directory to ingest from (required)' },
    warehouse: { type: 'string', describe: 'warehouse root (required)' },
    ...MANIFESTS_AND_STATE,
    mode: {
      type: 'string',
      choices: MODES,
      describe: 'completion rule',
      defaultDescription: defaults.mode,
    },
    once: { type: 'boolean', describe: 'one pass, print a summary, exit' },
    'dry-run': { type: 'boolean', describe: 'report what would happen; change nothing' },
    json: { type: 'boolean', describe: 'with --dry-run: the report as JSON lines' },
    // Not `array`: yargs would take the words after it as more globs (`--exclude '*.bak' run`),
    // and a bare --exclude as no glob at all. Each glob is its own --exclude.
    exclude: { type: 'string', describe: 'glob of files never ingested (repeatable)' },
    'on-duplicate': {
      type: 'string',
      choices: ON_DUPLICATE,
      describe: 'what to do with already-ingested content',
      defaultDescription: defaults.onDuplicate,
    },
    'duplicates-dir': {
      type: 'string',
      describe: 'where duplicates go',
      defaultDescription: describePlace('duplicatesDir'),
    },
    'quarantine-dir': {
      type: 'string',
      describe: 'where unreadable files go',
      defaultDescription: describePlace('quarantineDir'),
    },
    ...Object.fromEntries(
      RUN_NUMBERS.map((n) => [n.flag, numberOption(n.describe, defaults[n.key])]),
    ),
    ...LIMIT_FLAGS,
    'node-id': {
      type: 'string',
      describe: 'with --state-url: this daemon among those sharing the state',
      defaultDescription: 'the host name and the manifests directory',
    },
    'lease-seconds': numberOption(
      "with --state-url: the daemon's lease; it stops placing files a third before it runs out",
      commandDefaults.leaseSeconds,
    ),
    'metrics-port': numberOption('serve /metrics and /healthz on this port (0: any free port)'),
    'metrics-host': {
      type: 'string',
      describe: 'address to listen on',
      defaultDescription: commandDefaults.metricsHost,
    },
    'shutdown-timeout': numberOption(
      'seconds in-flight files may take after SIGTERM',
      commandDefaults.shutdownTimeoutSeconds,
    ),
    ...API_FLAGS,
    'log-level': {
      type: 'string',
      choices: LOG_LEVELS,
      describe: 'log level',
      defaultDescription: commandDefaults.logLevel,
    },
  },
  verify: {
    warehouse: { type: 'string', describe: 'warehouse root (required)' },
    ...MANIFESTS_AND_STATE,
    'duplicates-dir': {
      type: 'string',
      describe: "the daemon's duplicates directory",
      defaultDescription: describePlace('duplicatesDir'),
    },
    rehash: {
      type: 'boolean',
      describe: "also check every warehouse file's and duplicate's SHA-256",
    },
    json: { type: 'boolean', describe: 'the report as JSON' },
  },
  retry: {
    ...STATE,
    id: { ...numberOption('only this row id (repeatable)'), array: true },
  },
  status: {
    ...STATE,
    json: { type: 'boolean', describe: 'as JSON' },
  },
  list: {
    ...STATE,
    status: {
      type: 'string',
      choices: Object.keys(LIST_STATUSES),
      describe: 'only files in this state',
    },
    since: { type: 'string', describe: 'only files from then on (ISO time, or 15m, 2h, 7d)' },
    path: {
      type: 'string',
      describe:
        'only sources matching this glob: from /, the whole path; with another /, any trailing part of whole names (orders/*.csv); always, the bare name (*.csv)',
    },
    sha256: {
      type: 'string',
      describe: `only this content: a SHA-256, or a prefix of at least ${SHA256_PREFIX_MIN} hex digits`,
    },
    limit: numberOption('at most this many files', commandDefaults.listLimit),
    json: { type: 'boolean', describe: 'JSON lines' },
  },
  state: {
    from: {
      type: 'string',
      describe:
        "the SQLite state to copy: a daemon's --state-path (required; no daemon may run on it)",
    },
    to: {
      type: 'string',
      describe:
        'the PostgreSQL state to fill, empty or new: postgres://USER[:PASSWORD]@HOST[:PORT]/DB (required)',
    },
  },
  certs: {},
  ctl: {
    server: {
      type: 'string',
      describe: "the daemon's control API, https://HOST:PORT",
      defaultDescription: commandDefaults.ctlServer,
    },
    cert: { type: 'string', describe: "client certificate (PEM, signed by the daemon's --tls-ca)" },
    key: { type: 'string', describe: 'its private key (PEM)' },
    ca: { type: 'string', describe: "the CA that signed the daemon's --tls-cert (PEM)" },
    json: {
      type: 'boolean',
      describe: "the API's JSON as it is, a line per answer (watch: a line per event)",
    },
    concurrency: numberOption('with limits: set --concurrency now (until the next start)'),
    'max-bytes-per-second': {
      type: 'string',
      describe: 'with limits: set it now (50MiB; none lifts it), until the next start',
    },
    'min-free-space': {
      type: 'string',
      describe: 'with limits: set it now (5GiB, 10%; none lifts it), until the next start',
    },
    'max-file-size': {
      type: 'string',
      describe: 'with limits: set it now (2GiB; none lifts it), until the next start',
    },
    'read-stall-timeout': numberOption('with limits: set it now (seconds), until the next start'),
    status: {
      type: 'string',
      choices: Object.keys(LIST_STATUSES),
      describe: 'with ls: only files in this state',
    },
    q: { type: 'string', describe: 'with ls: only sources that contain this' },
    since: {
      type: 'string',
      describe: 'with ls: only files from then on (ISO time, or 15m, 2h, 7d)',
    },
    sha256: {
      type: 'string',
      describe: `with ls: only this content (a SHA-256, or a prefix of at least ${SHA256_PREFIX_MIN} hex digits)`,
    },
    limit: numberOption(
      `with ls and pending: at most this many (1 to ${CTL_MAX_PAGE})`,
      `${commandDefaults.listLimit} for ls, ${CTL_PENDING_LIMIT} for pending`,
    ),
    cursor: { type: 'string', describe: 'with ls: the next page, from where the last one said' },
  },
};

/** Flags every command has. */
export const COMMON_FLAGS = ['config', 'help', 'version'];

/** What --help says of --config: its keys are this command's flags, and only those. */
export function configHelp(command: Command): string {
  const keys = Object.keys(FLAGS[command])
    .slice(0, 2)
    .map((key) => JSON.stringify(key));
  if (keys.length === 0) return `JSON file of options (${command} has none)`;
  return `JSON file of options, keys as this command's flags (${keys.join(', ')}, ...)`;
}
