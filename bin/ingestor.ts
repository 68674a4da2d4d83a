#!/usr/bin/env node
// The command line: parses flags (also from INGESTOR_* variables and --config) and calls src/.
import path from 'node:path';
import type { LevelWithSilent } from 'pino';
import yargs from 'yargs';
import type { Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { EXIT, runDaemon } from '../src/daemon.js';
import { UsageError, describeError } from '../src/errors.js';
import { LOG_LEVELS } from '../src/logger.js';
import type { IngestorOptions } from '../src/options.js';
import {
  MODES,
  ON_DUPLICATE,
  parseNumberFlag,
  requireDirectory,
  resolveOptions,
} from '../src/options.js';
import { retryQuarantined } from '../src/retry.js';
import {
  LIST_STATUSES,
  SHA256_PREFIX_MIN,
  describeNoMatch,
  formatListed,
  formatStatus,
  list,
  parseSince,
  status,
} from '../src/status.js';
import type { ListOptions } from '../src/status.js';
import { formatVerifyReport, verify } from '../src/verify.js';

type Args = Record<string, unknown> & { _: (string | number)[] };
type Command = 'run' | 'verify' | 'retry' | 'status' | 'list';

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

function stateOption(y: Argv): Argv {
  return y
    .option('state-path', {
      type: 'string',
      describe: 'SQLite state file [default: <manifests>/ingestor.db]',
    })
    .option('manifests', {
      type: 'string',
      describe: 'manifest root (for the default state path)',
    });
}

function runOptions(y: Argv): Argv {
  return stateOption(y)
    .option('input', { type: 'string', describe: 'staging directory to ingest from (required)' })
    .option('warehouse', { type: 'string', describe: 'warehouse root (required)' })
    .option('mode', { type: 'string', choices: MODES, describe: 'completion rule [stability]' })
    .option('stability-seconds', {
      type: 'string',
      describe: 'seconds a file must stay unchanged [5]',
    })
    .option('concurrency', { type: 'string', describe: 'files read and hashed at once [16]' })
    .option('once', { type: 'boolean', describe: 'one pass, print a summary, exit' })
    .option('dry-run', { type: 'boolean', describe: 'report what would happen; change nothing' })
    .option('json', { type: 'boolean', describe: 'with --dry-run: the report as JSON lines' })
    .option('exclude', { type: 'string', array: true, describe: 'glob of files never ingested' })
    .option('on-duplicate', {
      type: 'string',
      choices: ON_DUPLICATE,
      describe: 'what to do with already-ingested content [move]',
    })
    .option('duplicates-dir', {
      type: 'string',
      describe: 'where duplicates go [<warehouse>/_duplicates]',
    })
    .option('quarantine-dir', {
      type: 'string',
      describe: 'where unreadable files go [<warehouse>/_quarantine]',
    })
    .option('max-retries', {
      type: 'string',
      describe: 'attempts for transient read errors before quarantine [8]',
    })
    .option('scan-interval', {
      type: 'string',
      describe: 'seconds between full scans, at least [30]',
    })
    .option('batch-size', { type: 'string', describe: 'most files per group commit [256]' })
    .option('metrics-port', {
      type: 'string',
      describe: 'serve /metrics and /healthz on this port (0: any free port)',
    })
    .option('metrics-host', { type: 'string', describe: 'address to listen on [127.0.0.1]' })
    .option('stats-interval', { type: 'string', describe: 'seconds between stats lines [60]' })
    .option('shutdown-timeout', {
      type: 'string',
      describe: 'seconds in-flight files may take after SIGTERM [30]',
    })
    .option('log-level', { type: 'string', choices: LOG_LEVELS, describe: 'log level [info]' });
}

function verifyOptions(y: Argv): Argv {
  return stateOption(y)
    .option('warehouse', { type: 'string', describe: 'warehouse root (required)' })
    .option('duplicates-dir', {
      type: 'string',
      describe: "the daemon's duplicates directory [<warehouse>/_duplicates]",
    })
    .option('rehash', {
      type: 'boolean',
      describe: "also check every warehouse file's and duplicate's SHA-256",
    })
    .option('json', { type: 'boolean', describe: 'the report as JSON' });
}

function listOptions(y: Argv): Argv {
  return stateOption(y)
    .option('status', {
      type: 'string',
      choices: Object.keys(LIST_STATUSES),
      describe: 'only files in this state',
    })
    .option('since', {
      type: 'string',
      describe: 'only files from then on (ISO time, or 15m, 2h, 7d)',
    })
    .option('path', {
      type: 'string',
      describe: 'only sources matching this glob (against the whole path or the bare name)',
    })
    .option('sha256', {
      type: 'string',
      describe: `only this content: a SHA-256, or a prefix of at least ${SHA256_PREFIX_MIN} hex digits`,
    })
    .option('limit', { type: 'string', describe: 'at most this many files [50]' })
    .option('json', { type: 'boolean', describe: 'JSON lines' });
}

async function main(argv: string[]): Promise<void> {
  let command: { name: Command; args: Args } | undefined;
  const on = (name: Command) => (a: unknown) => {
    command = { name, args: a as Args };
  };
  await yargs(argv)
    .scriptName('ingestor')
    .usage('$0 [run] --input DIR --warehouse DIR --manifests DIR [options]')
    .command(
      ['run', '$0'],
      'ingest complete files from --input, exactly once',
      runOptions,
      on('run'),
    )
    .command(
      'verify',
      'audit warehouse, manifests and state; exit 1 on any problem',
      verifyOptions,
      on('verify'),
    )
    .command(
      'retry',
      'put quarantined files back to be tried again',
      (y) =>
        stateOption(y).option('id', {
          type: 'string',
          array: true,
          describe: 'only these row ids',
        }),
      on('retry'),
    )
    .command(
      'status',
      'counts, last ingest and what the daemon is doing',
      (y) => stateOption(y).option('json', { type: 'boolean', describe: 'as JSON' }),
      on('status'),
    )
    .command('list', 'the history of files, newest first', listOptions, on('list'))
    // Precedence: flags, then INGESTOR_* variables, then the --config file, then defaults.
    .env('INGESTOR')
    .config('config', 'JSON file of options (keys as the flags: "input", "stability-seconds", ...)')
    .strict(true)
    .version()
    .help()
    .showHelpOnFail(false)
    .fail((message, error) => {
      // yargs' own messages (unknown flag, bad choice, unreadable config): one line, exit 2.
      fail((message ?? describeError(error)).replace(/\n+/g, '; '), EXIT.usage);
    })
    .parserConfiguration({ 'duplicate-arguments-array': true, 'strip-aliased': true })
    .parseAsync();
  if (command === undefined) return; // --help, --version
  const { name, args } = command;
  try {
    process.exitCode = await commands[name](args);
  } catch (error) {
    fail(describeError(error), error instanceof UsageError ? EXIT.usage : EXIT.failure);
  }
}

function statePathOf(args: Args): string {
  const explicit = single('state-path', args['state-path']);
  const manifests = single('manifests', args.manifests);
  if (explicit === undefined && manifests === undefined) {
    throw new UsageError('--state-path (or --manifests) is required');
  }
  return path.resolve(explicit ?? path.join(manifests!, 'ingestor.db'));
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
      stabilitySeconds: parseNumberFlag('stability-seconds', args['stability-seconds'], false),
      concurrency: parseNumberFlag('concurrency', args.concurrency, true),
      scanIntervalSeconds: parseNumberFlag('scan-interval', args['scan-interval'], false),
      batchSize: parseNumberFlag('batch-size', args['batch-size'], true),
      maxRetries: parseNumberFlag('max-retries', args['max-retries'], true),
      statsIntervalSeconds: parseNumberFlag('stats-interval', args['stats-interval'], false),
      ...(args.exclude === undefined ? {} : { exclude: [args.exclude].flat().map(String) }),
    };
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
    return runDaemon(resolved, {
      logLevel: (single('log-level', args['log-level']) ?? 'info') as LevelWithSilent,
      ...(port === undefined ? {} : { metricsPort: port }),
      metricsHost: single('metrics-host', args['metrics-host']) ?? '127.0.0.1',
      shutdownTimeoutMs:
        (parseNumberFlag('shutdown-timeout', args['shutdown-timeout'], false) ?? 30) * 1000,
      json: args.json === true,
    });
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
    for (const r of results) {
      process.stdout.write(
        r.error === undefined
          ? `retry      #${r.id} ${r.source} -> ${r.restoredTo}\n`
          : `not retried #${r.id} ${r.source}: ${r.error}\n`,
      );
    }
    const failed = results.filter((r) => r.error !== undefined).length;
    process.stdout.write(`retry: ${results.length - failed} put back, ${failed} failed\n`);
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
      limit: parseNumberFlag('limit', args.limit, true) ?? 50,
    };
    const files = list(statePathOf(args), options);
    for (const f of files) {
      process.stdout.write(`${args.json === true ? JSON.stringify(f) : formatListed(f)}\n`);
    }
    // On stderr: stdout stays exactly the rows (none), for scripts.
    if (files.length === 0) process.stderr.write(`ingestor: ${describeNoMatch(options)}\n`);
    return EXIT.ok;
  },
};

await main(hideBin(process.argv));
