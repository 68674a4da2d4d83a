import type { Clock } from '../clock.js';
import { describeError, errnoCode } from '../errors.js';
import { backoffMs, classifyFailure } from '../ingest/failures.js';
import type { Outcome, Pipeline } from '../ingest/pipeline.js';
import type { Candidate, FailureClass, FsPath } from '../interfaces.js';
import type { ResolvedOptions } from '../options.js';
import { pathKey } from '../paths.js';
import type { StateStore } from '../state/store.js';
import type { Discovery } from '../watch/discovery.js';

/** Files whose reads fail transiently wait this long before the next try, doubling to the cap. */
const RETRY_BASE_MS = 1_000;
const RETRY_CAP_MS = 60_000;
const BACKOFF_CAPACITY = 100_000;

/** A file whose reads failed and that waits for its next try. */
export interface Backoff {
  path: FsPath;
  attempts: number;
  /** When it last failed (ms). */
  failedAt: number;
  /** When it may be tried again (ms). */
  until: number;
  /** The last error, as one line, and its code. */
  error: string;
  code: string | undefined;
}

/** What the failure policy acts on. */
export interface FailurePolicyDeps {
  pipeline: Pick<Pipeline, 'pause' | 'quarantine' | 'pausedReason'>;
  store: Pick<StateStore, 'quarantinedInPlace'>;
  /** The files quarantined in place when the daemon started. */
  quarantinedInPlace: readonly FsPath[];
  /** Puts a file back to wait (Discovery's `defer`). */
  defer: Discovery['defer'];
  clock: Clock;
  /** `maxRetries`: attempts before a file whose reads keep failing is quarantined. */
  options: Pick<ResolvedOptions, 'maxRetries'>;
}

/**
 * What a failed file's next step is, decided on error codes (`classifyFailure`): wait again
 * (it changed), try later with backoff, quarantine after `maxRetries`, or pause everything
 * (an output volume failed, nobody's file's fault). Keeps the attempts per file and the files
 * that wait for a pause.
 */
export class FailurePolicy {
  readonly #d: FailurePolicyDeps;
  readonly #backoff = new Map<string, Backoff>();
  /**
   * Files that failed only because an output volume did (a pause): not counted as failed while
   * they wait for the pause to end; those still waiting when a `--once` pass ends are.
   */
  readonly #waitingForPause = new Map<string, FsPath>();
  /** Files quarantined in place (another filesystem): skipped until `ingestor retry`. */
  #inPlace = new Set<string>();

  constructor(deps: FailurePolicyDeps) {
    this.#d = deps;
    this.#inPlace = new Set(deps.quarantinedInPlace.map(pathKey));
  }

  /** Files that failed for a pause and wait for it to end. */
  get waitingForPause(): number {
    return this.#waitingForPause.size;
  }

  /** Forgets the files waiting for a pause for which `live` is false (gone from the input). */
  forgetWaitingUnless(live: (key: string, path: FsPath) => boolean): void {
    for (const [key, path] of this.#waitingForPause) {
      if (!live(key, path)) this.#waitingForPause.delete(key);
    }
  }

  /** Rereads the files quarantined in place (`ingestor retry` releases them). */
  async refreshQuarantinedInPlace(): Promise<void> {
    this.#inPlace = new Set((await this.#d.store.quarantinedInPlace()).map(pathKey));
  }

  /** Whether the file must not be tried now: quarantined in place, or backing off. */
  isHeldBack(path: FsPath): boolean {
    const key = pathKey(path);
    if (this.#inPlace.has(key)) return true;
    const backoff = this.#backoff.get(key);
    return backoff !== undefined && backoff.until > this.#d.clock();
  }

  /** Decides what a failure means: wait again, try later, quarantine, or pause everything. */
  async decide(candidate: Candidate, error: unknown): Promise<Outcome> {
    const code = errnoCode(error);
    if (code === 'INGEST_ERR_STOPPING') return { kind: 'deferred', reason: 'stopping', code };
    const failure = classifyFailure(error);
    if (failure === 'changed') return { kind: 'deferred', reason: describeError(error), code };
    if (failure === 'pause') {
      this.#d.pipeline.pause(error);
      return { kind: 'failed', error };
    }
    const attempts = (this.#backoff.get(pathKey(candidate.path))?.attempts ?? 0) + 1;
    if (failure === 'retry' && attempts < this.#d.options.maxRetries) {
      return { kind: 'failed', error };
    }
    try {
      return await this.#d.pipeline.quarantine(candidate, error, attempts);
    } catch (quarantineError) {
      this.#d.pipeline.pause(quarantineError);
      return { kind: 'failed', error: quarantineError };
    }
  }

  /**
   * Sets up the next try of a file that failed: after the pause, with no attempt counted, or
   * after a backoff. Undefined when the file vanished: renamed or removed by someone else
   * before it moved, it is not ours any more.
   */
  scheduleNextTry(candidate: Candidate, error: unknown): FailureClass | undefined {
    if (errnoCode(error) === 'INGEST_ERR_VANISHED') {
      this.done(candidate.path);
      return undefined;
    }
    const key = pathKey(candidate.path);
    const kind = classifyFailure(error);
    if (kind === 'pause') {
      // Not this file's fault: it waits for the pause to end, with no attempt counted.
      if (this.#waitingForPause.size < BACKOFF_CAPACITY)
        this.#waitingForPause.set(key, candidate.path);
      this.#d.defer(candidate, {
        why: `ingestion paused: ${this.#d.pipeline.pausedReason ?? describeError(error)}`,
      });
    } else {
      const attempts = (this.#backoff.get(key)?.attempts ?? 0) + 1;
      const delay = backoffMs(attempts, RETRY_BASE_MS, RETRY_CAP_MS);
      if (this.#backoff.size >= BACKOFF_CAPACITY) this.#backoff.clear();
      this.#backoff.set(key, {
        path: candidate.path,
        attempts,
        failedAt: this.#d.clock(),
        until: this.#d.clock() + delay,
        error: describeError(error),
        code: errnoCode(error),
      });
    }
    return kind;
  }

  /** The backoff of a file that failed and waits for its next try, if it does. */
  backoffOf(path: FsPath): Backoff | undefined {
    return this.#backoff.get(pathKey(path));
  }

  /** The files that wait for their next try after a failure (the API's pending list). */
  backoffs(): IterableIterator<Backoff> {
    return this.#backoff.values();
  }

  /**
   * An operator's retry of a file that failed: it may be tried at once (its attempts are
   * kept, so that a file that keeps failing is still quarantined). False if it was not waiting.
   */
  retryNow(path: FsPath): boolean {
    const backoff = this.#backoff.get(pathKey(path));
    if (backoff === undefined) return false;
    backoff.until = 0;
    return true;
  }

  /**
   * Forgets the attempts of a file that is done (committed, duplicate or quarantined);
   * `inPlace`: quarantined where it lies, to be skipped until `ingestor retry`.
   */
  done(path: FsPath, inPlace = false): void {
    const key = pathKey(path);
    this.#backoff.delete(key);
    this.#waitingForPause.delete(key);
    if (inPlace) this.#inPlace.add(key);
  }
}
