import fs from 'node:fs';
import path from 'node:path';
import { UsageError, flagPathMessage, hasCode } from '../errors.js';
import { isInside } from '../paths.js';

// Checks of the paths flags name, against the disk as it is: they only read.

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
export const UNUSABLE_PATH_CODES = ['EACCES', 'EPERM', 'EROFS', 'ELOOP', 'ENAMETOOLONG'];

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
export function checkInput(input: string, write: boolean): void {
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
export function checkOutputFlag(flag: string, p: string, kind: 'directory' | 'file'): void {
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
 * No output directory may lie inside the input (it would be ingested) nor contain it, and the
 * state may not lie inside it. `outputs`: [flag, directory].
 */
export function checkOutsideInput(
  input: string,
  outputs: readonly (readonly [string, string])[],
  statePath: string,
): void {
  const realInput = realish(input);
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
 * The bytes of a file a flag names (a certificate, a key, a roles file), read at resolution: a
 * UsageError naming the flag, the path and the cause when it is missing or cannot be read.
 */
export function readFlagFile(flag: string, file: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (error) {
    if (hasCode(error, 'ENOENT', 'ENOTDIR')) {
      throw new UsageError(`--${flag} ${JSON.stringify(file)} does not exist`);
    }
    if (!hasCode(error, 'EISDIR', ...UNUSABLE_PATH_CODES)) throw error;
    throw new UsageError(flagPathMessage(flag, file, 'cannot be read', error), { cause: error });
  }
}
