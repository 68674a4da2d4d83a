import type { Clock } from '../clock.js';
import { describeError } from '../errors.js';
import type { Logger } from '../ops/logger.js';
import type { StateStore } from '../state/store.js';

/** Journal events pruned per statement: short transactions, between the daemon's own. */
const PRUNE_BATCH = 500;
/** How often the journal is pruned. */
const PRUNE_INTERVAL_MS = 60_000;
const DAY_MS = 86_400_000;

export interface PruningDeps {
  store: Pick<StateStore, 'pruneEvents'>;
  logger: Logger;
  clock: Clock;
  historyDays: number;
  /** True once the daemon closes: a prune under way stops after its statement. */
  stopped(): boolean;
}

/**
 * Prunes journal events older than `--history-days`, a batch per statement, every minute and
 * once a second after the start: off the hot path (the state thread runs each batch between
 * claims). Files' rows are never pruned: the content index that keeps exactly-once lives in
 * them. Returns what stops it.
 */
export function startPruning(d: PruningDeps): () => void {
  let running = false;
  const prune = async () => {
    if (running) return;
    running = true;
    try {
      const before = d.clock() - d.historyDays * DAY_MS;
      let removed = 0;
      for (;;) {
        const n = await d.store.pruneEvents(before, PRUNE_BATCH);
        removed += n;
        if (n < PRUNE_BATCH || d.stopped()) break;
      }
      if (removed > 0) {
        d.logger.info({ event: 'journal-pruned', removed }, `pruned ${removed} journal events`);
      }
    } catch (error) {
      d.logger.warn(
        { event: 'journal-prune-failed', err: describeError(error) },
        'could not prune the journal',
      );
    } finally {
      running = false;
    }
  };
  const first = setTimeout(() => void prune(), 1_000);
  const timer = setInterval(() => void prune(), PRUNE_INTERVAL_MS);
  first.unref();
  timer.unref();
  return () => {
    clearTimeout(first);
    clearInterval(timer);
  };
}
