#!/usr/bin/env node
// The command line: parses flags (also from INGESTOR_* variables and --config) and calls src/.
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { certsCommand } from '../src/commands/certs.js';
import { ctlCommand } from '../src/commands/ctl.js';
import { listCommand } from '../src/commands/list.js';
import { retryCommand } from '../src/commands/retry.js';
import { runCommand } from '../src/commands/run.js';
import { stateCommand } from '../src/commands/state-copy.js';
import { statusCommand } from '../src/commands/status.js';
import { verifyCommand } from '../src/commands/verify.js';
import { withHeapLimits } from '../src/heap-limits.js';
import { EXIT, UsageError, describeError, errnoMessage, hasCode } from '../src/errors.js';
import {
  COMMANDS,
  COMMAND_HELP,
  COMMAND_WORDS,
  FLAGS,
  POSITIONALS,
  USAGE,
  configHelp,
} from '../src/options/flags.js';
import type { Command } from '../src/options/flags.js';
import {
  resolveCerts,
  resolveList,
  resolveRetry,
  resolveRun,
  resolveStatus,
  resolveVerify,
} from '../src/options/resolve.js';
import { resolveCtl } from '../src/options/resolve-ctl.js';
import { resolveState } from '../src/options/resolve-state.js';
import {
  CTL_ENV_PREFIX,
  checkSources,
  commandOfWords,
  envPrefixOf,
  readConfigFile,
} from '../src/options/sources.js';
import type { ConfigRead, ParsedFlags, SourceName } from '../src/options/sources.js';
import type { FlagValues } from '../src/options/types.js';
import { FlagValueError } from '../src/options/values.js';

function fail(message: string, code: number): never {
  process.stderr.write(`ingestor: ${message}\n`);
  process.exit(code);
}

/** Each command: its flags resolved (src/options/), then run (src/commands/) to an exit code. */
const commands: Record<Command, (flags: FlagValues) => number | Promise<number>> = {
  run: (flags) => {
    const options = resolveRun(flags);
    // The daemon's heap limits: once its flags are known good, before it does anything.
    withHeapLimits();
    return runCommand(options, { exit: (code) => process.exit(code) });
  },
  verify: (flags) => verifyCommand(resolveVerify(flags)),
  retry: (flags) => retryCommand(resolveRetry(flags)),
  status: (flags) => statusCommand(resolveStatus(flags)),
  list: (flags) => listCommand(resolveList(flags)),
  state: (flags) => stateCommand(resolveState(flags)),
  certs: (flags) => certsCommand(resolveCerts(flags)),
  ctl: async (flags) => {
    const options = resolveCtl(flags);
    // A watch runs until Ctrl-C (or SIGTERM), then restores the terminal and exits 0.
    const stop = new AbortController();
    const onSignal = () => stop.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    try {
      return await ctlCommand(options, {
        out: process.stdout,
        err: process.stderr,
        signal: stop.signal,
      });
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  },
};

/**
 * ctl's variables (INGESTOR_CTL_*) are not the other commands': yargs would read them as flags
 * (`--ctl-server`) and its strict mode refuse them, so that a shell set up for `ingestor ctl`
 * could not run `ingestor status`. They are dropped for those commands before yargs reads the
 * environment.
 */
function dropCtlVariables(argv: readonly string[]): void {
  if (commandOfWords(argv) === 'ctl') return;
  for (const name of Object.keys(process.env)) {
    if (name.startsWith(CTL_ENV_PREFIX)) delete process.env[name];
  }
}

async function main(argv: string[]): Promise<void> {
  dropCtlVariables(argv);
  let command: { name: Command; flags: ParsedFlags } | undefined;
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
  let sourceOf: SourceName = (flag) => `--${flag}`;
  let parser = yargs(argv).scriptName('ingestor').usage(USAGE);
  for (const name of COMMANDS) {
    parser = parser.command(
      name === 'run' ? ['run', '$0'] : (COMMAND_WORDS[name] ?? name),
      COMMAND_HELP[name],
      (y) => {
        for (const [word, describe] of Object.entries(POSITIONALS[name] ?? {})) {
          y.positional(word, { type: 'string', describe });
        }
        return y.options(FLAGS[name]).describe('config', configHelp(name));
      },
      (a) => {
        command = { name, flags: a as unknown as ParsedFlags };
      },
    );
  }
  await parser
    // Precedence: flags, then INGESTOR_* variables, then the --config file, then defaults.
    .env(envPrefixOf(commandOfWords(argv)).slice(0, -1))
    .config('config', configHelp('run'), readConfig)
    .middleware((a) => {
      sourceOf = checkSources(a as unknown as ParsedFlags, config, argv, process.env);
    }, true)
    .strict(true)
    .version()
    // Help is a flag of each command, shown by its handler below, after yargs has checked the
    // words: yargs' own --help would show the main help for `ingestor bogus --help`.
    .help(false)
    .option('help', { type: 'boolean', alias: 'h', describe: 'Show help' })
    .showHelpOnFail(false)
    .fail((message, error) => {
      // yargs' own messages (unknown flag or command): one line, exit 2.
      fail((message ?? describeError(error)).replace(/\n+/g, '; '), EXIT.usage);
    })
    .parserConfiguration({ 'duplicate-arguments-array': true, 'strip-aliased': true })
    .parseAsync();
  if (command === undefined) return; // --version
  const { name, flags } = command;
  if (flags.help === true) {
    parser.showHelp('log'); // the help of the command that ran
    return;
  }
  try {
    process.exitCode = await commands[name](flags);
  } catch (error) {
    // A bad value is named where it came from: the flag, its variable or its config key.
    throw error instanceof FlagValueError ? error.namedBy(sourceOf(error.flag)) : error;
  }
}

// A reader that stops early (`ingestor list | head -1`) closes the pipe: the next write fails
// with EPIPE, which Node emits as an 'error' event on stdout, and without a listener that ends
// the process with a stack trace. It is how a pipe ends (`ls | head`): nothing more reaches the
// reader, and the command ends with its own exit code. Each report is one write; a dry-run
// stops at its next line (src/commands/dry-run.ts). Any other failure to write is one line,
// exit 1.
process.stdout.on('error', (error) => {
  if (hasCode(error, 'EPIPE')) return;
  fail(`cannot write to stdout: ${errnoMessage(error)}`, EXIT.failure);
});

try {
  await main(hideBin(process.argv));
} catch (error) {
  fail(describeError(error), error instanceof UsageError ? EXIT.usage : EXIT.failure);
}
