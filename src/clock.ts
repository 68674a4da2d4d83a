/** The time source, passed in so that tests control it. Milliseconds since the epoch. */
export type Clock = () => number;

export const systemClock: Clock = () => Date.now();

/** An hour (of manifests, of closed hours) is named by its first millisecond, UTC. */
export const HOUR_MS = 3_600_000;

/** The first millisecond of the UTC hour holding `atMs`. */
export function hourStart(atMs: number): number {
  return Math.floor(atMs / HOUR_MS) * HOUR_MS;
}

/** An hour as `_SUCCESS`, logs, events and the journal name it: `2026-11-24T10:00:00Z`. */
export function hourLabel(hour: number): string {
  return new Date(hour).toISOString().replace('.000Z', 'Z');
}

/**
 * Test hook, like INGEST_TEST_CRASH_AT and outside the INGESTOR_* namespace:
 * `INGEST_TEST_CLOCK_OFFSET_MS=<integer>` runs the daemon's clock that many milliseconds ahead
 * of (or, negative, behind) the system's, so that tests reach the end of an hour without
 * waiting for one. Unset: the system clock.
 */
export function clockFromEnv(value = process.env.INGEST_TEST_CLOCK_OFFSET_MS): Clock {
  if (value === undefined || value === '') return systemClock;
  const offset = Number(value);
  if (!/^-?\d+$/.test(value) || !Number.isSafeInteger(offset)) {
    throw new Error(`INGEST_TEST_CLOCK_OFFSET_MS must be an integer, got ${JSON.stringify(value)}`);
  }
  return () => Date.now() + offset;
}
