// `ingestor state ACTION`'s options: the action, and for `copy` the two states, checked before
// anything is opened (resolve.ts has the other commands').
import fs from 'node:fs';
import path from 'node:path';
import { UsageError, flagPathMessage, hasCode } from '../errors.js';
import { checkStateUrl } from '../state/pg/connect.js';
import { UNUSABLE_PATH_CODES } from './check-paths.js';
import { STATE_ACTIONS } from './flags.js';
import type { FlagValues, StateCommandOptions } from './types.js';
import { single } from './values.js';

/** A required flag's value: one, not empty. */
function required(flag: string, value: unknown): string {
  const given = single(flag, value);
  if (given === undefined || given === '') {
    throw new UsageError(`state copy needs --${flag} (ingestor state copy --from FILE --to URL)`);
  }
  return given;
}

/** `--from`: an existing file this user may read (what is in it, SQLite checks at open). */
function existingFile(flag: string, file: string): void {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
    fs.accessSync(file, fs.constants.R_OK);
  } catch (error) {
    if (hasCode(error, 'ENOENT', 'ENOTDIR')) {
      throw new UsageError(`--${flag} ${JSON.stringify(file)} does not exist`);
    }
    if (!hasCode(error, ...UNUSABLE_PATH_CODES)) throw error;
    throw new UsageError(flagPathMessage(flag, file, 'cannot be read', error), { cause: error });
  }
  if (!stat.isFile()) {
    throw new UsageError(
      `--${flag} ${JSON.stringify(file)} is not a file (give the daemon's --state-path, ingestor.db in its --manifests by default)`,
    );
  }
}

/** `ingestor state copy --from FILE --to URL`, from its words and flags. */
export function resolveState(flags: FlagValues): StateCommandOptions {
  const names = Object.keys(STATE_ACTIONS);
  const action = single('action', flags.action);
  if (action === undefined || action === '') {
    throw new UsageError(`state needs an action: one of ${names.join(', ')}`);
  }
  if (!names.includes(action)) {
    throw new UsageError(
      `state has no action ${JSON.stringify(action)} (one of ${names.join(', ')})`,
    );
  }
  const from = path.resolve(required('from', flags.from));
  const to = required('to', flags.to);
  checkStateUrl(to, 'to', 'from');
  existingFile('from', from);
  return Object.freeze({ action: 'copy', from, to });
}
