/** The time source, passed in so that tests control it. Milliseconds since the epoch. */
export type Clock = () => number;

export const systemClock: Clock = () => Date.now();

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
