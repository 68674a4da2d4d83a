import fs from 'node:fs';
import { UsageError, flagPathMessage, hasCode } from '../errors.js';
import { UNUSABLE_PATH_CODES } from './check-paths.js';
import { COMMANDS, COMMON_FLAGS, FLAGS } from './flags.js';
import type { Command, FlagSpec } from './flags.js';
import type { FlagValues } from './types.js';
import { FlagValueError } from './values.js';

// Where flags come from besides the command line: INGESTOR_* variables and a --config file.

export const ENV_PREFIX = 'INGESTOR_';

/**
 * `ingestor ctl` runs where operators work, not where the daemon runs: its variables have a
 * namespace of their own (INGESTOR_CTL_SERVER, ...), so that a daemon's INGESTOR_* variables and
 * ctl's never meet. Other commands ignore INGESTOR_CTL_*.
 */
export const CTL_ENV_PREFIX = 'INGESTOR_CTL_';

/** The prefix of the variables a command reads: ctl's are its own. */
export function envPrefixOf(command: Command): string {
  return command === 'ctl' ? CTL_ENV_PREFIX : ENV_PREFIX;
}

/** The command the raw words name, before yargs has parsed them: ctl comes first. */
export function commandOfWords(rawArgs: readonly string[]): Command {
  return rawArgs[0] === 'ctl' ? 'ctl' : 'run';
}

/** The flags as parsed (by their names on the command line), with the words before them. */
export type ParsedFlags = FlagValues & { readonly _: readonly (string | number)[] };

/** The --config file last read, or why it could not be. */
export type ConfigRead =
  { file: string; options: Record<string, unknown> } | { file: string; problem: unknown };

/** `stabilitySeconds` -> `stability-seconds`: config keys may be written either way. */
function kebab(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** `stability-seconds` -> `stabilitySeconds`: yargs takes that spelling on the command line too. */
function camel(flag: string): string {
  return flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** `stability-seconds` -> `INGESTOR_STABILITY_SECONDS`. */
function variableOf(flag: string, prefix = ENV_PREFIX): string {
  return `${prefix}${flag.toUpperCase().replaceAll('-', '_')}`;
}

/**
 * The words of the command line (up to `--`) that give `flag`, in any spelling yargs takes:
 * `--dry-run`, `--dry-run=false`, `--no-dry-run`, `--dryRun`, ... For a switch the parsed value
 * cannot tell: yargs keeps the last of `--dry-run --no-dry-run`.
 */
function wordsGiving(rawArgs: readonly string[], flag: string): string[] {
  const forms = [...new Set([flag, camel(flag)])].flatMap((name) => [`--${name}`, `--no-${name}`]);
  const words: string[] = [];
  for (const arg of rawArgs) {
    if (arg === '--') break;
    if (forms.some((form) => arg === form || arg.startsWith(`${form}=`))) words.push(arg);
  }
  return words;
}

/**
 * How a message names where a flag's value came from: `--stability-seconds` (the command line,
 * or the default), `INGESTOR_STABILITY_SECONDS`, or `key "stabilitySeconds" in --config
 * "/etc/ingestor.json": --stability-seconds`, in the order of precedence.
 */
export type SourceName = (flag: string) => string;

function sourceNames(
  rawArgs: readonly string[],
  env: NodeJS.ProcessEnv,
  config: ConfigRead | undefined,
  prefix: string,
): SourceName {
  return (flag) => {
    if (wordsGiving(rawArgs, flag).length > 0) return `--${flag}`;
    const variable = variableOf(flag, prefix);
    if (env[variable] !== undefined) return variable;
    if (config !== undefined && 'options' in config) {
      const key = Object.keys(config.options).find((k) => kebab(k) === flag);
      if (key !== undefined) {
        return `key ${JSON.stringify(key)} in --config ${JSON.stringify(config.file)}: --${flag}`;
      }
    }
    return `--${flag}`;
  };
}

/**
 * A switch's value, from wherever it came: yargs reads anything but `true` as false, so that
 * `--dry-run=yes` or `INGESTOR_DRY_RUN=1` would quietly run for real. Only true and false (or
 * no value) are accepted.
 */
function checkSwitchValues(
  flags: Readonly<Record<string, FlagSpec>>,
  rawArgs: readonly string[],
  env: NodeJS.ProcessEnv,
  config: Record<string, unknown>,
  configFile: string | undefined,
  prefix: string,
): void {
  const ok = (v: unknown) => v === true || v === false || v === 'true' || v === 'false';
  for (const [flag, { type }] of Object.entries(flags)) {
    if (type !== 'boolean') continue;
    for (const word of wordsGiving(rawArgs, flag)) {
      const at = word.indexOf('=');
      if (at >= 0 && !ok(word.slice(at + 1))) {
        throw new UsageError(
          `--${flag} takes no value (or true or false), got ${JSON.stringify(word.slice(at + 1))}`,
        );
      }
    }
    const name = variableOf(flag, prefix);
    const fromEnv = env[name];
    if (fromEnv !== undefined && !ok(fromEnv)) {
      throw new UsageError(`${name} must be true or false, got ${JSON.stringify(fromEnv)}`);
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

/**
 * A switch or --config given twice on the command line. Other flags given twice reach
 * resolution as an array of values, and are refused there; yargs keeps only the last switch,
 * and fails on two config files with a message that does not say so.
 */
function checkGivenOnce(
  flags: Readonly<Record<string, FlagSpec>>,
  rawArgs: readonly string[],
): void {
  const once = ['config', ...Object.keys(flags).filter((flag) => flags[flag]!.type === 'boolean')];
  for (const flag of once) {
    if (wordsGiving(rawArgs, flag).length > 1) {
      throw new UsageError(`--${flag} was given more than once`);
    }
  }
}

/** The command the words name; none (or a flag's value): `run`. */
export function commandOf(argv: ParsedFlags): Command {
  const word = String(argv._[0] ?? 'run');
  return COMMANDS.includes(word as Command) ? (word as Command) : 'run';
}

/**
 * Checks what yargs reports badly, before its own validation: a switch or --config given twice,
 * a --config file that cannot be read, unknown INGESTOR_* variables and config keys (naming
 * where they came from), and values of the flags with choices (one line naming the flag, or
 * the variable or config key that gave the value, and the value), with --help too. Returns how
 * to name where a flag's value came from, for the checks of resolution.
 */
export function checkSources(
  argv: ParsedFlags,
  config: ConfigRead | undefined,
  rawArgs: readonly string[],
  env: NodeJS.ProcessEnv,
): SourceName {
  const command = commandOf(argv);
  const flags = FLAGS[command];
  const prefix = envPrefixOf(command);
  const nameOf = sourceNames(rawArgs, env, config, prefix);
  checkGivenOnce(flags, rawArgs);
  if (config !== undefined && 'problem' in config) throw config.problem;
  const known = new Set([...Object.keys(flags), ...COMMON_FLAGS]);
  const noFlag = (flag: string) =>
    command === 'run' ? `(no flag --${flag})` : `(${command} has no flag --${flag})`;
  for (const name of Object.keys(env)) {
    if (!name.startsWith(prefix)) continue;
    if (prefix === ENV_PREFIX && name.startsWith(CTL_ENV_PREFIX)) continue;
    const flag = name.slice(prefix.length).toLowerCase().replaceAll('_', '-');
    if (!known.has(flag)) {
      throw new UsageError(`unknown environment variable ${name} ${noFlag(flag)}`);
    }
  }
  checkSwitchValues(flags, rawArgs, env, config?.options ?? {}, config?.file, prefix);
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
      throw new FlagValueError(
        flag,
        `must be one of ${choices.join(', ')}, got ${JSON.stringify(value)}`,
        nameOf(flag),
      );
    }
  }
  return nameOf;
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
