import { IngestError, hasCode } from '../errors.js';
import { TRANSIENT_SOURCE_CODES } from './failures.js';

/** How the reads of a source are watched for stalls (`--read-stall-timeout`). */
export interface StallWatch {
  /** Milliseconds one operation on the source (open, fstat, read, close) may take. */
  readonly ms: number;
  /**
   * An operation was abandoned. It began at `since` (ms since the epoch) and still holds a
   * thread inside the kernel; `returned` resolves once it has come back and the descriptor
   * has been closed after it.
   */
  stuck?(since: number, returned: Promise<void>): void;
}

/** The error of a read abandoned after `ms` without progress. */
export function readStalledError(name: string, ms: number): IngestError {
  return new IngestError(
    'INGEST_ERR_READ_STALLED',
    `${name} made no progress for ${ms / 1000} s (a hung mount?); abandoned`,
  );
}

/** Errors a late close after a stuck read may end with: that read has already failed. */
const LATE_CLOSE_CODES = [...TRANSIENT_SOURCE_CODES, 'ENOTCONN', 'ECONNABORTED'];

interface Stuck {
  op: Promise<unknown>;
  since: number;
  /** Undoes what the operation did if it succeeds after all (closes an opened descriptor). */
  late: ((value: unknown) => Promise<void>) | undefined;
}

const ignore = () => undefined;

/**
 * The source operations of one read, each raced against the stall timeout: one that has not
 * returned after `watch.ms` rejects with INGEST_ERR_READ_STALLED, and the read fails as on
 * any error (its copy removed). What the kernel still holds is left alone until it comes
 * back: the descriptor is closed after the stuck operation returns, never while it is in
 * flight (a close can hang on the same mount, and would take another thread), and the
 * stuck read's buffer is never used again (each read has buffers of its own).
 */
export class SourceStall {
  readonly #name: string;
  readonly #watch: StallWatch | undefined;
  #stuck: Stuck | undefined;

  constructor(name: string, watch: StallWatch | undefined) {
    this.#name = name;
    this.#watch = watch;
  }

  /** Whether an operation was abandoned. */
  get stuck(): boolean {
    return this.#stuck !== undefined;
  }

  /**
   * `op`, or INGEST_ERR_READ_STALLED once it has taken `watch.ms`. `late` undoes a result
   * that comes after that (a descriptor opened late is closed).
   */
  run<T>(op: Promise<T>, late?: (value: T) => Promise<void>): Promise<T> {
    const watch = this.#watch;
    if (watch === undefined) return op;
    const since = Date.now();
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const timer = setTimeout(() => {
        // A busy thread runs its timers late: a reply that came in meanwhile is taken in the
        // poll phase, before this check, and wins.
        setImmediate(() => {
          if (settled) return;
          settled = true;
          this.#stuck ??= { op, since, late: late as Stuck['late'] };
          reject(readStalledError(this.#name, watch.ms));
        });
      }, watch.ms);
      op.then(
        (value) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          resolve(value);
        },
        (error: unknown) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          reject(error);
        },
      );
    });
  }

  /**
   * Closes the source: now (raced like any operation), or, after an abandoned operation, once
   * that returns; `watch.stuck` is told when that is. Without a descriptor (the open stalled),
   * only what the open's `late` does remains.
   */
  async close(close: (() => Promise<void>) | undefined): Promise<void> {
    if (this.#stuck === undefined && close !== undefined) {
      try {
        await this.run(close());
        return;
      } catch (error) {
        if (this.#stuck === undefined) throw error;
        // The close itself hung: nothing more to do once it returns.
        this.#abandon(undefined);
        throw error;
      }
    }
    this.#abandon(close);
  }

  #abandon(close: (() => Promise<void>) | undefined): void {
    const stuck = this.#stuck;
    if (stuck === undefined) return;
    const returned = stuck.op
      .then(stuck.late, ignore)
      .then(close)
      .catch((error: unknown) => {
        if (!hasCode(error, ...LATE_CLOSE_CODES)) throw error;
      });
    this.#watch?.stuck?.(stuck.since, returned);
  }
}
