import fs from 'node:fs';
import { UsageError } from '../errors.js';
import { SqliteStateStore } from './sqlite-async.js';
import { openSqliteState } from './sqlite-store.js';
import { SqliteThreadStore } from './sqlite-thread.js';
import type { StateStore } from './store.js';

/**
 * Where the state is. Today a SQLite file; a PostgreSQL store adds its own way to name its
 * database, and `openState` chooses the store from it.
 */
export interface StateLocation {
  readonly statePath: string;
}

export interface OpenOptions {
  /** Open without writing anything (dry-run, status, list, verify); a missing state is empty. */
  readonly?: boolean;
  /** Refuse, naming it, a state that does not exist (status, list, retry). */
  mustExist?: boolean;
  /**
   * On a thread of its own (the daemon: its main thread has other work while a transaction and
   * its fsync run). Default: on the calling thread (a command's short read).
   */
  ownThread?: boolean;
}

/** Opens the state through the store that keeps it: how every command reaches the state. */
export async function openState(
  location: StateLocation,
  options: OpenOptions = {},
): Promise<StateStore> {
  if (options.mustExist === true) requireState(location);
  const readonly = options.readonly === true;
  if (options.ownThread === true) return SqliteThreadStore.open(location.statePath, { readonly });
  return new SqliteStateStore(openSqliteState(location.statePath, { readonly }));
}

/** Whether a state exists at `location` (verify compares with one only where there is one). */
export function stateExists(location: StateLocation): boolean {
  return fs.existsSync(location.statePath);
}

/** Commands that read an existing state refuse a path where there is none, naming it. */
function requireState(location: StateLocation): void {
  if (!stateExists(location)) {
    throw new UsageError(
      `--state-path ${JSON.stringify(location.statePath)} does not exist (give the daemon's --state-path, or its --manifests for the default)`,
    );
  }
}
