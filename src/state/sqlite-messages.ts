// What the main thread and the state thread send each other.
import type { SerializedError } from '../thread-errors.js';
import type { SqliteStateStore } from './sqlite-async.js';
import type { SqliteStore } from './sqlite-store.js';

/** The calls the state thread answers: the store's own, and the pages its listings read. */
export type StateMethod =
  | Exclude<keyof SqliteStateStore, 'sync' | 'history' | 'rows'>
  | Extract<keyof SqliteStore, 'historyPage' | 'rowsPage'>;

/** The first message: where the state is. */
export interface StateOpen {
  statePath: string;
  readonly: boolean;
}

export interface StateRequest {
  id: number;
  method: StateMethod;
  args: unknown[];
}

/** The answer to the open (id 0) or to one request. */
export type StateReply =
  { id: number; ok: true; value: unknown } | { id: number; ok: false; error: SerializedError };
