#!/usr/bin/env node
import fs from 'node:fs';
import path from 'node:path';
import yargs from 'yargs';
import type { Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import type { LevelWithSilent } from 'pino';
import { crashInjectorFromEnv } from '../src/crash.js';
import { dryRun, formatDryRunEntry } from '../src/dry-run.js';
import type { IngestError } from '../src/errors.js';
import { UsageError, describeError } from '../src/errors.js';
import { Ingestor } from '../src/ingestor.js';
import type { Logger } from '../src/logger.js';
import { LOG_LEVELS, createLogger } from '../src/logger.js';
import type { IngestorOptions } from '../src/options.js';
import { MODES, ON_DUPLICATE, parseNumberFlag, resolveOptions } from '../src/options.js';
import { retryQuarantined } from '../src/retry.js';
import { formatVerifyReport, verify } from '../src/verify.js';

/** Exit codes: 0 done, 1 runtime failure (or files failed in --once), 2 usage error. */
const EXIT_FAILURE = 1;
const EXIT_USAGE = 2;

function single(flag: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (Array.isArray(value)) throw new UsageError(`--${flag} was given more than once`);
  return String(value);
}

function fail(message: string, code: number, logger?: Logger): never {
  process.stderr.write(`ingestor: ${message}\n`);
  if (logger !== undefined) logger.flush();
  process.exit(code);
}

type Args = Record<string, unknown> & { _: (string | number)[] };

function runOptions(y: Argv): Argv {
  return y
    .option('input', { type: 'string', describe: 'staging directory to ingest from (required)' })
    .option('warehouse', { type: 'string', describe: 'warehouse root (required)' })
    .option('manifests', { type: 'string', describe: 'manifest root (required)' })
    .option('state-path', {
      type: 'string',
      describe: 'SQLite state file [default: <manifests>/ingestor.db]',
    })
    .option('mode', { type: 'string', choices: MODES, describe: 'completion rule [stability]' })
    .option('stability-seconds', {
      type: 'string',
      describe: 'seconds a file must stay unchanged [5]',
    })
    .option('concurrency', { type: 'string', describe: 'files read at once [4]' })
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
    .option('scan-interval', {
      type: 'string',
      describe: 'seconds between full scans, at least [30]',
    })
    .option('batch-size', { type: 'string', describe: 'most files per group commit [256]' })
    .option('quarantine-dir', {
      type: 'string',
      describe: 'where unreadable files go [<warehouse>/_quarantine]',
    })
    .option('max-retries', {
      type: 'string',
      describe: 'attempts for transient read errors before quarantine [8]',
    })
    .option('log-level', { type: 'string', choices: LOG_LEVELS, describe: 'log level [info]' });
}

function verifyOptions(y: Argv): Argv {
  return y
    .option('warehouse', { type: 'string', describe: 'warehouse root (required)' })
    .option('manifests', { type: 'string', describe: 'manifest root (required)' })
    .option('state-path', {
      type: 'string',
      describe: 'SQLite state file [default: <manifests>/ingestor.db]',
    })
    .option('rehash', { type: 'boolean', describe: "also check every file's SHA-256" })
    .option('json', { type: 'boolean', describe: 'the report as JSON' });
}

function retryOptions(y: Argv): Argv {
  return y
    .option('state-path', { type: 'string', describe: 'SQLite state file' })
    .option('manifests', {
      type: 'string',
      describe: 'manifest root, for the default state path <manifests>/ingestor.db',
    })
    .option('id', { type: 'string', array: true, describe: 'only these state row ids' });
}

async function main(argv: string[]): Promise<void> {
  let command: { name: 'run' | 'verify' | 'retry'; args: Args } | undefined;
  await yargs(argv)
    .scriptName('ingestor')
    .usage('$0 [run] --input DIR --warehouse DIR --manifests DIR [options]')
    .command(['run', '$0'], 'ingest complete files from --input, exactly once', runOptions, (a) => {
      command = { name: 'run', args: a as Args };
    })
    .command(
      'verify',
      'audit warehouse, manifests and state; exit 1 on any problem',
      verifyOptions,
      (a) => {
        command = { name: 'verify', args: a as Args };
      },
    )
    .command(
      'retry',
      'put quarantined files back into the input to be tried again',
      retryOptions,
      (a) => {
        command = { name: 'retry', args: a as Args };
      },
    )
    .strict(true)
    .version()
    .help()
    .showHelpOnFail(false)
    .fail((message, error) => {
      // yargs' own messages for unknown flags and bad choices: one line, exit 2.
      const text = (message ?? describeError(error)).replace(/\n+/g, '; ');
      fail(text, EXIT_USAGE);
    })
    .parserConfiguration({ 'duplicate-arguments-array': true, 'strip-aliased': true })
    .parseAsync();
  if (command === undefined) return; // --help, --version
  if (command.name === 'verify') return verifyCommand(command.args);
  if (command.name === 'retry') return retryCommand(command.args);
  return runCommand(command.args);
}

async function verifyCommand(args: Args): Promise<void> {
  let options;
  try {
    const warehouse = requiredDir('warehouse', args.warehouse);
    const manifests = requiredDir('manifests', args.manifests);
    const statePath = path.resolve(
      single('state-path', args['state-path']) ?? path.join(manifests, 'ingestor.db'),
    );
    options = { warehouse, manifests, statePath, rehash: args.rehash === true };
  } catch (error) {
    fail(describeError(error), EXIT_USAGE);
  }
  try {
    const report = await verify(options);
    process.stdout.write(
      args.json === true ? `${JSON.stringify(report)}\n` : formatVerifyReport(report),
    );
    process.exitCode = report.problems.length === 0 ? 0 : EXIT_FAILURE;
  } catch (error) {
    fail(describeError(error), EXIT_FAILURE);
  }
}

async function retryCommand(args: Args): Promise<void> {
  let statePath: string;
  let ids: number[];
  try {
    const explicit = single('state-path', args['state-path']);
    const manifests = single('manifests', args.manifests);
    if (explicit === undefined && manifests === undefined) {
      throw new UsageError('--state-path (or --manifests) is required');
    }
    statePath = path.resolve(explicit ?? path.join(manifests!, 'ingestor.db'));
    if (!fs.existsSync(statePath)) {
      throw new UsageError(`--state-path ${JSON.stringify(statePath)} does not exist`);
    }
    ids = ((args.id as string[] | undefined) ?? []).map(
      (raw) => parseNumberFlag('id', raw, true) as number,
    );
  } catch (error) {
    fail(describeError(error), EXIT_USAGE);
  }
  try {
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
    process.exitCode = failed === 0 ? 0 : EXIT_FAILURE;
  } catch (error) {
    fail(describeError(error), EXIT_FAILURE);
  }
}

function requiredDir(flag: string, value: unknown): string {
  const dir = single(flag, value);
  if (dir === undefined || dir === '') throw new UsageError(`--${flag} is required`);
  const resolved = path.resolve(dir);
  if (!fs.existsSync(resolved)) {
    throw new UsageError(`--${flag} ${JSON.stringify(dir)} does not exist`);
  }
  if (!fs.statSync(resolved).isDirectory()) {
    throw new UsageError(`--${flag} ${JSON.stringify(dir)} is not a directory`);
  }
  return resolved;
}

async function runCommand(args: Args): Promise<void> {
  let options: IngestorOptions;
  let logLevel: LevelWithSilent;
  try {
    const numbers = {
      stabilitySeconds: parseNumberFlag('stability-seconds', args['stability-seconds'], false),
      concurrency: parseNumberFlag('concurrency', args.concurrency, true),
      scanIntervalSeconds: parseNumberFlag('scan-interval', args['scan-interval'], false),
      batchSize: parseNumberFlag('batch-size', args['batch-size'], true),
      maxRetries: parseNumberFlag('max-retries', args['max-retries'], true),
    };
    const strings = {
      statePath: single('state-path', args['state-path']),
      mode: single('mode', args.mode) as IngestorOptions['mode'],
      onDuplicate: single('on-duplicate', args['on-duplicate']) as IngestorOptions['onDuplicate'],
      duplicatesDir: single('duplicates-dir', args['duplicates-dir']),
      quarantineDir: single('quarantine-dir', args['quarantine-dir']),
    };
    options = {
      input: single('input', args.input) ?? '',
      warehouse: single('warehouse', args.warehouse) ?? '',
      manifests: single('manifests', args.manifests) ?? '',
      once: args.once === true,
      dryRun: args['dry-run'] === true,
      ...(args.exclude === undefined ? {} : { exclude: args.exclude as string[] }),
    };
    for (const [key, value] of Object.entries({ ...numbers, ...strings })) {
      if (value !== undefined) (options as unknown as Record<string, unknown>)[key] = value;
    }
    logLevel = (single('log-level', args['log-level']) ?? 'info') as LevelWithSilent;
  } catch (error) {
    fail(describeError(error), EXIT_USAGE);
  }

  let resolved;
  try {
    resolved = resolveOptions(options);
  } catch (error) {
    fail(describeError(error), error instanceof UsageError ? EXIT_USAGE : EXIT_FAILURE);
  }

  if (resolved.dryRun) {
    // The report owns stdout; logs go to stderr.
    const logger = createLogger(logLevel, 2);
    const json = args.json === true;
    try {
      const summary = await dryRun(resolved, {
        logger,
        report: (entry) =>
          process.stdout.write(`${json ? JSON.stringify(entry) : formatDryRunEntry(entry)}\n`),
      });
      const line = `dry-run: ${summary.ingest} to ingest, ${summary.duplicate} duplicates, ${summary.skip} skipped, ${summary.wait} not complete, ${summary.error} errors; nothing was changed`;
      process.stdout.write(json ? `${JSON.stringify({ summary })}\n` : `${line}\n`);
      logger.flush();
      return;
    } catch (error) {
      fail(describeError(error), EXIT_FAILURE, logger);
    }
  }

  const logger = createLogger(logLevel);
  let crash;
  try {
    crash = crashInjectorFromEnv();
  } catch (error) {
    fail(describeError(error), EXIT_USAGE);
  }
  let ingestor: Ingestor;
  try {
    ingestor = await Ingestor.open(resolved, { logger, crash });
  } catch (error) {
    logger.fatal({ err: describeError(error) }, 'cannot start');
    fail(describeError(error), EXIT_FAILURE, logger);
  }
  logger.info(
    {
      event: 'start',
      input: resolved.input,
      warehouse: resolved.warehouse,
      manifests: resolved.manifests,
      statePath: resolved.statePath,
      mode: resolved.mode,
      once: resolved.once,
    },
    'ingestor started',
  );

  const controller = new AbortController();
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals += 1;
    if (signals > 1) {
      logger.warn(
        { signal },
        'second signal: stopping at once; recovery completes in-flight files',
      );
      logger.flush();
      process.exit(EXIT_FAILURE);
    }
    logger.info({ signal }, 'stopping: finishing in-flight files');
    controller.abort();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  try {
    const summary = resolved.once
      ? await ingestor.runOnce()
      : await ingestor.run(controller.signal);
    await ingestor.close();
    logger.info({ event: 'summary', ...summary }, 'stopped');
    if (resolved.once) {
      process.stderr.write(
        `ingestor: ${summary.ingested} ingested, ${summary.duplicates} duplicates, ${summary.failed} failed, ${summary.quarantined} quarantined, ${summary.waiting} not complete, ${summary.skipped} skipped; ${summary.bytes} bytes in ${summary.seconds.toFixed(2)} s\n`,
      );
    }
    logger.flush();
    process.exitCode = resolved.once && summary.failed > 0 ? EXIT_FAILURE : 0;
  } catch (error) {
    logger.fatal(
      { err: describeError(error), code: (error as IngestError).code },
      'stopped by an error',
    );
    try {
      await ingestor.close();
    } catch (closeError) {
      logger.error({ err: describeError(closeError) }, 'could not close cleanly; recovery will');
    }
    fail(describeError(error), EXIT_FAILURE, logger);
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
}

await main(hideBin(process.argv));
