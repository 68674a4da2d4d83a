import type { Clock } from '../clock.js';
import { describeError } from '../errors.js';
import type { IngestorEvents } from '../events.js';
import { lstatIfExists } from '../fsutil.js';
import type { Logger } from '../ops/logger.js';
import { displayPath } from '../paths.js';
import { pendingId } from '../pending-id.js';
import type { Hold, StateStore } from '../state/store.js';

/** A held file gone from the input this long (over two scans at least) is let go. */
const VANISHED_MS = 60_000;

export interface VanishedHoldsDeps {
  /** The operator's holds by path key: OperatorControls' own map, changed here. */
  holds: Map<string, Hold>;
  store: Pick<StateStore, 'releaseHold'>;
  clock: Clock;
  logger: Logger;
  events: IngestorEvents;
}

/**
 * Lets go of holds whose file is gone from the input (removed or renamed by someone) for a
 * minute, over two scans at least: a hold names a path, and would otherwise hold a later file
 * of that name. `check` runs after each scan (part of OperatorControls).
 */
export class VanishedHolds {
  readonly #d: VanishedHoldsDeps;
  /** Held files not found by the last scans, since when (by path key). */
  readonly #missing = new Map<string, number>();
  #checking = false;

  constructor(deps: VanishedHoldsDeps) {
    this.#d = deps;
  }

  async check(): Promise<void> {
    const { holds } = this.#d;
    if (this.#checking || holds.size === 0) return;
    this.#checking = true;
    try {
      const now = this.#d.clock();
      for (const [key, hold] of [...holds]) {
        if ((await lstatIfExists(hold.source)) !== undefined) {
          this.#missing.delete(key);
          continue;
        }
        // Gone for a minute, over two scans at least: not a file moved aside and back, or an
        // input remounted for a moment. And still this hold (a release may have come).
        const since = this.#missing.get(key);
        if (since === undefined) this.#missing.set(key, now);
        if (since === undefined || now - since < VANISHED_MS || holds.get(key) !== hold) continue;
        this.#missing.delete(key);
        await this.#release(key, hold);
      }
    } catch (error) {
      this.#d.logger.warn(
        { event: 'hold-check-failed', err: describeError(error) },
        'could not check the held files',
      );
    } finally {
      this.#checking = false;
    }
  }

  async #release(key: string, hold: Hold): Promise<void> {
    const id = pendingId(hold.source);
    const event = {
      type: 'released' as const,
      fileId: null,
      source: hold.source,
      actor: null,
      detail: { id, reason: 'vanished' },
    };
    await this.#d.store.releaseHold(hold.source, event, this.#d.clock());
    this.#d.holds.delete(key);
    const source = displayPath(hold.source);
    this.#d.logger.info(
      { event: 'released', source, reason: 'vanished' },
      `hold dropped: ${source} is gone from the input`,
    );
    this.#d.events.emit('file:released', { id, source, subject: 'ingestor' });
  }
}
