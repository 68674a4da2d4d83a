import type { Logger } from '../ops/logger.js';
import { HOUR_MS, hourLabel, hourStart } from '../clock.js';

/** A batch's hold on the hour its lines go to: its instant, and what lets go of the hour. */
export interface HourTicket {
  /** The batch's instant: its intents', its lines' `ingested_at`, its manifest's hour. */
  at: number;
  /** The batch is committed, or has failed (its open intents are then in the state). */
  leave(): void;
}

/**
 * Which hours a manifest line may still land in, as the daemon's main thread knows it: the
 * hours of the batches in memory, and the last hour sealed for closing. The closer runs on the
 * same thread, so a batch that takes its instant (`enter`, in the same turn of the event loop
 * as the clock is read) is seen by any later close at once, even while its claim is still on
 * its way to the state: the closer never closes an hour a batch in memory may still append to.
 * Once an hour is sealed, no batch takes an instant in it or before it (a clock set back is
 * moved on to the first open hour), and the manifest writer refuses lines for it.
 */
export class OpenHours {
  /** The last hour sealed (being closed, or closed), or undefined. */
  #sealedThrough: number | undefined;
  /** Batches in memory, by the hour of their instant. */
  readonly #batches = new Map<number, number>();
  readonly #logger: Logger | undefined;
  /** The last sealed hour whose clock step back was logged. */
  #toldBehind: number | undefined;
  /**
   * Called when a batch ends (`batch`) or open intents of failed batches were settled
   * (`settled`): an hour they held may close now.
   */
  onRelease: (what: 'batch' | 'settled') => void = () => {};

  constructor(sealedThrough: number | undefined, logger?: Logger) {
    this.#sealedThrough = sealedThrough;
    this.#logger = logger;
  }

  /** The last hour sealed, or undefined. */
  get sealedThrough(): number | undefined {
    return this.#sealedThrough;
  }

  /**
   * Registers a batch at `now` (call it in the same turn as the clock is read). An instant in
   * a sealed hour (the system clock was set back) becomes the first instant of the first open
   * hour, said once in a warn line: a line never lands in a closed hour.
   */
  enter(now: number): HourTicket {
    let at = now;
    const sealed = this.#sealedThrough;
    if (sealed !== undefined && hourStart(now) <= sealed) {
      at = sealed + HOUR_MS;
      if (this.#toldBehind !== sealed) {
        this.#toldBehind = sealed;
        this.#logger?.warn(
          {
            event: 'clock-behind',
            now: new Date(now).toISOString(),
            closedThrough: hourLabel(sealed),
          },
          `the clock (${new Date(now).toISOString()}) is in an hour already closed (through ${hourLabel(sealed)}): files are recorded at ${new Date(at).toISOString()} until it catches up`,
        );
      }
    }
    const hour = hourStart(at);
    this.#batches.set(hour, (this.#batches.get(hour) ?? 0) + 1);
    let left = false;
    return {
      at,
      leave: () => {
        if (left) return;
        left = true;
        const n = this.#batches.get(hour)! - 1;
        if (n === 0) this.#batches.delete(hour);
        else this.#batches.set(hour, n);
        this.onRelease('batch');
      },
    };
  }

  /**
   * The first ms of the oldest hour a batch in memory holds, or of the hour of `now` (and never
   * before the first open hour): no line from this daemon lands before it from now on.
   */
  heldFrom(now: number): number {
    const held = Math.min(hourStart(now), ...this.#batches.keys());
    return this.#sealedThrough === undefined ? held : Math.max(held, this.#sealedThrough + HOUR_MS);
  }

  /** Whether a batch in memory has its instant in `hour` or an earlier one. */
  busyThrough(hour: number): boolean {
    for (const h of this.#batches.keys()) if (h <= hour) return true;
    return false;
  }

  /**
   * From now on no line may land in `hour` or before. The caller has checked, in this same
   * turn, that no batch in memory holds such an hour (`busyThrough`) and that the state has no
   * open intent there.
   */
  seal(hour: number): void {
    if (this.busyThrough(hour)) {
      throw new Error(`hour ${hourLabel(hour)} cannot be sealed: a batch in memory holds it`);
    }
    if (this.#sealedThrough === undefined || hour > this.#sealedThrough) {
      this.#sealedThrough = hour;
    }
  }

  /** Whether `hour` is sealed: a line for it would land in a closed hour. */
  isSealed(hour: number): boolean {
    return this.#sealedThrough !== undefined && hour <= this.#sealedThrough;
  }

  /** Intents a failed batch left open were settled: the hours they held may close now. */
  settled(): void {
    this.onRelease('settled');
  }
}
