import { setTimeout as delay } from 'node:timers/promises';
import os from 'node:os';
import type { Clock } from '../clock.js';
import { hourStart, systemClock } from '../clock.js';
import type { CrashInjector } from '../crash.js';
import { IngestorEvents } from '../events.js';
import { describeError } from '../errors.js';
import { ensureOutputDir } from '../fsutil.js';
import { classifyFailure } from '../ingest/failures.js';
import { LiveLimits } from '../ingest/live-limits.js';
import { Webhooks } from '../webhooks/webhooks.js';
import { WorkerHasher } from '../ingest/hash-pool.js';
import type { ReadStall } from '../ingest/hash-pool.js';
import { StalledVolumes } from '../ingest/stalled-volumes.js';
import { Pipeline } from '../ingest/pipeline.js';
import type { RecoverySummary } from '../ingest/recovery.js';
import type { FsPath, RunSummary } from '../interfaces.js';
import { logEvents } from '../ops/log-events.js';
import type { Gauges } from '../ops/metrics.js';
import type { Logger } from '../ops/logger.js';
import { ManifestWriter } from '../manifest/manifest-writer.js';
import { OpenHours } from '../manifest/open-hours.js';
import type { ResolvedOptions } from '../options.js';
import { pathKey } from '../paths.js';
import { InputLock, sharedStateIdentity, stateIdentity } from '../state/input-lock.js';
import { StateLock } from '../state/lock.js';
import { openState } from '../state/open.js';
import type { LeaseEvents, NodeLease } from '../state/pg/node.js';
import { isUnreachable } from '../state/pg/connect.js';
import type { Fence } from '../manifest/manifest-writer.js';
import { Share } from '../watch/share.js';
import { Takeover } from './takeover.js';
import type { Hold, HourMarks, StateReader, StateStore } from '../state/store.js';
import { Discovery, discoveryOptionsOf } from '../watch/discovery.js';
import { createPriorityOf } from '../watch/filters.js';
import { FailurePolicy } from './failure-policy.js';
import { HourCloser } from './hour-closer.js';
import { ingestFile } from './ingest-file.js';
import { passOnce } from './once-pass.js';
import { OperatorControls } from './operator-controls.js';
import { readOperatorPause } from '../state/settings.js';
import type { OperatorPause } from './operator-controls.js';
import { OutcomeEvents } from './outcome-events.js';
import { RunStats } from './run-stats.js';
import { Scheduler } from './scheduler.js';
import { Throughput } from './throughput.js';
import { startPruning } from './journal-pruning.js';
import { recoverAtStart } from './start-up-recovery.js';

export interface OrchestratorDeps {
  logger: Logger;
  /** Default: the system clock. */
  clock?: Clock;
  /** Default: a new emitter. */
  events?: IngestorEvents;
  /** Default: no crashes. */
  crash?: CrashInjector;
  /**
   * Wait for a shared state's database that does not answer, instead of failing the start: a
   * daemon that restarted itself after losing its lease (the database went away) waits for it.
   */
  waitForState?: boolean;
}

/**
 * Scans are spaced at least this many times their own duration apart: at most about 2.5% of a
 * core for scans. At 20 the 1,000,000-file idle case measured 5.3% of a core (docs/BENCHMARKS.md).
 */
const SCAN_COST_FACTOR = 40;
/**
 * ...but never more than this apart: a scan's duration is wall time, which a burst inflates
 * (the pipeline runs between its steps), and the scans are what find files inotify dropped.
 */
const MAX_SCAN_SPACING_MS = 60_000;

/** What `open` makes before the daemon itself. */
interface Parts {
  lock: StateLock | undefined;
  inputLock: InputLock | undefined;
  store: StateStore;
  manifest: ManifestWriter;
  /** The hours of batches in memory and the last hour sealed for closing. */
  hours: OpenHours;
  /** Where the closing of hours stood at start. */
  marks: HourMarks;
  pipeline: Pipeline;
  recovery: RecoverySummary;
  hasher: WorkerHasher | undefined;
  /** The limits in force, which an operator may change (`PUT /v1/limits`). */
  limits: LiveLimits;
  /** `--webhook`: announcements and their delivery (nothing runs without one). */
  webhooks: Webhooks;
  /** Read from the state at start: the last commit, and the files quarantined in place. */
  lastIngestAt: number | undefined;
  quarantinedInPlace: FsPath[];
  /** What operators left in force: held files and their pause (the state keeps them). */
  holds: Hold[];
  operatorPause: OperatorPause | undefined;
  /** On a shared state: the daemon's lease, and the check before each change it makes. */
  lease: NodeLease | undefined;
  fence: Fence | undefined;
}

/**
 * What the daemon says about its lease in a shared state: a renewal failing (the database does
 * not answer), renewed again, or lost (it places nothing more under it).
 */
function leaseEvents(logger: Logger, events: IngestorEvents, nodeId: string): LeaseEvents {
  return {
    renewFailing: (error, leftMs) =>
      logger.warn(
        { err: error, nodeId, leftMs: Math.round(leftMs) },
        `cannot renew this daemon's lease in the state database: placing stops in ${(leftMs / 1000).toFixed(1)} s unless it answers`,
      ),
    renewed: () => logger.info({ nodeId }, "this daemon's lease is renewed again"),
    lost: (reason) => {
      logger.error(
        { nodeId, code: 'INGEST_ERR_LEASE_LOST' },
        `this daemon lost its lease in the state database (${reason}): it places nothing more under it, and restarts`,
      );
      events.emit('lease:lost', { nodeId, reason });
    },
    membersChanged: (came, gone) => {
      if (gone.length > 0) {
        logger.info(
          { event: 'peers', gone },
          `${gone.join(', ')} no longer ${gone.length === 1 ? 'shares' : 'share'} the input (stopped, or its lease ran out): its share is taken by the daemons alive`,
        );
      }
      if (came.length > 0) {
        logger.info({ event: 'peers', came }, `${came.join(', ')} now shares the input`);
      }
      events.emit('peers:changed', { came, gone });
    },
  };
}

/** While the database does not answer, a waiting start says so this often. */
const WAITING_LINE_MS = 60_000;
const WAITING_RETRY_MS = 2_000;

/**
 * Opens the state; with `waitForState`, a database that does not answer is waited for (a line
 * a minute) instead of failing the start.
 */
async function openWaiting(
  deps: Required<OrchestratorDeps>,
  open: () => Promise<StateStore>,
): Promise<StateStore> {
  let told = -Infinity;
  for (;;) {
    try {
      return await open();
    } catch (error) {
      const cause = error instanceof Error ? error.cause : undefined;
      if (!deps.waitForState || !isUnreachable(cause)) throw error;
      if (performance.now() - told >= WAITING_LINE_MS) {
        told = performance.now();
        deps.logger.warn(
          { event: 'waiting-for-state', err: describeError(error) },
          `waiting for the state database to answer before starting again: ${describeError(error)}`,
        );
      }
      await delay(WAITING_RETRY_MS);
    }
  }
}

/** At a stop, the delivery of `ingestor.stopped` (and what else is due) gets this long. */
const WEBHOOK_STOP_GRACE_MS = 2_000;

/** A daemon whose state is open and whose recovery has not run yet (`Orchestrator.begin`). */
export interface Opening {
  readonly state: StateStore;
  readonly events: IngestorEvents;
  /** Recovers what the last run left in flight and makes the daemon; on a throw, `abort`. */
  finish(): Promise<Orchestrator>;
  /** Lets go of the state and the locks (a start that goes no further). */
  abort(): Promise<void>;
}

/** What carries files, made by the constructor. */
interface Flow {
  scheduler: Scheduler;
  pipeline: Pipeline;
  policy: FailurePolicy;
  outcomes: OutcomeEvents;
  controls: OperatorControls;
}

/**
 * The daemon: recovery first, then discovery feeding a bounded worker pool that hashes files
 * and hands them to the group-committing pipeline.
 */
export class Orchestrator implements AsyncDisposable {
  readonly options: ResolvedOptions;
  readonly events: IngestorEvents;
  readonly discovery: Discovery;
  readonly recovery: RecoverySummary;
  readonly #logger: Logger;
  readonly #clock: Clock;
  readonly #parts: Parts;
  readonly #flow: Flow;
  readonly #stats: RunStats;
  readonly #closer: HourCloser;
  /** Files and bytes per second, latencies and failures over the last hour (the API's stats). */
  readonly throughput: Throughput;
  #unsubscribe: () => void;
  #closed = false;
  #pauseFollower: NodeJS.Timeout | undefined;

  /**
   * On a shared state, follows the operator's pause the state keeps (set or lifted through
   * another daemon), reading it every second.
   */
  #followPause(): void {
    if (this.options.stateUrl === undefined) return;
    let reading = false;
    this.#pauseFollower = setInterval(() => {
      if (reading) return;
      reading = true;
      const { controls } = this.#flow;
      const generation = controls.pauseGeneration;
      readOperatorPause(this.#parts.store)
        .then((stored) => {
          // A pause or resume asked of this daemon meanwhile is newer than what was read.
          if (controls.pauseGeneration === generation) controls.follow(stored);
        })
        .catch(() => {}) // the state cannot be read now: ingestion pauses for that anyway
        .finally(() => {
          reading = false;
        });
    }, 1_000);
    this.#pauseFollower.unref();
  }

  /** On a shared state: settles the intents of daemons whose lease ran out. */
  readonly #takeover: Takeover | undefined;

  private constructor(options: ResolvedOptions, deps: Required<OrchestratorDeps>, parts: Parts) {
    const { events, logger, clock } = deps;
    const { pipeline } = parts;
    this.options = options;
    this.events = events;
    this.recovery = parts.recovery;
    this.#logger = logger;
    this.#clock = clock;
    this.#parts = parts;
    const scheduler = new Scheduler(options);
    const priorityOf = createPriorityOf(options.priorities);
    pipeline.moreComing = () => scheduler.hashing > 0;
    const unlog = logEvents(events, logger);
    // The shares moved: files a daemon that left had (or now another's) are looked at again at
    // once, not at the next full scan.
    const onPeers = () => {
      this.discovery.rescanRequested = true;
    };
    events.on('peers:changed', onPeers);
    this.#unsubscribe = () => {
      unlog();
      events.off('peers:changed', onPeers);
    };
    const all = { options, ...deps, ...parts };
    const defer: Discovery['defer'] = (candidate, how) => this.discovery.defer(candidate, how);
    const policy = new FailurePolicy({ ...all, defer });
    const outcomes = new OutcomeEvents({
      ...all,
      policy,
      defer,
      lastIngestAt: parts.lastIngestAt,
      journal: (event) => controls.journal(event),
    });
    // While an operator pauses, discovery hands nothing over: files wait where they are.
    const isBusy = (path: FsPath) =>
      controls.operatorPause !== undefined ||
      scheduler.has(pathKey(path)) ||
      policy.isHeldBack(path) ||
      controls.isHeld(path);
    const { lease, fence } = parts;
    this.#takeover =
      lease === undefined || fence === undefined
        ? undefined
        : new Takeover({ ...all, fence, intervalMs: options.leaseMs / 3 });
    // INGEST_TEST_SHARE=off: every daemon takes every file (the claims alone sort the overlap
    // out), the other design measured in docs/DESIGN.md.
    const share =
      lease === undefined || process.env.INGEST_TEST_SHARE === 'off'
        ? undefined
        : new Share(lease.nodeId, () => lease.members);
    const discovery = new Discovery({
      ...discoveryOptionsOf(options),
      clock,
      logger,
      events,
      isBusy,
      ...(share === undefined ? {} : { owns: (relPath: string) => share.owns(relPath) }),
      // Queues a complete file; a scan waits for room (backpressure), a hint does not.
      submit: async (found, wait) => {
        if (this.#closed) return true;
        const priority = priorityOf(found.relPath);
        const candidate = priority === 0 ? found : { ...found, priority };
        const key = pathKey(candidate.path);
        return scheduler.submit(key, priority, () => ingestFile(candidate, flow), wait);
      },
    });
    const pending = discovery.pending;
    const controls = new OperatorControls({
      ...all,
      policy,
      scheduler,
      pending,
      rescan: () => {
        discovery.rescanRequested = true;
      },
      recheck: (path) => discovery.recheck(path),
    });
    const flow: Flow = { scheduler, pipeline, policy, outcomes, controls };
    this.throughput = new Throughput(clock, events);
    this.discovery = discovery;
    this.#flow = flow;
    this.#closer = new HourCloser(all);
    const closer = this.#closer;
    this.#stats = new RunStats({ ...all, scheduler, pending, outcomes, policy, controls, closer });
  }

  /**
   * Takes the state lock, opens the state, and settles what a previous run left in flight.
   * Throws INGEST_ERR_LOCKED when another daemon runs on the same state.
   */
  static async open(options: ResolvedOptions, deps: OrchestratorDeps): Promise<Orchestrator> {
    const opening = await Orchestrator.begin(options, deps);
    try {
      return await opening.finish();
    } catch (error) {
      await opening.abort();
      throw error;
    }
  }

  /**
   * The first half of `open`: takes the locks and opens the state, whose history can then be
   * read (the control API serves it while recovery runs). `finish` recovers and makes the
   * daemon; if it throws, the caller calls `abort`, which lets go of what was taken (after
   * closing what reads the state, such as the API).
   */
  static async begin(options: ResolvedOptions, deps: OrchestratorDeps): Promise<Opening> {
    const full: Required<OrchestratorDeps> = {
      logger: deps.logger,
      clock: deps.clock ?? systemClock,
      events: deps.events ?? new IngestorEvents(),
      crash: deps.crash ?? (() => {}),
      waitForState: deps.waitForState ?? false,
    };
    // A PostgreSQL state is shared by design: several daemons on one input, each with a lease
    // (pg/node.ts) instead of a lock on a file.
    const shared = options.stateUrl !== undefined;
    const lock = shared ? undefined : StateLock.acquire(options.statePath);
    let inputLock: InputLock | undefined;
    let store: StateStore | undefined;
    let marks: HourMarks;
    let hasher: WorkerHasher | undefined;
    // Sealed through the state's last closed hour once it is read: recovery appends too.
    const hours = new OpenHours(undefined, full.logger);
    // On a shared state, the daemon's lease: checked before every change to the input, the
    // warehouse and the manifests (`fence`), and the list of daemons that share the input.
    let lease: NodeLease | undefined;
    const fence: Fence | undefined = shared ? (step) => lease?.check(step) : undefined;
    const manifest = new ManifestWriter(hours, fence);
    const abort = async () => {
      await hasher?.close();
      await manifest.close();
      await store?.close();
      inputLock?.release();
      lock?.release();
    };
    try {
      // Daemons of one shared state share the input's lock; any other state is refused.
      inputLock = InputLock.acquire(
        options.input,
        shared ? sharedStateIdentity(options.stateUrl!) : stateIdentity(options.statePath),
        full.logger,
      );
      await ensureOutputDir('warehouse', options.warehouse);
      await ensureOutputDir('manifests', options.manifests);
      store = await openWaiting(full, () =>
        openState(options, {
          ownThread: true,
          onPoolError: (error) =>
            full.logger.debug(
              { event: 'state-connection-dropped', err: describeError(error) },
              'the state database dropped an idle connection; the next query opens another',
            ),
          lease: {
            nodeId: options.nodeId,
            leaseMs: options.leaseMs,
            startedAt: full.clock(),
            events: leaseEvents(full.logger, full.events, options.nodeId),
            heldFrom: () => hours.heldFrom(full.clock()),
            input: options.input,
            taken: (taken) => {
              lease = taken;
            },
          },
        }),
      );
      // The first start that closes hours makes its hour the first to close; no batch or
      // recovery has written anything yet.
      marks = await store
        .beginHours(hourStart(full.clock()), full.clock())
        .catch(async (error: unknown) => {
          // A state that cannot be written now (locked, full) pauses ingestion later, with
          // its reason; the hour closer records the first hour once it can.
          if (classifyFailure(error) !== 'pause') throw error;
          return store!.hourMarks();
        });
      if (marks.closedThrough !== undefined) hours.seal(marks.closedThrough);
    } catch (error) {
      await abort();
      throw error;
    }
    const opened = store;
    const startMarks = marks;
    const finish = async (): Promise<Orchestrator> => {
      const { recovery, unsettled, interrupted } = await recoverAtStart({
        options,
        store: opened,
        manifest,
        hours,
        ...full,
        ...(fence === undefined ? {} : { fence }),
      });
      const limits = new LiveLimits(options);
      const webhooks = new Webhooks(options.webhooks, opened, full.logger, full.clock);
      const stall: ReadStall = {
        get ms() {
          return limits.readStallMs;
        },
        cell: limits.readStallMemory,
        volumes: new StalledVolumes(full.logger, full.events, full.clock),
      };
      hasher = WorkerHasher.create(
        Math.max(1, Math.min(options.concurrency, os.availableParallelism())),
        { rate: limits.rateMemory, stall },
      );
      const pipeline = await Pipeline.create({
        options,
        store: opened,
        manifest,
        hours,
        ...full,
        limits,
        webhooks,
        stall,
        ...(hasher === undefined ? {} : { hasher }),
        ...(fence === undefined ? {} : { fence }),
      });
      if (unsettled !== undefined) pipeline.startPaused(unsettled, interrupted);
      const parts = {
        ...{ lock, inputLock, store: opened, manifest, pipeline, recovery, hasher, limits },
        ...{ webhooks, hours, marks: startMarks },
        lastIngestAt: await opened.lastIngestAt(),
        quarantinedInPlace: await opened.quarantinedInPlace(),
        holds: await opened.holds(),
        operatorPause: await readOperatorPause(opened),
        lease,
        fence,
      };
      return new Orchestrator(options, full, parts);
    };
    return { state: opened, events: full.events, finish, abort };
  }

  /** The operator's controls: holds, cancels, retries, the pause and the concurrency. */
  get controls(): OperatorControls {
    return this.#flow.controls;
  }

  /** `--webhook`: announcements and their delivery. */
  get webhooks(): Webhooks {
    return this.#parts.webhooks;
  }

  /** Recovery is done and discovery starts: said to the events and announced to webhooks. */
  #started(): void {
    this.events.emit('discovery:started', { input: this.options.input });
    this.#closer.start();
    this.#takeover?.start();
    this.#followPause();
    const { webhooks } = this.#parts;
    webhooks.start(this.events);
    void webhooks.publish('ingestor.started', {
      input: this.options.input,
      once: this.options.once,
      recovery: this.recovery,
    });
  }

  /** The limits in force besides the concurrency (an operator may have changed them). */
  get limits(): LiveLimits {
    return this.#parts.limits;
  }

  /** The reading concurrency in force (an operator may have changed it). */
  get concurrency(): number {
    return this.#flow.scheduler.concurrency;
  }

  /** Resolves when every queued file has been settled. */
  async #idle(): Promise<void> {
    await this.#flow.scheduler.whenIdle();
    await this.#parts.pipeline.drain();
  }

  /**
   * One pass: ingest what is complete now, wait at most one stability window for what is
   * not, then return the summary. A file unchanged for longer than the window is complete at
   * once.
   */
  async runOnce(): Promise<RunSummary> {
    const deadline = this.#clock() + this.options.stabilityMs;
    this.#started();
    const stopStats = this.#stats.start(); // `ingestor status` sees a --once pass too
    try {
      const { discovery } = this;
      await passOnce({ ...this.#flow, discovery, clock: this.#clock }, deadline);
    } finally {
      stopStats();
    }
    this.#flow.controls.stop();
    await this.#parts.pipeline.stop();
    await this.#idle();
    await this.#reportUnsettled();
    // A cron user wants the markers of the hours this pass ended.
    await this.#closer.closeDue();
    // Files a pause kept from being ingested: this pass failed them.
    this.#flow.outcomes.countFailed(this.#flow.policy.waitingForPause);
    return this.summary();
  }

  /** Files moved but not recorded at a stop (a full volume) are not done: counted as failed. */
  async #reportUnsettled(): Promise<void> {
    if (!this.#parts.pipeline.unsettled) return;
    const files = (await this.#parts.store.openIntents()).length;
    this.#flow.outcomes.reportUnsettled(files, this.#parts.pipeline.pausedReason ?? 'unknown');
  }

  #scanSpacing(scanMs: number): number {
    const byCost = Math.min(scanMs * SCAN_COST_FACTOR, MAX_SCAN_SPACING_MS);
    return Math.max(this.options.scanIntervalMs, byCost);
  }

  /** Runs until `signal` aborts: hints, due checks and periodic scans whose interval adapts. */
  async run(signal: AbortSignal): Promise<RunSummary> {
    const tickMs = Math.min(1000, Math.max(20, this.options.stabilityMs / 4));
    let waiting: AbortController | undefined;
    this.discovery.startWatching(() => waiting?.abort());
    const stopStats = this.#stats.start();
    const stopPruning = startPruning({
      store: this.#parts.store,
      logger: this.#logger,
      clock: this.#clock,
      historyDays: this.options.historyDays,
      stopped: () => this.#closed,
    });
    this.#started();
    // Scans run beside the loop, not in it: a scan waits for room in the ready set (a backlog
    // of a million files), and hints and due files must go on meanwhile, so that a file of a
    // higher priority than the backlog's gets in at once.
    let scanning: Promise<void> | undefined;
    let scanError: unknown;
    let nextScan = -Infinity;
    const startScan = (first: boolean) => {
      nextScan = Infinity;
      scanning = (async () => {
        if (!first) {
          try {
            await this.#flow.policy.refreshQuarantinedInPlace();
          } catch (error) {
            // The state cannot be read now (a database restarting): ingestion pauses on its
            // own for that; this scan waits for the next turn rather than stop the daemon.
            this.#logger.debug(
              { err: describeError(error) },
              'scan put off: the state cannot be read',
            );
            nextScan = this.#clock() + this.#scanSpacing(0);
            return;
          }
        }
        const scan = await this.discovery.scan();
        this.#logScan(scan);
        nextScan = this.#clock() + this.#scanSpacing(scan.ms);
      })()
        .catch((error: unknown) => {
          scanError = error;
        })
        .finally(() => {
          scanning = undefined;
          waiting?.abort();
        });
    };
    try {
      startScan(true);
      while (!signal.aborted) {
        if (scanError !== undefined) throw scanError;
        waiting = new AbortController();
        const wake = () => waiting?.abort();
        signal.addEventListener('abort', wake, { once: true });
        if (this.discovery.hintCount === 0) {
          // An abort (a hint, a scan's end, or the stop) ends the wait early; not an error here.
          await delay(Math.max(0, Math.min(tickMs, nextScan - this.#clock())), undefined, {
            signal: waiting.signal,
          }).catch((error: unknown) => {
            if (!(error instanceof Error && error.name === 'AbortError')) throw error;
          });
        }
        signal.removeEventListener('abort', wake);
        if (signal.aborted) break;
        await this.discovery.processHints();
        await this.discovery.checkDue();
        const due = this.#clock() >= nextScan || this.discovery.rescanRequested;
        if (scanning === undefined && due) startScan(false);
      }
    } finally {
      stopStats();
      stopPruning();
      // A scan stops at its next file; one waiting for room waits for files to settle, which
      // those waiting for a pause (a volume's, an operator's) do only once the pipeline stops.
      this.discovery.stopWatching();
    }
    this.#flow.controls.stop();
    await this.#parts.pipeline.stop();
    await scanning;
    await this.discovery.subScansDone();
    await this.#idle();
    await this.#reportUnsettled();
    await this.#closer.closeDue();
    return this.summary();
  }

  /** What the gauges show: live, in memory. */
  gauges(): Gauges {
    return this.#stats.gauges();
  }

  /** Quarantined files not released (one COUNT on an index). */
  countQuarantined(): Promise<number> {
    return this.#parts.store.countQuarantined();
  }

  /** The state, for reading only (the control API's history and counts). */
  get state(): StateReader {
    return this.#parts.store;
  }

  /** Why ingestion is paused, or undefined. */
  get pausedReason(): string | undefined {
    return this.#parts.pipeline.pausedReason;
  }

  /**
   * What `ingestor status` shows of this daemon: pending files live only in memory. Written
   * every few seconds, and at once on SIGUSR2 (`ingestor status` asks for a fresh one).
   */
  writeRuntime(): void {
    this.#stats.writeRuntime();
  }

  #logScan(scan: { files: number; complete: number; ms: number }): void {
    const pending = this.discovery.pending.size;
    this.#logger.debug({ event: 'scan', ...scan, pending }, 'scan done');
    this.events.emit('scan:done', { ...scan, pending });
  }

  /** The run's summary so far. */
  summary(): RunSummary {
    return this.#stats.summary();
  }

  /** Stops discovery and the pipeline, lets files in flight settle, then releases everything. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.discovery.stopWatching();
    this.#flow.controls.stop();
    await this.#parts.pipeline.stop();
    await this.#idle();
    clearInterval(this.#pauseFollower);
    await this.#takeover?.stop();
    await this.#closer.stop();
    // Announced while the state is open; its delivery gets a moment, else the next start's.
    await this.#parts.webhooks.stop({ ...this.summary() }, WEBHOOK_STOP_GRACE_MS);
    await this.#parts.manifest.close();
    await this.#parts.hasher?.close();
    await this.#parts.store.close();
    this.#parts.inputLock?.release();
    this.#parts.lock?.release();
    this.#unsubscribe();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
