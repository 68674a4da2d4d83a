import { EXIT, describeError } from '../errors.js';
import { putBack } from '../ingest/put-back.js';
import { rowIs } from '../orchestrator/control-refusal.js';
import type { RetryCommandOptions } from '../options/types.js';
import { displayPath } from '../paths.js';
import { asLocation, openState } from '../state/open.js';
import type { StateLocation } from '../state/open.js';

export interface RetryResult {
  id: number;
  source: string;
  /** Where the file is now: back in the input (or left there, if quarantined in place). */
  restoredTo: string | null;
  error?: string;
}

/**
 * Puts quarantined files back where they came from, so that the daemon tries them again
 * (a file quarantined in place is simply released). `ids` empty: every quarantined file.
 * Safe while the daemon runs: a file put back is a new arrival, and the state is shared
 * through SQLite's locking.
 */
export async function retryQuarantined(
  state: string | StateLocation,
  ids: readonly number[],
): Promise<RetryResult[]> {
  const store = await openState(asLocation(state), { mustExist: true });
  const results: RetryResult[] = [];
  try {
    const wanted = new Set(ids);
    const rows = (await store.quarantined()).filter((r) => wanted.size === 0 || wanted.has(r.id));
    for (const id of wanted) {
      if (rows.some((r) => r.id === id)) continue;
      const row = await store.getRow(id);
      results.push({
        id,
        source: row === undefined ? '' : displayPath(row.source),
        restoredTo: null,
        error:
          row === undefined
            ? 'no file has this id'
            : `it is ${rowIs(row)}: only a quarantined file can be retried`,
      });
    }
    for (const row of rows) {
      const source = displayPath(row.source);
      try {
        const target = await putBack(store, row, Date.now());
        results.push({ id: row.id, source, restoredTo: displayPath(target) });
      } catch (error) {
        results.push({ id: row.id, source, restoredTo: null, error: describeError(error) });
      }
    }
  } finally {
    await store.close();
  }
  return results;
}

/** `ingestor retry`: what was put back and what was not, on stdout; exit 1 if any was not. */
export async function retryCommand(o: RetryCommandOptions): Promise<number> {
  const results = await retryQuarantined(o, o.ids);
  const lines = results.map((r) =>
    r.error === undefined
      ? `retry      #${r.id} ${r.source} -> ${r.restoredTo}\n`
      : `not retried #${r.id}${r.source === '' ? '' : ` ${r.source}`}: ${r.error}\n`,
  );
  const failed = results.filter((r) => r.error !== undefined).length;
  // One write: a reader that leaves early fails it once (see the end of bin/ingestor.ts).
  process.stdout.write(
    `${lines.join('')}retry: ${results.length - failed} put back, ${failed} failed\n`,
  );
  return failed === 0 ? EXIT.ok : EXIT.failure;
}
