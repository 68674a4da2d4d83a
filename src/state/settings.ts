import type { StateStore } from './store.js';

/** Keys of the state's `settings` table (schema v3): what operators leave in force. */

/** An operator's pause, as JSON `{ "by": subject, "since": ms }`; absent when not paused. */
export const OPERATOR_PAUSE_KEY = 'operator-pause';

/**
 * The first hour the daemon closes (its first millisecond, as a decimal string): the hour of
 * the first start of a daemon that closes hours on this state (schema v4), set once.
 */
export const FIRST_HOUR_KEY = 'closing-hours-from';

/** An operator's pause as the state keeps it: who asked, since when (ms). */
export interface StoredOperatorPause {
  by: string;
  since: number;
}

/** The operator's pause the state keeps, if any. */
export async function readOperatorPause(
  store: Pick<StateStore, 'readSetting'>,
): Promise<StoredOperatorPause | undefined> {
  const value = await store.readSetting(OPERATOR_PAUSE_KEY);
  return value === undefined ? undefined : (JSON.parse(value) as StoredOperatorPause);
}
