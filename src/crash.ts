/**
 * Crash injection for tests: `INGEST_TEST_CRASH_AT=<point>[:<n>]` makes the process SIGKILL itself
 * the n-th time (default 1st) it reaches that point. A real kill -9, so nothing is flushed.
 * `<point>:<n>:stop` makes it SIGSTOP itself there instead: a daemon frozen mid-step (a long GC
 * pause, a VM migration) that a test wakes with SIGCONT once its lease has run out.
 */
export const CRASH_POINTS = [
  'after-intent',
  'during-copy',
  'after-rename',
  'after-source-removed',
  'after-manifest',
  'before-commit',
  'after-commit',
  'during-recovery',
  // Closing an hour: `_SUCCESS` written under its temporary name; renamed (and its directory
  // fsynced); the close recorded in the state.
  'success-written',
  'success-renamed',
  'hour-closed',
  // A quarantine's intent (and its webhook messages) written, before the move and the commit.
  'quarantine-intent',
] as const;

export type CrashPoint = (typeof CRASH_POINTS)[number];

export interface CrashInjector {
  (point: CrashPoint): void;
}

export function crashInjectorFromEnv(value = process.env.INGEST_TEST_CRASH_AT): CrashInjector {
  if (value === undefined || value === '') return () => {};
  const [point, countText, action] = value.split(':');
  if (!CRASH_POINTS.includes(point as CrashPoint)) {
    throw new Error(
      `INGEST_TEST_CRASH_AT must be one of ${CRASH_POINTS.join(', ')}, got ${JSON.stringify(value)}`,
    );
  }
  let remaining = countText === undefined ? 1 : Number(countText);
  const signal = action === 'stop' ? 'SIGSTOP' : 'SIGKILL';
  return (reached) => {
    if (reached !== point) return;
    remaining -= 1;
    if (remaining === 0) process.kill(process.pid, signal);
  };
}
