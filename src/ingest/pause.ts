import pLimit from 'p-limit';
import { FULL_VOLUME_CODES, IngestError, describeError, errnoCode } from '../errors.js';
import { unlinkIfExists } from '../fsutil.js';
import type { FileRow } from '../interfaces.js';
import { pathKey } from '../paths.js';
import { backoffMs } from './failures.js';
import type { ReadResult } from './hasher.js';
import type { Entry, StepDeps } from './outcome.js';
import { recover } from './recovery.js';
import { Signal } from './signal.js';
import type { LowSpaceError } from './space-floor.js';

/** Timers wait at most this long before the clock is read again. */
const MAX_TIMER_MS = 1_000;

/** Pauses start at 1 s and double up to 30 s (with jitter) while the failure persists. */
const PAUSE_BASE_MS = 1_000;
const PAUSE_CAP_MS = 30_000;
/**
 * Below the free-space floor, files waiting to be read look at the free space this often:
 * reading it costs nothing, and an operator who freed some expects ingestion back at once.
 */
const LOW_SPACE_CHECK_MS = 1_000;

/** What pausing and settling need from the pipeline. */
export type PauseDeps = Omit<StepDeps, 'crash'>;

/**
 * When an output volume fails (full, read-only, locked), ingestion pauses with backoff: a batch
 * that failed after its intents were written is settled at once by the same rules as start-up
 * recovery, and new work waits until the pause ends. If that settlement fails too (the manifest
 * volume is the full one), the batch's files are held, neither failed nor committed, and each
 * end of the pause tries the settlement again on its own, new files or not.
 */
export class Pause {
  readonly #d: PauseDeps;
  /** Set by a pause for a full volume: copies are made one at a time (`#oneCopy`). */
  #probing = false;
  #pauseCount = 0;
  readonly #oneCopy = pLimit(1);
  #pause:
    | { until: number; attempts: number; since: number; reason: string; code: string | undefined }
    | undefined;
  #lastPause: { code: string | undefined; resumedAt: number; attempts: number } | undefined;
  /** Intents of a failed batch could not be settled yet: settle them before anything else. */
  #needsRecovery = false;
  /** How many intents wait to be settled while `#needsRecovery` (for the pause line). */
  #openIntents = 0;
  /** Files of that batch, resolved when their intents are settled. */
  #held: { entries: Entry[]; error: unknown } | undefined;
  #stopping = false;
  /** Notified when a pause begins, is renewed or ends (by its time or by a resume), and at a stop. */
  readonly #changed = new Signal();
  /** An output volume is below `--min-free-space` (see `lowSpace`). */
  #lowSpace: { error: LowSpaceError; since: number } | undefined;
  /** Notifies `#changed` when the pause's time is up; armed only while someone waits for it. */
  #endTimer: NodeJS.Timeout | undefined;

  constructor(deps: PauseDeps) {
    this.#d = deps;
  }

  /** Backoff steps taken by pauses so far (a pass counts those that let nothing in). */
  get pauseCount(): number {
    return this.#pauseCount;
  }

  /** Files of a batch that could not be recorded, held until a pause ends. */
  get heldCount(): number {
    return this.#held?.entries.length ?? 0;
  }

  /** Intents left by a failure wait to be settled (they are settled before any new batch). */
  get unsettled(): boolean {
    return this.#needsRecovery;
  }

  /** Why ingestion is paused, or undefined. */
  get pausedReason(): string | undefined {
    return this.#pause?.reason ?? this.#lowSpace?.error.message;
  }

  /**
   * The free-space floor is crossed (`error`: the volume and its free space), or no longer
   * (undefined). One warn line and a `pipeline:paused` event when it is crossed, one info line
   * and `pipeline:resumed` when files are let in again. Unlike a failed write's pause, batches
   * of files already read go on: they were admitted with room for them.
   */
  lowSpace(error: LowSpaceError | undefined): void {
    const low = this.#lowSpace;
    if (error === undefined) {
      if (low === undefined) return;
      this.#lowSpace = undefined;
      const pausedMs = this.#d.clock() - low.since;
      this.#d.logger.info(
        { event: 'resumed', pausedMs, volume: low.error.volume },
        `ingestion resumed: ${low.error.volume} volume has room again`,
      );
      this.#d.events.emit('pipeline:resumed', { pausedMs });
      this.#notifyChanged();
      return;
    }
    // The same crossing: its reason says the free space now (for /healthz and status).
    if (low !== undefined) {
      low.error = error;
      return;
    }
    this.#lowSpace = { error, since: this.#d.clock() };
    this.#pauseCount += 1;
    const { code, message: reason } = error;
    this.#d.logger.warn(
      {
        event: 'paused',
        err: reason,
        code,
        volume: error.volume,
        path: error.path,
        freeBytes: error.freeBytes,
        floorBytes: error.floorBytes,
      },
      `ingestion paused: ${reason}; sources stay in the input`,
    );
    this.#d.events.emit('pipeline:paused', { reason, code, retryInMs: LOW_SPACE_CHECK_MS });
    this.#notifyChanged();
  }

  /** A copy ended: files waiting for room look again (see `whenSpaceMayBeBack`). */
  spaceChanged(): void {
    this.#changed.notify();
  }

  /** Resolves after the free space is worth reading again; throws INGEST_ERR_STOPPING when stopping. */
  async whenSpaceMayBeBack(): Promise<void> {
    if (this.#stopping) throw new IngestError('INGEST_ERR_STOPPING', 'stopping');
    await this.#changed.waitAtMost(LOW_SPACE_CHECK_MS, false);
    if (this.#stopping) throw new IngestError('INGEST_ERR_STOPPING', 'stopping');
  }

  /** Whether a pause has begun and no batch has got through since (its time may be up). */
  get active(): boolean {
    return this.#pause !== undefined;
  }

  /** Milliseconds until the pause's time is up; 0 or less when that time has passed. */
  get remainingMs(): number {
    return this.#pause === undefined ? 0 : this.#pause.until - this.#d.clock();
  }

  /** Resolves at the next change: a pause begins or ends, its time is up, or a stop. */
  changed(): Promise<void> {
    return this.#changed.wait();
  }

  /** Calls `listener` once at the next change (see `changed`); returns what removes it. */
  onChange(listener: () => void): () => void {
    return this.#changed.onNext(listener);
  }

  /** Resolves when ingestion is not paused; throws INGEST_ERR_STOPPING when stopping. */
  async whenNotPaused(): Promise<void> {
    for (;;) {
      if (this.#stopping) throw new IngestError('INGEST_ERR_STOPPING', 'stopping');
      const wait = this.remainingMs;
      if (wait <= 0) return;
      // One timer for every waiter, at the end of the pause. A pause is renewed only once its
      // time is up, and a renewal, a resume or a stop clears it and wakes the waiters at once.
      // The wait is capped so that a clock that jumps (or a test clock) is read again soon.
      this.#endTimer ??= setTimeout(
        () => {
          this.#endTimer = undefined;
          this.#changed.notify();
        },
        Math.min(wait, MAX_TIMER_MS),
      );
      await this.#changed.wait();
    }
  }

  #notifyChanged(): void {
    clearTimeout(this.#endTimer);
    this.#endTimer = undefined;
    this.#changed.notify();
  }

  /** Pauses all ingestion because an output volume failed; backs off while it goes on. */
  pause(error: unknown): void {
    const now = this.#d.clock();
    // Several workers see the same full disk at once: one pause, one backoff step.
    if (this.#pause !== undefined && now < this.#pause.until) return;
    const code = errnoCode(error);
    // A volume that filled up again soon after a resume (some files fitted, the rest did not)
    // is the same incident: its backoff goes on growing instead of starting again at 1 s.
    const last = this.#lastPause;
    const again =
      this.#pause === undefined &&
      last !== undefined &&
      last.code === code &&
      now - last.resumedAt < PAUSE_CAP_MS * 2;
    const attempts = (this.#pause?.attempts ?? (again ? last.attempts : 0)) + 1;
    this.#pauseCount += 1;
    const wasPaused = this.#pause !== undefined;
    // After a full volume, copies go one at a time until a batch commits: all of them at once
    // can each fail where one would fit, and then no file ever gets through.
    if (code !== undefined && FULL_VOLUME_CODES.includes(code)) this.#probing = true;
    const delay = backoffMs(attempts, PAUSE_BASE_MS, PAUSE_CAP_MS);
    const reason = describeError(error);
    this.#pause = { until: now + delay, attempts, since: this.#pause?.since ?? now, reason, code };
    const held = this.#needsRecovery ? this.#openIntents : 0;
    const where =
      held === 0
        ? 'sources stay in the input'
        : `${held} moved files wait to be recorded, other sources stay in the input`;
    // One warn line when ingestion stops (again); each retry while it stays paused is debug.
    this.#d.logger[wasPaused ? 'debug' : 'warn'](
      { event: 'paused', err: reason, code, retryInMs: delay, attempts, held },
      `ingestion paused: ${reason}; ${where}; retrying in ${(delay / 1000).toFixed(1)}s`,
    );
    this.#d.events.emit('pipeline:paused', {
      reason,
      code: errnoCode(error),
      retryInMs: delay,
      ...(wasPaused ? { renewed: true } : {}),
    });
    this.#notifyChanged();
  }

  /**
   * Moved files waiting to be recorded once a settlement has failed: the open intents (a held
   * batch's, or those start-up recovery could not settle). Read only then, which is rare and
   * backs off; 0 if the state cannot be read either (the pause line says why it paused).
   */
  async #countOpenIntents(): Promise<number> {
    try {
      return (await this.#d.store.openIntents()).length;
    } catch (error) {
      this.#d.logger.debug({ err: describeError(error) }, 'cannot count the open intents');
      return 0;
    }
  }

  /** Starts paused with intents that start-up recovery could not settle (a full volume). */
  startPaused(error: unknown, openIntents: number): void {
    this.#needsRecovery = true;
    this.#openIntents = openIntents;
    this.pause(error);
  }

  #resumed(): void {
    if (this.#pause === undefined) return;
    const now = this.#d.clock();
    const pausedMs = now - this.#pause.since;
    this.#lastPause = { code: this.#pause.code, resumedAt: now, attempts: this.#pause.attempts };
    this.#probing = false;
    this.#pause = undefined;
    this.#d.logger.info({ event: 'resumed', pausedMs }, 'ingestion resumed');
    this.#d.events.emit('pipeline:resumed', { pausedMs });
    this.#notifyChanged();
  }

  /** Runs a copy: one at a time after a pause for a full volume, until a batch commits. */
  runCopy(copy: () => Promise<ReadResult>): Promise<ReadResult> {
    return this.#probing ? this.#oneCopy(copy) : copy();
  }

  /** Settles the intents of a batch that failed and could not be settled then. */
  async settleHeld(): Promise<void> {
    try {
      await this.#settleIntents();
      this.#resumed();
    } catch (error) {
      // The pause line said it; each failed retry of the settlement is a debug line.
      this.#d.logger.debug(
        { err: describeError(error) },
        'interrupted batch still cannot be settled; will retry when the pause ends',
      );
      this.pause(error);
    }
  }

  /**
   * Runs `ingest` on a batch under the pause's rules: intents left open by an earlier failure
   * are settled first; a batch that gets through resumes ingestion. A batch that fails throws:
   * its caller settles it with `settleFailed` once no other batch is running.
   */
  async runBatch(batch: Entry[], ingest: (batch: Entry[]) => Promise<void>): Promise<void> {
    if (this.#needsRecovery) {
      try {
        await this.#settleIntents();
      } catch (error) {
        // Nothing of this batch was written: its files stay in the input and wait for the
        // pause to end, like any file during a pause.
        for (const entry of batch) {
          if (entry.item.tmp !== null) await unlinkIfExists(entry.item.tmp);
          entry.resolve({ kind: 'failed', error });
        }
        this.pause(error);
        return;
      }
    }
    await ingest(batch);
    this.#resumed();
  }

  /**
   * Settles the files of batches that failed, and pauses: nothing of them is half done on disk
   * for long. Intents written before the failure are settled by the recovery rules (forward if
   * the file has its final name, back otherwise), the rest returns to the input's waiting files.
   * Recovery settles every open intent, so no other batch may be running.
   */
  async settleFailed(batch: Entry[], error: unknown): Promise<void> {
    let held: Entry[] = [];
    try {
      await this.#settleIntents(batch);
    } catch (recoveryError) {
      held = batch.filter((entry) => !entry.settled);
      // Counted before the flag is set: a pause in between would say none are held.
      const open = await this.#countOpenIntents();
      this.#openIntents = Math.max(open, held.length);
      this.#needsRecovery = true;
      this.#d.logger.warn(
        { err: describeError(recoveryError), files: held.length },
        'interrupted batch cannot be settled yet; its files are held until the pause ends',
      );
    }
    for (const entry of batch) {
      if (entry.item.tmp !== null && !entry.settled) await unlinkIfExists(entry.item.tmp);
      if (!held.includes(entry)) entry.resolve({ kind: 'failed', error });
    }
    if (held.length > 0) {
      const before = this.#held?.entries ?? [];
      this.#held = { entries: [...before, ...held], error };
      // A pass that counts held files hears of them now, even if the pause was already on.
      this.#notifyChanged();
    }
    this.pause(error);
  }

  /** Settles open intents like start-up recovery; resolves the entries of `batch` they were. */
  async #settleIntents(batch: Entry[] = []): Promise<void> {
    const { options, store, manifest, logger, clock } = this.#d;
    const result = await recover({
      options,
      store,
      manifest,
      crash: () => {},
      logger,
      now: clock,
      sweepTemporaries: false,
      ...(this.#d.fence === undefined ? {} : { fence: this.#d.fence }),
    });
    // The originals of settled duplicates are read before anything here changes: a read that
    // fails leaves the held files held (the settlement is tried again), never unresolved.
    const originals = new Map<number, FileRow | undefined>();
    for (const row of result.settled.values()) {
      if (row.status !== 'committed' || row.kind !== 'duplicate' || row.duplicateOf === null) {
        continue;
      }
      originals.set(row.duplicateOf, await store.getRow(row.duplicateOf));
    }
    this.#needsRecovery = false;
    this.#openIntents = 0;
    const held = this.#held;
    this.#held = undefined;
    for (const entry of [...batch, ...(held?.entries ?? [])]) {
      const key = pathKey(entry.item.candidate.path);
      const row = result.settled.get(key);
      if (row?.status === 'committed' && row.kind === 'ingest') {
        entry.resolve({ kind: 'committed', row });
      } else if (row?.status === 'committed' && row.kind === 'duplicate') {
        const original = row.duplicateOf === null ? undefined : originals.get(row.duplicateOf);
        if (original !== undefined) entry.resolve({ kind: 'duplicate', row, original });
      }
    }
    // Rolled back: the source is still in the input and waits for the pause to end.
    for (const entry of held?.entries ?? []) entry.resolve({ kind: 'failed', error: held!.error });
    // The hours those intents held may close now.
    this.#d.hours.settled();
  }

  /** Stopping: `whenNotPaused` throws INGEST_ERR_STOPPING, to those waiting already too. */
  stop(): void {
    this.#stopping = true;
    this.#notifyChanged();
  }

  /** At a stop: resolves the held files as deferred (INGEST_ERR_STOPPING). */
  releaseHeld(): void {
    for (const entry of this.#held?.entries.splice(0) ?? []) {
      entry.resolve({ kind: 'deferred', reason: 'stopping', code: 'INGEST_ERR_STOPPING' });
    }
  }
}
