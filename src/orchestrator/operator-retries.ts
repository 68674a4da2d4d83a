import type { Clock } from '../clock.js';
import { describeError } from '../errors.js';
import { lstatIfExists } from '../fsutil.js';
import { putBack } from '../ingest/put-back.js';
import type { FileRow, FsPath } from '../interfaces.js';
import { isNoDest } from '../naming.js';
import type { Logger } from '../ops/logger.js';
import { displayPath } from '../paths.js';
import { pendingId } from '../pending-id.js';
import type { NewJournalEvent, StateStore } from '../state/store.js';
import { ControlRefusal, ROW_ID, rowIs } from './control-refusal.js';
import type { Backoff, FailurePolicy } from './failure-policy.js';

/** What a retry did. */
export interface RetryDone {
  /** The row id (a number) of a quarantined file, the pending id of one that backed off. */
  id: number | string;
  source: string;
  /** Where the file is now (back in the input), for a quarantined file. */
  restoredTo: string | null;
}

/** A file the bulk retry could not retry, and why. */
export interface RetryFailure {
  id: number;
  source: string;
  reason: string;
}

/** The most failures a bulk retry lists (`failed` counts them all). */
export const MAX_RETRY_FAILURES = 100;

/** What a bulk retry did. */
export interface RetryManyDone {
  retried: number;
  failed: number;
  /** The first `MAX_RETRY_FAILURES` of the files that could not be retried. */
  failures: RetryFailure[];
}

/** The bulk retry's filter. */
export interface RetryFilter {
  status?: 'quarantined' | 'failed';
  /** A part of the source path. */
  q?: string;
  /** Only files that failed (or were quarantined) at or after this instant (ms). */
  since?: number;
}

export interface OperatorRetriesDeps {
  store: Pick<StateStore, 'getRow' | 'quarantined' | 'release'>;
  clock: Clock;
  logger: Logger;
  policy: Pick<FailurePolicy, 'retryNow' | 'backoffs' | 'refreshQuarantinedInPlace'>;
  journal(event: NewJournalEvent): void;
  /** Asks discovery to look at one file soon. */
  recheck(path: FsPath): void;
  /** The file with this pending id: its path, and its backoff if it failed. */
  find(id: string): { path: FsPath; backoff?: Backoff } | undefined;
  /** Whether the file with this pending id is held. */
  isHeldId(id: string): boolean;
}

/**
 * An operator's retries (part of OperatorControls): a quarantined file is put back into the
 * input, as `ingestor retry` does; one that failed and waits for its next try is tried at once.
 */
export class OperatorRetries {
  readonly #d: OperatorRetriesDeps;

  constructor(deps: OperatorRetriesDeps) {
    this.#d = deps;
  }

  /**
   * Retries a file: a quarantined one (a row id) is put back into the input, as `ingestor
   * retry` does; one that failed and waits for its next try (a pending id) is tried at once.
   */
  async retry(id: string, actor: string): Promise<RetryDone> {
    if (ROW_ID.test(id)) {
      const row = await this.#d.store.getRow(Number(id));
      if (row === undefined) throw new ControlRefusal('not-found', `no file has the id ${id}`);
      if (row.kind !== 'quarantine' || row.status !== 'committed') {
        throw new ControlRefusal(
          'conflict',
          `file ${id} (${displayPath(row.source)}) is ${rowIs(row)}: only a quarantined file, or one that failed and waits, can be retried`,
        );
      }
      return this.#retryQuarantined(row, actor);
    }
    const found = this.#d.find(id);
    if (found?.backoff === undefined) {
      if (this.#d.isHeldId(id)) {
        throw new ControlRefusal('conflict', `file ${id} is held; release it instead`);
      }
      if (found !== undefined) {
        throw new ControlRefusal('conflict', `file ${id} has not failed; nothing to retry`);
      }
      throw new ControlRefusal('not-found', `no failed or quarantined file has the id ${id}`);
    }
    return this.#retryFailed(found.backoff, actor);
  }

  async #retryQuarantined(row: FileRow, actor: string): Promise<RetryDone> {
    // Checked first for a refusal that says so: putBack's own check is the one that counts.
    if (!isNoDest(row.dest) && (await lstatIfExists(row.dest)) === undefined) {
      throw new ControlRefusal(
        'conflict',
        `file ${row.id} cannot be retried: its quarantined copy ${displayPath(row.dest)} is gone (removed from quarantine by someone), so there is nothing to put back; to ingest it, write the file into the input again`,
      );
    }
    let target: FsPath;
    try {
      target = await putBack(this.#d.store, row, this.#d.clock());
    } catch (error) {
      throw new ControlRefusal(
        'conflict',
        `file ${row.id} cannot be put back: ${describeError(error)}`,
      );
    }
    this.#d.journal({
      type: 'retried',
      fileId: row.id,
      source: null,
      actor,
      detail: { restoredTo: displayPath(target) },
    });
    await this.#d.policy.refreshQuarantinedInPlace();
    this.#d.recheck(target);
    const source = displayPath(row.source);
    this.#d.logger.warn(
      { event: 'retried', source, actor, id: row.id },
      `retried by ${actor}: ${source}`,
    );
    return { id: row.id, source, restoredTo: displayPath(target) };
  }

  #retryFailed(backoff: Backoff, actor: string): RetryDone {
    this.#d.policy.retryNow(backoff.path);
    this.#d.journal({
      type: 'retried',
      fileId: null,
      source: backoff.path,
      actor,
      detail: { attempts: backoff.attempts },
    });
    this.#d.recheck(backoff.path);
    const source = displayPath(backoff.path);
    this.#d.logger.warn({ event: 'retried', source, actor }, `retried by ${actor}: ${source}`);
    return { id: pendingId(backoff.path), source, restoredTo: null };
  }

  /**
   * Retries every file the filter matches; answers how many were and were not, and which were
   * not and why (the first `MAX_RETRY_FAILURES`).
   */
  async retryMany(filter: RetryFilter, actor: string): Promise<RetryManyDone> {
    const matches = (path: FsPath, at: number) =>
      (filter.q === undefined || displayPath(path).includes(filter.q)) &&
      (filter.since === undefined || at >= filter.since);
    let retried = 0;
    let failed = 0;
    const failures: RetryFailure[] = [];
    if (filter.status !== 'failed') {
      for (const row of await this.#d.store.quarantined()) {
        if (!matches(row.source, row.committedAt ?? row.intentAt)) continue;
        try {
          await this.#retryQuarantined(row, actor);
          retried += 1;
        } catch (error) {
          if (!(error instanceof ControlRefusal)) throw error;
          failed += 1;
          if (failures.length < MAX_RETRY_FAILURES) {
            failures.push({ id: row.id, source: displayPath(row.source), reason: error.message });
          }
        }
      }
    }
    if (filter.status !== 'quarantined') {
      // Copied first: a retry changes the map it walks.
      for (const backoff of [...this.#d.policy.backoffs()]) {
        if (backoff.until <= this.#d.clock() || !matches(backoff.path, backoff.failedAt)) continue;
        this.#retryFailed(backoff, actor);
        retried += 1;
      }
    }
    return { retried, failed, failures };
  }
}
