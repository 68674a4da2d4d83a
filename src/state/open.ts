import fs from 'node:fs';
import { UsageError } from '../errors.js';
import { openPgState } from './pg/open.js';
import type { LeaseRequest } from './pg/open.js';
import { SqliteStateStore } from './sqlite-async.js';
import { openSqliteState } from './sqlite-store.js';
import { SqliteThreadStore } from './sqlite-thread.js';
import type { StateStore } from './store.js';

/**
 * Where the state is: a SQLite file (`statePath`, the default), or a PostgreSQL database shared
 * by several daemons (`stateUrl`, which then wins). `openState` chooses the store from it.
 */
export interface StateLocation {
  readonly statePath: string;
  readonly stateUrl?: string | undefined;
}

export interface OpenOptions {
  /** Open without writing anything (dry-run, status, list, verify); a missing state is empty. */
  readonly?: boolean;
  /** Refuse, naming it, a state that does not exist (status, list, retry). */
  mustExist?: boolean;
  /**
   * On a thread of its own (the daemon: its main thread has other work while a transaction and
   * its fsync run). Default: on the calling thread (a command's short read). PostgreSQL answers
   * over a socket either way.
   */
  ownThread?: boolean;
  /** The daemon's lease (PostgreSQL only): its claims carry it, its commits need it live. */
  lease?: LeaseRequest;
  /** An idle connection the database dropped (PostgreSQL): said, and replaced when next used. */
  onPoolError?: (error: Error) => void;
}

/** A state given as its SQLite path (the library's older calls) or as a location. */
export function asLocation(state: string | StateLocation): StateLocation {
  return typeof state === 'string' ? { statePath: state } : state;
}

/** Opens the state through the store that keeps it: how every command reaches the state. */
export async function openState(
  location: StateLocation,
  options: OpenOptions = {},
): Promise<StateStore> {
  const readonly = options.readonly === true;
  if (location.stateUrl !== undefined) {
    return openPgState(location.stateUrl, {
      readonly,
      mustExist: options.mustExist === true,
      ...(options.lease === undefined ? {} : { lease: options.lease }),
      ...(options.onPoolError === undefined ? {} : { onPoolError: options.onPoolError }),
    });
  }
  if (options.mustExist === true) requireState(location);
  if (options.ownThread === true) return SqliteThreadStore.open(location.statePath, { readonly });
  return new SqliteStateStore(openSqliteState(location.statePath, { readonly }));
}

/** Whether a state exists at `location` (verify compares with one only where there is one). */
export function stateExists(location: StateLocation): boolean {
  return location.stateUrl !== undefined || fs.existsSync(location.statePath);
}

/** How to name the state in messages: its file, or its database (password hidden). */
export { describeState } from './pg/open.js';

/** Commands that read an existing state refuse a path where there is none, naming it. */
function requireState(location: StateLocation): void {
  if (!stateExists(location)) {
    throw new UsageError(
      `--state-path ${JSON.stringify(location.statePath)} does not exist (give the daemon's --state-path, or its --manifests for the default)`,
    );
  }
}
