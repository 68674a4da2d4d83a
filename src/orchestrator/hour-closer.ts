import fs from 'node:fs';
import path from 'node:path';
import type { Webhooks } from '../webhooks/webhooks.js';
import type { Clock } from '../clock.js';
import { HOUR_MS, hourLabel, hourStart } from '../clock.js';
import type { CrashInjector } from '../crash.js';
import { describeError, errnoCode } from '../errors.js';
import type { IngestorEvents } from '../events.js';
import { ensureDir, fsyncDir } from '../fsutil.js';
import { SUCCESS_NAME, hourDir } from '../manifest/hours.js';
import type { OpenHours } from '../manifest/open-hours.js';
import { MANIFEST_NAME } from '../manifest/manifest-line.js';
import {
  manifestNames,
  measureManifest,
  measureManifests,
  readSuccess,
  sameMeasure,
  writeSuccess,
} from '../manifest/success-marker.js';
import type { Logger } from '../ops/logger.js';
import type { Fence } from '../manifest/manifest-writer.js';
import type { ResolvedOptions } from '../options.js';
import type { HourMarks, StateStore } from '../state/store.js';

/** How long after an hour ends its close is tried first (its last batches commit meanwhile). */
const AFTER_HOUR_MS = 1_000;
/**
 * The closer's timer never waits longer than this before it reads the clock again: a clock
 * stepped forward, or an hour kept open by intents whose settlement said nothing, is seen soon.
 */
const MAX_WAIT_MS = 60_000;
/** A close that failed (a full manifests volume, a state that cannot commit) is tried again after this. */
const RETRY_MS = 10_000;

export interface HourCloserDeps {
  options: Pick<ResolvedOptions, 'manifests' | 'manifestName'>;
  store: Pick<
    StateStore,
    'earliestOpenLineAt' | 'closeHour' | 'beginHours' | 'closingTurn' | 'hourMarks'
  >;
  hours: OpenHours;
  /** Where closing stood at start (`beginHours`): the first hour, the last closed. */
  marks: HourMarks;
  clock: Clock;
  crash: CrashInjector;
  logger: Logger;
  events: IngestorEvents;
  /** Throws when this daemon may no longer write (its lease in a shared state ran out). */
  fence?: Fence | undefined;
  /** Announces the close (`manifest.closed`), in the transaction that records it. */
  webhooks?: Pick<Webhooks, 'announce' | 'written'>;
}

/** Why a pass stopped. */
type PassEnd = 'not-over' | 'batch' | 'intents' | 'others' | 'failed' | 'stopped';

/**
 * With several daemons on one state, how often one that does not close hours (or waits for
 * the others' batches) looks again.
 */
const OTHERS_MS = 5_000;

/**
 * Closes hours, in order: an hour is closed once it is over, no batch in memory holds it and no
 * open intent in the state will write a line to it (after start-up recovery, which may append
 * to past hours, and after any held batch is settled). Closing writes the hour's `_SUCCESS`
 * (see `closeHour`), records it in the state with its journal event, then emits
 * `manifest:closed`. A pass runs at start, about a second after each hour ends, and when a batch
 * or a settlement that held a past hour ends; it closes every hour it can and stops at the
 * first that cannot close yet.
 */
export class HourCloser {
  readonly #d: HourCloserDeps;
  #firstHour: number;
  /**
   * Whether the state has its first hour: a start whose state could not be written then (locked,
   * full) records it at the first pass that can.
   */
  #firstRecorded: boolean;
  #closedThrough: number | undefined;
  #running: Promise<void> | undefined;
  #again = false;
  /**
   * Why the last pass stopped, when a batch's end cannot change it: open intents in the state
   * (a settlement ends that) or a failure (retried by the timer). Batches' ends are not
   * passes then: a failing close is not retried at every batch of the hours after it.
   */
  #blocked: 'intents' | 'failed' | undefined;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  /** The last failure logged at warn (each repeat is debug). */
  #failing: string | undefined;

  constructor(deps: HourCloserDeps) {
    this.#d = deps;
    this.#firstRecorded = deps.marks.firstHour !== undefined;
    this.#firstHour = deps.marks.firstHour ?? hourStart(deps.clock());
    this.#closedThrough = deps.marks.closedThrough;
  }

  /** The last hour closed (its first ms), or undefined. */
  get closedThrough(): number | undefined {
    return this.#closedThrough;
  }

  /** Starts closing: a pass now, then by the clock and as what held hours ends. */
  start(): void {
    this.#d.hours.onRelease = (what) => {
      if (what === 'settled' && this.#blocked === 'intents') this.#blocked = undefined;
      if (this.#blocked !== undefined) return; // a batch's end changes neither
      this.kick();
    };
    this.kick();
  }

  /** Runs a pass soon if an hour is over and not closed. Cheap when none is. */
  kick(): void {
    if (this.#stopped) return;
    if (!this.#due()) {
      if (this.#running === undefined && this.#timer === undefined) this.#arm('not-over');
      return;
    }
    if (this.#running !== undefined) {
      this.#again = true;
      return;
    }
    this.#run();
  }

  /** Closes what can be closed now, and resolves when done (end of a `--once` pass, a stop). */
  async closeDue(): Promise<void> {
    while (this.#running !== undefined) await this.#running;
    if (this.#stopped) return;
    this.#blocked = undefined;
    this.#run();
    while (this.#running !== undefined) await this.#running;
  }

  /** Stops the timer; resolves when a close under way has ended. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#d.hours.onRelease = () => {};
    while (this.#running !== undefined) await this.#running;
  }

  #next(): number {
    return this.#closedThrough === undefined ? this.#firstHour : this.#closedThrough + HOUR_MS;
  }

  #due(): boolean {
    return this.#next() + HOUR_MS <= this.#d.clock();
  }

  #run(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const pass = this.#pass().catch((error: unknown) => {
      this.#failed(this.#next(), error);
      return 'failed' as const;
    });
    const running: Promise<void> = pass.then((end) => {
      this.#running = undefined;
      this.#blocked = end === 'intents' || end === 'failed' ? end : undefined;
      if (this.#stopped) return;
      const again = this.#again && end !== 'failed';
      this.#again = false;
      if (again) this.kick();
      if (this.#running === undefined) this.#arm(end);
    });
    this.#running = running;
  }

  /** The timer for the next pass: the end of the next hour, or a retry. */
  #arm(end: PassEnd): void {
    clearTimeout(this.#timer);
    const untilOver = this.#next() + HOUR_MS - this.#d.clock() + AFTER_HOUR_MS;
    const wait =
      end === 'failed'
        ? RETRY_MS
        : end === 'others'
          ? OTHERS_MS
          : end === 'not-over'
            ? Math.min(Math.max(untilOver, 0), MAX_WAIT_MS)
            : MAX_WAIT_MS; // blocked: the batch's end or the settlement kicks a pass
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#blocked = undefined;
      this.kick();
    }, wait);
    this.#timer.unref();
  }

  async #pass(): Promise<PassEnd> {
    const { hours, store, clock } = this.#d;
    for (;;) {
      const hour = this.#next();
      if (hour + HOUR_MS > clock()) return 'not-over';
      if (hours.busyThrough(hour)) return 'batch';
      // Several daemons on one state: one closes (the others follow the state and seal what it
      // closed), and only once none of the others holds the hour in memory. Read before the
      // open intents: a report past the hour comes after the claims of the batches it counted.
      try {
        const turn = await store.closingTurn();
        if (!turn.closer) {
          this.#follow((await store.hourMarks()).closedThrough);
          if (this.#next() !== hour) continue;
          return 'others';
        }
        if (turn.othersHoldFrom !== undefined && turn.othersHoldFrom <= hour) return 'others';
      } catch (error) {
        this.#failed(hour, error);
        return 'failed';
      }
      let oldest: number | undefined;
      try {
        oldest = await store.earliestOpenLineAt();
      } catch (error) {
        this.#failed(hour, error);
        return 'failed';
      }
      if (oldest !== undefined && hourStart(oldest) <= hour) return 'intents';
      // Again, in the turn that seals: a batch may have taken an instant in this hour while the
      // state answered (only with a clock set back; its claim then reaches the state later).
      if (hours.busyThrough(hour)) return 'batch';
      if (!this.#firstRecorded) {
        try {
          const marks = await store.beginHours(this.#firstHour, clock());
          this.#firstRecorded = true;
          this.#firstHour = marks.firstHour ?? this.#firstHour;
          this.#closedThrough = marks.closedThrough;
        } catch (error) {
          this.#failed(hour, error);
          return 'failed';
        }
        continue; // the hour to close may be another now
      }
      if (hours.busyThrough(hour)) return 'batch';
      hours.seal(hour);
      try {
        await this.#close(hour);
      } catch (error) {
        this.#failed(hour, error);
        return 'failed';
      }
      if (this.#stopped) return 'stopped';
    }
  }

  /**
   * Closes a sealed hour, in steps that a kill may interrupt anywhere: a redo at the next start
   * finds the same manifest (nothing lands in it any more) and ends the same.
   * 1. The hour's directory and manifest exist (an hour without files gets an empty one).
   * 2. `_SUCCESS`: lines, bytes and SHA-256 of the manifest, written under a temporary name,
   *    fsynced, renamed, directory fsynced (writeSuccess). A `_SUCCESS` already there that says
   *    the same (a close a kill cut short after the rename) stands as published.
   * 3. The state records the hour closed and journals `manifest-closed`, in one transaction.
   * 4. `manifest:closed` (the log line, metrics, the event stream).
   */
  async #close(hour: number): Promise<void> {
    const { options, store, clock, crash, logger, events } = this.#d;
    const dir = hourDir(options.manifests, hour);
    // Alone on its state, the daemon writes `manifest.jsonl`; sharing it, each daemon its own
    // `manifest.<node>.jsonl`, and `_SUCCESS` lists them all.
    const shared = options.manifestName !== MANIFEST_NAME;
    const own = path.join(dir, options.manifestName);
    await ensureDir(dir);
    let names = shared ? await manifestNames(dir) : [MANIFEST_NAME];
    if (names.length === 0 || !shared) {
      if (!fs.existsSync(own)) {
        const handle = await fs.promises.open(own, 'a', 0o644);
        await handle.sync().finally(() => handle.close());
        await fsyncDir(dir);
      }
      names = shared ? [options.manifestName] : names;
    }
    // With several manifests, the state and the announcements name the hour's directory.
    const manifest = shared ? dir : own;
    const measure = shared ? await measureManifests(dir, names) : await measureManifest(own);
    const existing = await readSuccess(dir);
    let closedAt: number;
    if (typeof existing === 'object' && existing.hour === hour && sameMeasure(existing, measure)) {
      closedAt = existing.closedAt;
    } else {
      if (existing !== undefined) {
        logger.warn(
          {
            event: 'success-replaced',
            hour: hourLabel(hour),
            success: path.join(dir, SUCCESS_NAME),
            found: existing,
          },
          `${path.join(dir, SUCCESS_NAME)} was there before the hour was closed, and does not describe its manifest: replaced`,
        );
      }
      closedAt = clock();
      this.#d.fence?.(`write ${path.join(dir, SUCCESS_NAME)}`);
      // Each daemon its own temporary name: a closer frozen past its lease that wakes up never
      // writes into the one the live closer is writing.
      const tmpName = shared
        ? `._SUCCESS.${options.manifestName.replace(/^manifest\.|\.jsonl$/g, '')}.tmp`
        : undefined;
      await writeSuccess(dir, { hour, ...measure, closedAt }, crash, tmpName);
    }
    const announce =
      this.#d.webhooks?.announce('manifest.closed', {
        hour: hourLabel(hour),
        manifest,
        success: path.join(dir, SUCCESS_NAME),
        ...measure,
      }) ?? [];
    await store.closeHour({ hour, manifest, ...measure, closedAt }, announce);
    if (announce.length > 0) this.#d.webhooks?.written();
    crash('hour-closed');
    this.#closedThrough = hour;
    if (this.#failing !== undefined) {
      this.#failing = undefined;
      logger.info({ event: 'hours-closing' }, 'closing hours again');
    }
    events.emit('manifest:closed', {
      hour: hourLabel(hour),
      hourMs: hour,
      manifest,
      success: path.join(dir, SUCCESS_NAME),
      ...measure,
    });
  }

  /**
   * Another daemon closes hours: the ones it closed are sealed here too, so that no batch of
   * this daemon takes an instant in them (a clock stepped back) and no line lands there.
   */
  #follow(closedThrough: number | undefined): void {
    if (closedThrough === undefined) return;
    if (this.#closedThrough !== undefined && closedThrough <= this.#closedThrough) return;
    this.#closedThrough = closedThrough;
    if (this.#d.hours.busyThrough(closedThrough)) {
      // A batch of this daemon holds an hour the closer closed: its report said it would not.
      this.#d.logger.error(
        { event: 'hour-closed-under-batch', hour: hourLabel(closedThrough) },
        `hour ${hourLabel(closedThrough)} was closed by another daemon while a batch of this one holds it: its lines will be refused (INGEST_ERR_HOUR_CLOSED); please report this`,
      );
      return;
    }
    this.#d.hours.seal(closedThrough);
  }

  /** A close that failed: one warn line per kind of failure, then debug; tried again later. */
  #failed(hour: number, error: unknown): void {
    const message = describeError(error);
    const fields = {
      event: 'close-failed',
      hour: hourLabel(hour),
      err: message,
      code: errnoCode(error),
      retryInMs: RETRY_MS,
    };
    const text = `cannot close hour ${hourLabel(hour)} now: ${message}; tried again in ${RETRY_MS / 1000}s (its _SUCCESS waits, no line lands in it meanwhile)`;
    if (this.#failing === message) this.#d.logger.debug(fields, text);
    else this.#d.logger.warn(fields, text);
    this.#failing = message;
  }
}
