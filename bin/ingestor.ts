#!/usr/bin/env node
// The command line: parses flags (also from INGESTOR_* variables and --config) and calls src/.
import path from 'node:path';
import type { LevelWithSilent } from 'pino';
import yargs from 'yargs';
import type { Options } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { runCommand } from '../src/commands/run.js';
import { EXIT, UsageError, describeError, errnoMessage, hasCode } from '../src/errors.js';
import { LOG_LEVELS } from '../src/ops/logger.js';
import type { IngestorOptions } from '../src/options.js';
import {
  MODES,
  ON_DUPLICATE,
  commandDefaults,
  defaults,
  parseNumberFlag,
  readConfigFile,
  requireDirectory,
  requireReadableState,
  resolveOptions,
} from '../src/options.js';
import { retryQuarantined } from '../src/commands/retry.js';
import { describeNoMatch, formatListed, list } from '../src/commands/list.js';
import { formatStatus, status } from '../src/commands/status.js';
import { LIST_STATUSES, SHA256_PREFIX_MIN, parseSince } from '../src/options/values.js';
import type { ListOptions } from '../src/options/types.js';
import { formatVerifyReport, verify } from '../src/commands/verify.js';

type Args = Record<string, unknown> & { _: (string | number)[] };
type Command = 'run' | 'verify' | 'retry' | 'status' | 'list';
const COMMANDS: readonly Command[] = ['run', 'verify', 'retry', 'status', 'list'];
const ENV_PREFIX = 'INGESTOR_';

function fail(message: string, code: number): never {
  process.stderr.write(`ingestor: ${message}\n`);
  process.exit(code);
}

/** A flag's single value (a flag given twice is an error, not a silent choice). */
function single(flag: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (Array.isArray(value)) throw new UsageError(`--${flag} was given more than once`);
  return String(value);
}

/**
 * A numeric flag. Parsed as a string, so that src/options.ts validates it once and quotes a bad
 * value as it was given (`got "abc"`, where yargs' own number type would give NaN), but shown
 * as `[number]` in --help: yargs shows the last type it knows an option by, number after string.
 */
function numberOption(describe: string, defaultValue?: number | string): Options {
  return {
    string: true,
    type: 'number',
    describe,
    ...(defaultValue === undefined ? {} : { defaultDescription: String(defaultValue) }),
  };
}

/** The numeric flags of `run`: the option each sets, its help, and whether it is an integer. */
const RUN_NUMBERS = [
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
  { flag: 'batch-size', key: 'batchSize', integer: true, describe: 'most files per group commit' },
  {
    flag: 'stats-interval',
    key: 'statsIntervalSeconds',
    integer: false,
    describe: 'seconds between stats log lines',
  },
] as const satisfies readonly {
  flag: string;
  key: keyof typeof defaults & keyof IngestorOptions;
  integer: boolean;
  describe: string;
}[];

/** `run` and `verify` need the manifests. */
const MANIFESTS_AND_STATE: Record<string, Options> = {
  manifests: { type: 'string', describe: 'manifest root (required)' },
  'state-path': {
    type: 'string',
    describe: 'SQLite state file',
    defaultDescription: '<manifests>/ingestor.db',
  },
};

/** The commands that read or retry need the state, found by either flag. */
const STATE: Record<string, Options> = {
  'state-path': { type: 'string', describe: 'SQLite state file (required, or --manifests)' },
  manifests: {
    type: 'string',
    describe: 'manifest root, for the state <manifests>/ingestor.db (or --state-path)',
  },
};

/**
 * Every command's flags, in the order --help shows them. Also what an INGESTOR_* variable or a
 * --config key may name (checkSources).
 */
const FLAGS: Record<Command, Record<string, Options>> = {
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
    exclude: { type: 'string', array: true, describe: 'glob of files never ingested' },
    'on-duplicate': {
      type: 'string',
      choices: ON_DUPLICATE,
      describe: 'what to do with already-ingested content',
      defaultDescription: defaults.onDuplicate,
    },
    'duplicates-dir': {
      type: 'string',
      describe: 'where duplicates go',
      defaultDescription: '<warehouse>/_duplicates',
    },
    'quarantine-dir': {
      type: 'string',
      describe: 'where unreadable files go',
      defaultDescription: '<warehouse>/_quarantine',
    },
    ...Object.fromEntries(
      RUN_NUMBERS.map((n) => [n.flag, numberOption(n.describe, defaults[n.key])]),
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
      describe: "the daemon's duplicates directory [<warehouse>/_duplicates]",
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
};

/** Flags every command has. */
const COMMON_FLAGS = ['config', 'help', 'version'];

/** `stabilitySeconds` -> `stability-seconds`: config keys may be written either way. */
function kebab(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** The --config file last read, or why it could not be. */
type ConfigRead =
  { file: string; options: Record<string, unknown> } | { file: string; problem: unknown };

/**
 * A switch's value, from wherever it came: yargs reads anything but `true` as false, so that
 * `--dry-run=yes` or `INGESTOR_DRY_RUN=1` would quietly run for real. Only true and false (or
 * no value) are accepted.
 */
function checkSwitchValues(
  flags: Record<string, { type?: string | undefined }>,
  rawArgs: readonly string[],
  config: Record<string, unknown>,
  configFile: string | undefined,
): void {
  const ok = (v: unknown) => v === true || v === false || v === 'true' || v === 'false';
  for (const [flag, { type }] of Object.entries(flags)) {
    if (type !== 'boolean') continue;
    for (const arg of rawArgs) {
      if (arg === '--') break;
      for (const form of [`--${flag}=`, `--no-${flag}=`]) {
        if (arg.startsWith(form) && !ok(arg.slice(form.length))) {
          throw new UsageError(
            `--${flag} takes no value (or true or false), got ${JSON.stringify(arg.slice(form.length))}`,
          );
        }
      }
    }
    const env = `${ENV_PREFIX}${flag.toUpperCase().replaceAll('-', '_')}`;
    const fromEnv = process.env[env];
    if (fromEnv !== undefined && !ok(fromEnv)) {
      throw new UsageError(`${env} must be true or false, got ${JSON.stringify(fromEnv)}`);
    }
    for (const [key, value] of Object.entries(config)) {
      if (kebab(key) === flag && !ok(value)) {
        throw new UsageError(
          `key ${JSON.stringify(key)} in --config ${JSON.stringify(configFile)} must be true or false, got ${JSON.stringify(value)}`,
        );
      }
    }
  }
}

function commandOf(argv: Args): Command {
  const word = String(argv._[0] ?? 'run');
  return COMMANDS.includes(word as Command) ? (word as Command) : 'run';
}

/**
 * Checks what yargs reports badly, before its own validation: a --config file that cannot be
 * read, unknown INGESTOR_* variables and config keys (naming where they came from), and values
 * of the flags with choices (one line naming the flag and the value).
 */
function checkSources(argv: Args, config: ConfigRead | undefined, rawArgs: string[]): void {
  if (config !== undefined && 'problem' in config) throw config.problem;
  const command = commandOf(argv);
  const flags = FLAGS[command];
  const known = new Set([...Object.keys(flags), ...COMMON_FLAGS]);
  const noFlag = (flag: string) =>
    command === 'run' ? `(no flag --${flag})` : `(${command} has no flag --${flag})`;
  for (const name of Object.keys(process.env)) {
    if (!name.startsWith(ENV_PREFIX)) continue;
    const flag = name.slice(ENV_PREFIX.length).toLowerCase().replaceAll('_', '-');
    if (!known.has(flag)) {
      throw new UsageError(`unknown environment variable ${name} ${noFlag(flag)}`);
    }
  }
  checkSwitchValues(FLAGS[commandOf(argv)], rawArgs, config?.options ?? {}, config?.file);
  for (const key of Object.keys(config?.options ?? {})) {
    if (!known.has(kebab(key))) {
      throw new UsageError(
        `unknown key ${JSON.stringify(key)} in --config ${JSON.stringify(config!.file)} ${noFlag(kebab(key))}`,
      );
    }
  }
  for (const [flag, { choices }] of Object.entries(flags)) {
    const value = argv[flag];
    if (choices === undefined || value === undefined) continue;
    if (Array.isArray(value)) throw new UsageError(`--${flag} was given more than once`);
    if (!(choices as readonly unknown[]).includes(value)) {
      throw new UsageError(
        `--${flag} must be one of ${choices.join(', ')}, got ${JSON.stringify(value)}`,
      );
    }
  }
}

async function main(argv: string[]): Promise<void> {
  let command: { name: Command; args: Args } | undefined;
  const on = (name: Command) => (a: unknown) => {
    command = { name, args: a as Args };
  };
  let config: ConfigRead | undefined;
  const readConfig = (file: string): Record<string, unknown> => {
    // yargs would replace an error thrown here with "Invalid JSON config file": keep it, and
    // report it first (checkSources), before anything that its missing options would cause.
    try {
      const options = readConfigFile(file);
      config = { file, options };
      return options;
    } catch (problem) {
      config = { file, problem };
      return {};
    }
  };
  await yargs(argv)
    .scriptName('ingestor')
    .usage('$0 [run] --input DIR --warehouse DIR --manifests DIR [options]')
    .command(
      ['run', '$0'],
      'ingest complete files from --input, exactly once',
      (y) => y.options(FLAGS.run),
      on('run'),
    )
    .command(
      'verify',
      'audit warehouse, manifests and state; exit 1 on any problem',
      (y) => y.options(FLAGS.verify),
      on('verify'),
    )
    .command(
      'retry',
      'put quarantined files back to be tried again',
      (y) => y.options(FLAGS.retry),
      on('retry'),
    )
    .command(
      'status',
      'counts, last ingest and what the daemon is doing',
      (y) => y.options(FLAGS.status),
      on('status'),
    )
    .command('list', 'the history of files, newest first', (y) => y.options(FLAGS.list), on('list'))
    // Precedence: flags, then INGESTOR_* variables, then the --config file, then defaults.
    .env('INGESTOR')
    .config(
      'config',
      'JSON file of options (keys as the flags: "input", "stability-seconds", ...)',
      readConfig,
    )
    .middleware((a) => checkSources(a as Args, config, argv), true)
    .strict(true)
    .version()
    .help()
    .showHelpOnFail(false)
    .fail((message, error) => {
      // yargs' own messages (unknown flag or command): one line, exit 2.
      fail((message ?? describeError(error)).replace(/\n+/g, '; '), EXIT.usage);
    })
    .parserConfiguration({ 'duplicate-arguments-array': true, 'strip-aliased': true })
    .parseAsync();
  if (command === undefined) return; // --help, --version
  const { name, args } = command;
  process.exitCode = await commands[name](args);
}

function statePathOf(args: Args): string {
  const explicit = single('state-path', args['state-path']);
  const manifests = single('manifests', args.manifests);
  if (explicit === undefined && manifests === undefined) {
    throw new UsageError('--state-path (or --manifests) is required');
  }
  const statePath = path.resolve(explicit ?? path.join(manifests!, 'ingestor.db'));
  requireReadableState(statePath);
  return statePath;
}

function existingDir(flag: string, value: unknown): string {
  const dir = single(flag, value);
  if (dir === undefined || dir === '') throw new UsageError(`--${flag} is required`);
  const resolved = path.resolve(dir);
  requireDirectory(flag, resolved);
  return resolved;
}

const commands: Record<Command, (args: Args) => Promise<number>> = {
  async run(args) {
    if (args.json === true && args['dry-run'] !== true) {
      throw new UsageError(
        '--json applies only with --dry-run (the daemon logs JSON lines anyway)',
      );
    }
    const options: IngestorOptions = {
      input: single('input', args.input) ?? '',
      warehouse: single('warehouse', args.warehouse) ?? '',
      manifests: single('manifests', args.manifests) ?? '',
      once: args.once === true,
      dryRun: args['dry-run'] === true,
    };
    const optional: { [K in keyof IngestorOptions]?: IngestorOptions[K] | undefined } = {
      statePath: single('state-path', args['state-path']),
      mode: single('mode', args.mode) as IngestorOptions['mode'],
      onDuplicate: single('on-duplicate', args['on-duplicate']) as IngestorOptions['onDuplicate'],
      duplicatesDir: single('duplicates-dir', args['duplicates-dir']),
      quarantineDir: single('quarantine-dir', args['quarantine-dir']),
      ...(args.exclude === undefined ? {} : { exclude: [args.exclude].flat().map(String) }),
    };
    for (const n of RUN_NUMBERS) optional[n.key] = parseNumberFlag(n.flag, args[n.flag], n.integer);
    for (const [key, value] of Object.entries(optional)) {
      if (value !== undefined) (options as unknown as Record<string, unknown>)[key] = value;
    }
    const metricsPort = single('metrics-port', args['metrics-port']);
    const port = metricsPort === undefined ? undefined : Number(metricsPort);
    if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535)) {
      throw new UsageError(
        `--metrics-port must be a port number (0-65535), got ${JSON.stringify(metricsPort)}`,
      );
    }
    const resolved = resolveOptions(options);
    const daemon = {
      logLevel: (single('log-level', args['log-level']) ??
        commandDefaults.logLevel) as LevelWithSilent,
      ...(port === undefined ? {} : { metricsPort: port }),
      metricsHost: single('metrics-host', args['metrics-host']) ?? commandDefaults.metricsHost,
      shutdownTimeoutMs:
        (parseNumberFlag('shutdown-timeout', args['shutdown-timeout'], false) ??
          commandDefaults.shutdownTimeoutSeconds) * 1000,
      json: args.json === true,
    };
    return runCommand({ options: resolved, daemon }, { exit: (code) => process.exit(code) });
  },

  async verify(args) {
    const warehouse = existingDir('warehouse', args.warehouse);
    const manifests = existingDir('manifests', args.manifests);
    const statePath = path.resolve(
      single('state-path', args['state-path']) ?? path.join(manifests, 'ingestor.db'),
    );
    // Not required to exist: a daemon that never met a duplicate has not created it.
    const duplicatesDir = single('duplicates-dir', args['duplicates-dir']);
    if (duplicatesDir === '') throw new UsageError('--duplicates-dir must not be empty');
    const report = await verify({
      warehouse,
      manifests,
      statePath,
      ...(duplicatesDir === undefined ? {} : { duplicatesDir: path.resolve(duplicatesDir) }),
      rehash: args.rehash === true,
    });
    process.stdout.write(
      args.json === true ? `${JSON.stringify(report)}\n` : formatVerifyReport(report),
    );
    return report.problems.length === 0 ? EXIT.ok : EXIT.failure;
  },

  async retry(args) {
    const statePath = statePathOf(args);
    const ids = [args.id ?? []].flat().map((raw) => parseNumberFlag('id', raw, true) as number);
    const results = await retryQuarantined(statePath, ids);
    const lines = results.map((r) =>
      r.error === undefined
        ? `retry      #${r.id} ${r.source} -> ${r.restoredTo}\n`
        : `not retried #${r.id} ${r.source}: ${r.error}\n`,
    );
    const failed = results.filter((r) => r.error !== undefined).length;
    // One write: a reader that leaves early fails it once (see the end of this file).
    process.stdout.write(
      `${lines.join('')}retry: ${results.length - failed} put back, ${failed} failed\n`,
    );
    return failed === 0 ? EXIT.ok : EXIT.failure;
  },

  async status(args) {
    const report = await status(statePathOf(args));
    process.stdout.write(args.json === true ? `${JSON.stringify(report)}\n` : formatStatus(report));
    return EXIT.ok;
  },

  async list(args) {
    const since = single('since', args.since);
    const glob = single('path', args.path);
    const sha256 = single('sha256', args.sha256);
    const options: ListOptions = {
      ...(args.status === undefined ? {} : { status: single('status', args.status)! }),
      ...(since === undefined ? {} : { since: parseSince(since) }),
      ...(glob === undefined ? {} : { path: glob }),
      ...(sha256 === undefined ? {} : { sha256 }),
      limit: parseNumberFlag('limit', args.limit, true) ?? commandDefaults.listLimit,
    };
    const files = list(statePathOf(args), options);
    // One write: a reader that leaves early fails it once (see the end of this file).
    process.stdout.write(
      files.map((f) => `${args.json === true ? JSON.stringify(f) : formatListed(f)}\n`).join(''),
    );
    // On stderr: stdout stays exactly the rows (none), for scripts.
    if (files.length === 0) process.stderr.write(`ingestor: ${describeNoMatch(options)}\n`);
    return EXIT.ok;
  },
};

// A reader that stops early (`ingestor list | head -1`) closes the pipe: the next write fails
// with EPIPE, which Node emits as an 'error' event on stdout, and without a listener that ends
// the process with a stack trace. It is how a pipe ends (`ls | head`): nothing more reaches the
// reader, and the command ends with its own exit code. Each report is one write; a dry-run
// stops at its next line (src/commands/dry-run.ts). Any other failure to write is one line, exit 1.
process.stdout.on('error', (error) => {
  if (hasCode(error, 'EPIPE')) return;
  fail(`cannot write to stdout: ${errnoMessage(error)}`, EXIT.failure);
});

try {
  await main(hideBin(process.argv));
} catch (error) {
  fail(describeError(error), error instanceof UsageError ? EXIT.usage : EXIT.failure);
}
