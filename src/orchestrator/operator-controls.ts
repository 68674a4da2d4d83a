import type { Clock } from '../clock.js';
import { IngestError, describeError } from '../errors.js';
import type { IngestorEvents } from '../events.js';
import type { LimitChanges, LiveLimits } from '../ingest/live-limits.js';
import { Signal } from '../ingest/signal.js';
import type { SpaceFloor } from '../options/bytes.js';
import { formatBytes } from '../ops/human-units.js';
import type { Candidate, FsPath } from '../interfaces.js';
import type { Logger } from '../ops/logger.js';
import { displayPath, pathKey } from '../paths.js';
import { pendingId } from '../pending-id.js';
import type { Hold, NewJournalEvent, StateStore } from '../state/store.js';
import type { PendingSet } from '../watch/pending.js';
import type { Backoff, FailurePolicy } from './failure-policy.js';
import { listPending } from './pending-list.js';
import type { PendingView } from './pending-list.js';
import type { Scheduler } from './scheduler.js';
import { InFlightJobs } from './in-flight.js';
import type { InFlightJob, InFlightView } from './in-flight.js';
import { OPERATOR_PAUSE_KEY } from '../state/settings.js';
import type { StoredOperatorPause } from '../state/settings.js';
import { ControlRefusal, ROW_ID, notPending } from './control-refusal.js';
import { OperatorRetries } from './operator-retries.js';
import { VanishedHolds } from './vanished-holds.js';
import type { RetryDone, RetryFilter, RetryManyDone } from './operator-retries.js';

/** The settings key of the operator's pause (kept in the state's settings). */
export { OPERATOR_PAUSE_KEY } from '../state/settings.js';
export { ControlRefusal } from './control-refusal.js';
export type { RetryDone, RetryFilter, RetryManyDone } from './operator-retries.js';

/** An operator's pause: who asked and since when (ms). */
export type OperatorPause = StoredOperatorPause;

export interface OperatorControlsDeps {
  store: Pick<
    StateStore,
    'recordEvents' | 'hold' | 'releaseHold' | 'writeSetting' | 'getRow' | 'quarantined' | 'release'
  >;
  clock: Clock;
  logger: Logger;
  events: IngestorEvents;
  policy: Pick<FailurePolicy, 'retryNow' | 'backoffs' | 'refreshQuarantinedInPlace'>;
  scheduler: Pick<Scheduler, 'setConcurrency' | 'concurrency'>;
  /** The limits an operator may change besides the concurrency. */
  limits: Pick<LiveLimits, 'apply'>;
  pending: PendingSet;
  options: { batchSize: number; stabilityMs: number };
  /** Asks discovery for a scan soon (a released or retried file is found by it). */
  rescan(): void;
  /**
   * Asks discovery to look at one file soon (a released or retried file): a hint, as inotify
   * gives, so that it does not wait for the next scan (spaced up to a minute apart on a large
   * input) or for a rescan request that a scan in progress would clear.
   */
  recheck(path: FsPath): void;
  /** Read from the state at start. */
  holds: readonly Hold[];
  operatorPause: OperatorPause | undefined;
}

/**
 * An operator's controls over the running daemon: holds (a cancel holds too), the operator's
 * pause, retries, the reading concurrency, and the journal of each with the operator's name.
 * Holds and the pause are kept in the state, so that they outlive a restart; the daemon asks
 * `isHeld` and `whenResumed` on its hot path, which read memory only.
 */
export class OperatorControls {
  readonly #d: OperatorControlsDeps;
  readonly #holds = new Map<string, Hold>();
  readonly #inFlight = new InFlightJobs();
  #pause: OperatorPause | undefined;
  readonly #retries: OperatorRetries;
  readonly #resumed = new Signal();
  #stopping = false;

  #generation = 0;

  constructor(deps: OperatorControlsDeps) {
    this.#d = deps;
    for (const hold of deps.holds) this.#holds.set(pathKey(hold.source), hold);
    this.#pause = deps.operatorPause;
    const vanished = new VanishedHolds({ ...deps, holds: this.#holds });
    deps.events.on('scan:done', () => void vanished.check());
    this.#retries = new OperatorRetries({
      ...deps,
      journal: (event) => this.journal(event),
      find: (id) => this.#find(id),
      isHeldId: (id) => this.#heldById(id) !== undefined,
    });
  }

  /** Whether an operator holds this file (it is not taken until released). */
  isHeld(path: FsPath): boolean {
    return this.#holds.size > 0 && this.#holds.has(pathKey(path));
  }

  /** The operator's pause, if one is on. */
  get operatorPause(): OperatorPause | undefined {
    return this.#pause;
  }

  /**
   * Moves each time this daemon's operator pauses or resumes: a read of the shared setting
   * begun before such a change says nothing about it (`follow`).
   */
  get pauseGeneration(): number {
    return this.#generation;
  }

  /**
   * Resolves when no operator's pause is on: nothing new is hashed meanwhile. Throws
   * INGEST_ERR_STOPPING when the daemon stops during the pause: a file queued before the pause
   * then stays in the input for the next start, instead of holding the stop up.
   */
  async whenResumed(): Promise<void> {
    while (this.#pause !== undefined && !this.#stopping) await this.#resumed.wait();
    if (this.#pause !== undefined) throw new IngestError('INGEST_ERR_STOPPING', 'stopping');
  }

  /** The daemon stops: files waiting for the operator's pause to end give up waiting. */
  stop(): void {
    this.#stopping = true;
    this.#resumed.notify();
  }

  /** Records that a file is in flight; `settled` forgets it. */
  track(candidate: Candidate): InFlightJob {
    return this.#inFlight.track(candidate);
  }

  settled(job: InFlightJob): void {
    this.#inFlight.settled(job);
  }

  /** Writes a journal event; a failure to write it is logged, never the caller's failure. */
  journal(event: NewJournalEvent): void {
    this.#d.store.recordEvents([event], this.#d.clock()).catch((error: unknown) => {
      this.#d.logger.warn(
        { event: 'journal-failed', type: event.type, err: describeError(error) },
        'could not record an event in the state',
      );
    });
  }

  /** Files in flight now (the API's pending list leaves them out; status counts them). */
  get inFlight(): number {
    return this.#inFlight.size;
  }

  async pause(actor: string): Promise<OperatorPause> {
    if (this.#pause !== undefined) {
      throw new ControlRefusal(
        'conflict',
        `ingestion is already paused by ${this.#pause.by} since ${new Date(this.#pause.since).toISOString()}`,
      );
    }
    const pause = { by: actor, since: this.#d.clock() };
    await this.#d.store.writeSetting(
      OPERATOR_PAUSE_KEY,
      JSON.stringify(pause),
      { type: 'paused', fileId: null, source: null, actor, detail: null },
      pause.since,
    );
    this.#pause = pause;
    this.#generation += 1;
    this.#d.logger.warn({ event: 'operator-paused', actor }, `ingestion paused by ${actor}`);
    this.#d.events.emit('operator:paused', {
      kind: 'operator',
      subject: actor,
      since: pause.since,
    });
    return pause;
  }

  /**
   * On a shared state, the pause as the state has it now: an operator's pause or resume asked
   * of another daemon applies to this one too (every daemon follows the one setting).
   */
  follow(stored: OperatorPause | undefined): void {
    const mine = this.#pause;
    if (stored !== undefined && mine === undefined) {
      this.#pause = stored;
      this.#d.logger.warn(
        { event: 'operator-paused', actor: stored.by, shared: true },
        `ingestion paused by ${stored.by} (asked of another daemon of this state)`,
      );
      this.#d.events.emit('operator:paused', {
        kind: 'operator',
        subject: stored.by,
        since: stored.since,
      });
    } else if (stored === undefined && mine !== undefined) {
      this.#pause = undefined;
      this.#resumed.notify();
      this.#d.logger.warn(
        { event: 'operator-resumed', shared: true },
        'ingestion resumed (asked of another daemon of this state)',
      );
      this.#d.events.emit('operator:resumed', {
        kind: 'operator',
        subject: mine.by,
        pausedMs: this.#d.clock() - mine.since,
      });
      this.#d.rescan();
    }
  }

  async resume(actor: string): Promise<void> {
    const pause = this.#pause;
    if (pause === undefined) {
      throw new ControlRefusal('conflict', 'ingestion is not paused by an operator');
    }
    const at = this.#d.clock();
    await this.#d.store.writeSetting(
      OPERATOR_PAUSE_KEY,
      null,
      {
        type: 'resumed',
        fileId: null,
        source: null,
        actor,
        detail: { pausedMs: at - pause.since },
      },
      at,
    );
    this.#pause = undefined;
    this.#generation += 1;
    this.#resumed.notify();
    this.#d.logger.warn({ event: 'operator-resumed', actor }, `ingestion resumed by ${actor}`);
    this.#d.events.emit('operator:resumed', {
      kind: 'operator',
      subject: actor,
      pausedMs: at - pause.since,
    });
    this.#d.rescan();
  }

  /**
   * Sets the reading concurrency and the other run-time limits until the next start; journals
   * who did, and logs what changed from what.
   */
  setLimits(changes: LimitChanges & { readonly concurrency?: number }, actor: string): void {
    const { concurrency, ...others } = changes;
    const before: Record<string, unknown> = {};
    if (concurrency !== undefined) {
      before.concurrency = this.#d.scheduler.concurrency;
      this.#d.scheduler.setConcurrency(concurrency, this.#d.options.batchSize);
    }
    Object.assign(before, this.#d.limits.apply(others));
    const after = { ...(concurrency === undefined ? {} : { concurrency }), ...others };
    this.journal({
      type: 'limits',
      fileId: null,
      source: null,
      actor,
      detail: { ...after, before },
    });
    const said = Object.keys(before)
      .map(
        (key) =>
          `${limitName(key)} ${limitText(key, after[key as keyof typeof after])} (was ${limitText(key, before[key])})`,
      )
      .join(', ');
    this.#d.logger.warn(
      { event: 'limits', actor, ...after, before },
      `limits set by ${actor}: ${said}, until the next start`,
    );
  }

  /** The in-flight job, backoff or pending file with this pending id. */
  #find(id: string): { path: FsPath; job?: InFlightJob; backoff?: Backoff } | undefined {
    for (const job of this.#inFlight.values()) {
      if (pendingId(job.candidate.path) === id) return { path: job.candidate.path, job };
    }
    for (const backoff of this.#d.policy.backoffs()) {
      if (pendingId(backoff.path) === id) return { path: backoff.path, backoff };
    }
    for (const file of this.#d.pending.files()) {
      if (pendingId(file.path) === id) return { path: file.path };
    }
    return undefined;
  }

  /**
   * A hold, cancel or release asked by a row id: those act on files without a row (by their
   * pending id). 404 when no file has the id; else 409 saying what the file is and what to do.
   */
  async #refuseRow(id: string, action: 'hold' | 'cancel' | 'release'): Promise<never> {
    const row = await this.#d.store.getRow(Number(id));
    if (row === undefined) throw new ControlRefusal('not-found', `no file has the id ${id}`);
    throw notPending(row, id, action);
  }

  #heldById(id: string): Hold | undefined {
    for (const hold of this.#holds.values()) if (pendingId(hold.source) === id) return hold;
    return undefined;
  }

  /**
   * Stops a file being read or copied: its copy is removed, its source stays, and it is held.
   * Refused once the file is being placed (it is claimed then; recovery's rules apply).
   */
  async cancel(id: string, actor: string): Promise<Hold> {
    if (ROW_ID.test(id)) return this.#refuseRow(id, 'cancel');
    // Held first: a cancelled file is still in flight while its copy stops.
    if (this.#heldById(id) !== undefined) {
      throw new ControlRefusal('conflict', `file ${id} is held already`);
    }
    const found = this.#find(id);
    if (found?.job === undefined) {
      if (found !== undefined) {
        throw new ControlRefusal(
          'conflict',
          `file ${id} is not being read or copied; hold it instead (POST /v1/files/${id}/hold)`,
        );
      }
      throw new ControlRefusal('not-found', `no pending or in-flight file has the id ${id}`);
    }
    const { job } = found;
    if (job.placing) {
      throw new ControlRefusal(
        'conflict',
        `file ${id} is already being placed in the warehouse; it can no longer be cancelled`,
      );
    }
    // Held in memory at once, before the copy stops, so that nothing takes the file again;
    // then durably, so that a restart keeps it held.
    const hold = this.#holdOf(job.candidate, actor, 'cancelled');
    job.cancelled = true;
    job.controller.abort();
    await this.#persistHold(hold, id, actor);
    return hold;
  }

  /** Holds a file that waits (pending or backing off): it is not taken until released. */
  async hold(id: string, actor: string): Promise<Hold> {
    if (ROW_ID.test(id)) return this.#refuseRow(id, 'hold');
    if (this.#heldById(id) !== undefined) {
      throw new ControlRefusal('conflict', `file ${id} is held already`);
    }
    const found = this.#find(id);
    if (found === undefined) {
      throw new ControlRefusal('not-found', `no pending file has the id ${id}`);
    }
    if (found.job !== undefined) {
      throw new ControlRefusal(
        'conflict',
        `file ${id} is in flight; cancel it instead (POST /v1/files/${id}/cancel)`,
      );
    }
    const tracked = this.#d.pending.get(found.path)?.tracked.identity;
    const identity = tracked ?? { device: 0, inode: 0, size: 0, mtimeMs: 0 };
    const hold = this.#holdOf({ path: found.path, identity }, actor, 'held');
    this.#d.pending.delete(found.path);
    await this.#persistHold(hold, id, actor);
    return hold;
  }

  #holdOf(file: Pick<Candidate, 'path' | 'identity'>, actor: string, reason: Hold['reason']): Hold {
    const hold: Hold = {
      source: file.path,
      identity: file.identity,
      actor,
      reason,
      at: this.#d.clock(),
    };
    this.#holds.set(pathKey(file.path), hold);
    return hold;
  }

  async #persistHold(hold: Hold, id: string, actor: string): Promise<void> {
    await this.#d.store.hold(hold, {
      type: hold.reason,
      fileId: null,
      source: hold.source,
      actor,
      detail: { id, size: hold.identity.size },
    });
    const source = displayPath(hold.source);
    this.#d.logger.warn(
      { event: hold.reason, source, actor },
      `${hold.reason} by ${actor}: ${source}`,
    );
    const event = hold.reason === 'cancelled' ? 'file:cancelled' : 'file:held';
    this.#d.events.emit(event, { id, source, subject: actor });
  }

  /** Releases a held file: it is taken again when discovery next sees it complete. */
  async release(id: string, actor: string): Promise<Hold> {
    if (ROW_ID.test(id)) return this.#refuseRow(id, 'release');
    const hold = this.#heldById(id);
    if (hold === undefined) {
      if (this.#find(id) !== undefined) {
        throw new ControlRefusal('conflict', `file ${id} is not held`);
      }
      throw new ControlRefusal('not-found', `no held file has the id ${id}`);
    }
    const at = this.#d.clock();
    await this.#d.store.releaseHold(
      hold.source,
      { type: 'released', fileId: null, source: hold.source, actor, detail: { id } },
      at,
    );
    this.#holds.delete(pathKey(hold.source));
    const source = displayPath(hold.source);
    this.#d.logger.warn({ event: 'released', source, actor }, `released by ${actor}: ${source}`);
    this.#d.events.emit('file:released', { id, source, subject: actor });
    this.#d.recheck(hold.source);
    return hold;
  }

  /** Every held file. */
  holds(): IterableIterator<Hold> {
    return this.#holds.values();
  }

  /** Retries a file by its row id (quarantined) or its pending id (backing off). */
  retry(id: string, actor: string): Promise<RetryDone> {
    return this.#retries.retry(id, actor);
  }

  /** Retries every file the filter matches (see OperatorRetries). */
  retryMany(filter: RetryFilter, actor: string): Promise<RetryManyDone> {
    return this.#retries.retryMany(filter, actor);
  }

  /** Files held, and files backing off after a failure: the status's `queue` counts them. */
  waitingCounts(): { held: number; backoff: number } {
    const now = this.#d.clock();
    let backoff = 0;
    for (const b of this.#d.policy.backoffs()) if (b.until > now) backoff += 1;
    return { held: this.#holds.size, backoff };
  }

  /** The files being hashed or placed, the largest first, at most `limit`, and how many. */
  inFlightFiles(limit: number): { files: InFlightView[]; total: number } {
    return this.#inFlight.list(limit);
  }

  /**
   * Files seen and not taken, with why, at most `limit`: held first, then those backing off,
   * then those not complete yet. `total` counts them all (the pending set is bounded).
   */
  pendingFiles(limit: number): { files: PendingView[]; total: number } {
    return listPending(
      {
        holds: this.#holds,
        backoffs: this.#d.policy.backoffs(),
        pending: this.#d.pending,
        stabilityMs: this.#d.options.stabilityMs,
        now: this.#d.clock(),
      },
      limit,
    );
  }
}

/** `maxBytesPerSecond` as `max bytes per second`. */
function limitName(key: string): string {
  return key === 'readStallMs'
    ? 'read stall timeout'
    : key.replace(/[A-Z]/g, (c) => ` ${c.toLowerCase()}`);
}

/** A limit's value for people: `50.0 MiB`, `10%`, `30 s`, `none`. */
function limitText(key: string, value: unknown): string {
  if (value === null || value === undefined) return 'none';
  if (key === 'readStallMs') return `${Number(value) / 1000} s`;
  if (typeof value === 'object') {
    const floor = value as SpaceFloor;
    return 'bytes' in floor ? formatBytes(floor.bytes) : `${floor.percent}%`;
  }
  return key === 'concurrency' ? String(value) : formatBytes(Number(value));
}
