import type { Clock } from '../clock.js';
import fs from 'node:fs';
import path from 'node:path';
import { describeError, hasCode } from '../errors.js';
import { unlinkIfExists } from '../fsutil.js';
import { tmpDirOf } from '../naming.js';
import type { IngestorEvents } from '../events.js';
import { recover } from '../ingest/recovery.js';
import type { Fence, ManifestWriter } from '../manifest/manifest-writer.js';
import type { OpenHours } from '../manifest/open-hours.js';
import type { Logger } from '../ops/logger.js';
import type { ResolvedOptions } from '../options.js';
import type { StateStore } from '../state/store.js';

export interface TakeoverDeps {
  options: ResolvedOptions;
  store: StateStore;
  manifest: ManifestWriter;
  hours: OpenHours;
  clock: Clock;
  logger: Logger;
  events: IngestorEvents;
  fence: Fence;
  /** How often to look for daemons whose lease ran out (a third of the lease). */
  intervalMs: number;
}

/**
 * On a shared state, settles the open intents of daemons whose lease ran out (killed, frozen,
 * cut off from the database) by the rules of start-up recovery: whole destination, source,
 * manifest line. Their intents are taken over with this daemon's fencing token first, so a
 * late owner that wakes up commits none of them; their lines go to this daemon's manifest.
 * Rolled-back files stay in the input, where the daemons' shares find them again.
 */
export class Takeover {
  readonly #d: TakeoverDeps;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #failing: string | undefined;
  #stopped = false;

  constructor(deps: TakeoverDeps) {
    this.#d = deps;
  }

  start(): void {
    const tick = () => {
      this.#running = this.#pass().finally(() => {
        this.#running = undefined;
        if (this.#stopped) return;
        this.#timer = setTimeout(tick, this.#d.intervalMs);
        this.#timer.unref();
      });
    };
    this.#timer = setTimeout(tick, this.#d.intervalMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
  }

  /**
   * Removes the copies in progress that daemons whose lease ran out (a lease ago at least) left
   * in their `.ingestor-tmp/<node>`: their intents are taken over, and a copy is never needed
   * by recovery (a placed file has its final name). One that wakes up late renames none of
   * them (its lease is checked first), and its own start clears its directory anyway.
   */
  async #sweepTemporaries(): Promise<void> {
    const { store, options, logger } = this.#d;
    const daemons = (await store.sharedDaemons()) ?? [];
    for (const daemon of daemons) {
      if (daemon.live || daemon.nodeId === options.nodeId) continue;
      // The database's clock against this host's: the hosts' clocks are kept in step (NTP).
      if (daemon.leaseUntil > Date.now() - this.#d.intervalMs * 3) continue;
      let removed = 0;
      for (const root of new Set([options.warehouse, options.duplicatesDir])) {
        const dir = tmpDirOf(root, daemon.nodeId);
        let names: string[];
        try {
          names = await fs.promises.readdir(dir);
        } catch (error) {
          if (hasCode(error, 'ENOENT')) continue;
          throw error;
        }
        for (const name of names) {
          if (await unlinkIfExists(path.join(dir, name))) removed += 1;
        }
        await fs.promises.rmdir(dir).catch(() => {});
      }
      if (removed > 0) {
        logger.info(
          { event: 'takeover-temporaries', nodeId: daemon.nodeId, removed },
          `removed ${removed} copies in progress left by ${daemon.nodeId}, whose lease ran out`,
        );
      }
    }
  }

  async #pass(): Promise<void> {
    const { logger, events, clock } = this.#d;
    try {
      const summary = await recover({
        ...this.#d,
        crash: () => {},
        now: clock,
        sweepTemporaries: false,
        which: 'orphans',
      });
      if (this.#failing !== undefined) {
        this.#failing = undefined;
        logger.info(
          { event: 'takeover' },
          'looking for the files of daemons whose lease ran out again',
        );
      }
      await this.#sweepTemporaries();
      const { rolledForward, rolledBack, vanished } = summary;
      const files = rolledForward + rolledBack + vanished;
      if (files === 0) return;
      logger.warn(
        { event: 'takeover', files, rolledForward, rolledBack, vanished },
        `took over ${files} files of daemons whose lease ran out: ${rolledForward} completed, ${rolledBack} rolled back (they wait in the input to be taken again), ${vanished} gone`,
      );
      events.emit('takeover:done', { files, rolledForward, rolledBack, vanished });
      this.#d.hours.settled();
    } catch (error) {
      const message = describeError(error);
      if (this.#failing !== message) {
        logger.warn(
          { event: 'takeover-failed', err: message },
          `cannot look for the files of daemons whose lease ran out now: ${message}; tried again in ${Math.round(this.#d.intervalMs / 1000)} s`,
        );
      }
      this.#failing = message;
    }
  }
}
