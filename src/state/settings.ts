/** Keys of the state's `settings` table (schema v3): what operators leave in force. */

/** An operator's pause, as JSON `{ "by": subject, "since": ms }`; absent when not paused. */
export const OPERATOR_PAUSE_KEY = 'operator-pause';
