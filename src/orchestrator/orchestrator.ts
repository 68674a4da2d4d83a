import os from 'node:os';
import pLimit from 'p-limit';
import type { Clock } from '../clock.js';
import { systemClock } from '../clock.js';
import type { CrashInjector } from '../crash.js';
import { FULL_VOLUME_CODES, describeError, errnoCode, hasCode } from '../errors.js';
import { IngestorEvents } from '../events.js';
import { ensureOutputDir } from '../fsutil.js';
import type { Outcome, HashedFile } from '../ingest/pipeline.js';
import { classifyFailure, backoffMs } from '../ingest/failures.js';
import { WorkerHasher } from '../ingest/hash-pool.js';
import { isNoDest } from '../ingest/naming.js';
import { SMALL_FILE_BYTES } from '../ingest/hasher.js';
import { Pipeline } from '../ingest/pipeline.js';
import type { RecoverySummary } from '../ingest/recovery.js';
import { emptyRecovery, recover, sweepTemporaries } from '../ingest/recovery.js';
import type { Candidate, FsPath, RunSummary } from '../interfaces.js';
import { logEvents } from '../ops/log-events.js';
import type { Gauges } from '../ops/metrics.js';
import type { Logger } from '../ops/logger.js';
import { ManifestWriter } from '../manifest/manifest-writer.js';
import type { ResolvedOptions } from '../options.js';
import { displayPath, pathKey } from '../paths.js';
import { InputLock, stateIdentity } from '../state/input-lock.js';
import { StateLock } from '../state/lock.js';
import { openSqliteState } from '../state/sqlite-store.js';
import type { StateStore } from '../state/store.js';
import { Discovery } from '../watch/discovery.js';
import { createNameFilter } from '../watch/filters.js';

export interface OrchestratorDeps {
  logger: Logger;
  /** Default: the system clock. */
  clock?: Clock;
  /** Default: a new emitter. */
  events?: IngestorEvents;
  /** Default: no crashes. */
  crash?: CrashInjector;
}

/** Files whose reads fail transiently wait this long before the next try, doubling to the cap. */
const RETRY_BASE_MS = 1_000;
const RETRY_CAP_MS = 60_000;
const BACKOFF_CAPACITY = 100_000;
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
/** Pauses in a row that let no file in, after which a `--once` pass stops waiting for them. */
const ONCE_FRUITLESS_PAUSES = 2;
/** How often the daemon records its runtime snapshot for `ingestor status`. */
const RUNTIME_INTERVAL_MS = 5_000;

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, Math.max(0, ms));
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
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
  readonly #lock: StateLock;
  readonly #inputLock: InputLock | undefined;
  readonly #store: StateStore;
  readonly #manifest: ManifestWriter;
  readonly #pipeline: Pipeline;
  readonly #hasher: WorkerHasher | undefined;
  /** Files read and hashed at once: `--concurrency` for large files... */
  readonly #limit: ReturnType<typeof pLimit>;
  /** ...and, for small ones (read in one synchronous pass), enough to fill two batches. */
  readonly #smallLimit: ReturnType<typeof pLimit>;
  readonly #inflight = new Set<string>();
  readonly #backoff = new Map<string, { attempts: number; until: number }>();
  readonly #roomWaiters: (() => void)[] = [];
  readonly #summary: RunSummary = {
    ingested: 0,
    duplicates: 0,
    bytes: 0,
    skipped: 0,
    waiting: 0,
    failed: 0,
    quarantined: 0,
    seconds: 0,
  };
  /**
   * Files that failed only because an output volume did (a pause): not counted as failed while
   * they wait for the pause to end; those still waiting when a `--once` pass ends are.
   */
  readonly #waitingForPause = new Set<string>();
  /** Files quarantined in place (another filesystem): skipped until `ingestor retry`. */
  #inPlace = new Set<string>();
  #lastIngestAt: number | undefined;
  readonly #started: number;
  #wake: (() => void) | undefined;
  #unsubscribe: () => void;
  #closed = false;

  private constructor(
    options: ResolvedOptions,
    deps: Required<OrchestratorDeps>,
    parts: {
      lock: StateLock;
      inputLock: InputLock | undefined;
      store: StateStore;
      manifest: ManifestWriter;
      pipeline: Pipeline;
      recovery: RecoverySummary;
      hasher: WorkerHasher | undefined;
    },
  ) {
    this.#hasher = parts.hasher;
    this.options = options;
    this.events = deps.events;
    this.#logger = deps.logger;
    this.#clock = deps.clock;
    this.#lock = parts.lock;
    this.#inputLock = parts.inputLock;
    this.#store = parts.store;
    this.#manifest = parts.manifest;
    this.#pipeline = parts.pipeline;
    this.recovery = parts.recovery;
    this.#lastIngestAt = parts.store.lastIngestAt();
    this.#started = deps.clock();
    this.#limit = pLimit(options.concurrency);
    this.#smallLimit = pLimit(Math.max(options.concurrency, options.batchSize * 2));
    this.#pipeline.moreComing = () => this.#limit.activeCount + this.#smallLimit.activeCount > 0;
    this.#unsubscribe = logEvents(this.events, this.#logger);
    this.events.on('file:skipped', () => (this.#summary.skipped += 1));
    this.#refreshQuarantinedInPlace();
    this.discovery = new Discovery({
      input: options.input,
      mode: options.mode,
      stabilityMs: options.stabilityMs,
      filter: createNameFilter(options),
      clock: deps.clock,
      logger: deps.logger,
      events: deps.events,
      isBusy: (path) => this.#isBusy(path),
      submit: (candidate) => this.#submit(candidate),
      pendingCapacity: options.pendingCapacity,
    });
  }

  /**
   * Takes the state lock, opens the state, and settles what a previous run left in flight.
   * Throws INGEST_ERR_LOCKED when another daemon runs on the same state.
   */
  static async open(options: ResolvedOptions, deps: OrchestratorDeps): Promise<Orchestrator> {
    const full: Required<OrchestratorDeps> = {
      logger: deps.logger,
      clock: deps.clock ?? systemClock,
      events: deps.events ?? new IngestorEvents(),
      crash: deps.crash ?? (() => {}),
    };
    const lock = StateLock.acquire(options.statePath);
    let inputLock: InputLock | undefined;
    let store: StateStore | undefined;
    let hasher: WorkerHasher | undefined;
    const manifest = new ManifestWriter();
    try {
      inputLock = InputLock.acquire(options.input, stateIdentity(options.statePath), full.logger);
      await ensureOutputDir('warehouse', options.warehouse);
      await ensureOutputDir('manifests', options.manifests);
      store = openSqliteState(options.statePath);
      const started = full.clock();
      let recovery = emptyRecovery();
      let unsettled: unknown;
      try {
        full.events.emit('recovery:started');
        recovery = await recover({
          options,
          store,
          manifest,
          crash: full.crash,
          logger: full.logger,
          now: full.clock,
        });
        const ms = full.clock() - started;
        const { settled: _settled, ...counts } = recovery;
        full.logger.info({ event: 'recovery', ...counts, ms }, 'recovery done');
        full.events.emit('recovery:done', {
          rolledForward: recovery.rolledForward,
          rolledBack: recovery.rolledBack,
          vanished: recovery.vanished,
          ms,
        });
      } catch (error) {
        // A full volume is an incident to wait out, as it would be for a running daemon: start
        // paused (metrics, health and status up) and settle when space returns. Anything else
        // (read-only, corrupt) stops the start with one line.
        if (!hasCode(error, ...FULL_VOLUME_CODES)) throw error;
        unsettled = error;
        // Copies left by a kill take space on the very volume that may be the full one.
        recovery.temporariesRemoved = await sweepTemporaries(options);
        full.logger.warn(
          {
            event: 'recovery',
            err: describeError(error),
            code: errnoCode(error),
            temporariesRemoved: recovery.temporariesRemoved,
          },
          `recovery cannot finish now (${store.openIntents().length} interrupted files): starting paused; it is tried again when the pause ends`,
        );
      }
      hasher = WorkerHasher.create(
        Math.max(1, Math.min(options.concurrency, os.availableParallelism())),
      );
      const pipeline = await Pipeline.create({
        options,
        store,
        manifest,
        clock: full.clock,
        crash: full.crash,
        logger: full.logger,
        events: full.events,
        ...(hasher === undefined ? {} : { hasher }),
      });
      if (unsettled !== undefined) pipeline.startPaused(unsettled);
      return new Orchestrator(options, full, {
        lock,
        inputLock,
        store,
        manifest,
        pipeline,
        recovery,
        hasher,
      });
    } catch (error) {
      await hasher?.close();
      await manifest.close();
      store?.close();
      inputLock?.release();
      lock.release();
      throw error;
    }
  }

  #refreshQuarantinedInPlace(): void {
    this.#inPlace = new Set(this.#store.quarantinedInPlace().map(pathKey));
  }

  #isBusy(path: FsPath): boolean {
    const key = pathKey(path);
    if (this.#inflight.has(key) || this.#inPlace.has(key)) return true;
    const backoff = this.#backoff.get(key);
    return backoff !== undefined && backoff.until > this.#clock();
  }

  /** Queues a complete file; resolves when the queue has room (backpressure on scans). */
  async #submit(candidate: Candidate): Promise<void> {
    const key = pathKey(candidate.path);
    if (this.#inflight.has(key) || this.#closed) return;
    this.#inflight.add(key);
    void this.#ingest(candidate).finally(() => {
      this.#inflight.delete(key);
      if (this.#queued < this.#maxQueued) {
        for (const wake of this.#roomWaiters.splice(0)) wake();
      }
      this.#wake?.();
    });
    while (this.#queued >= this.#maxQueued) {
      await new Promise<void>((resolve) => this.#roomWaiters.push(resolve));
    }
  }

  /** Files waiting for a slot to be read and hashed. */
  get #queued(): number {
    return this.#limit.pendingCount + this.#smallLimit.pendingCount;
  }

  get #maxQueued(): number {
    return Math.max(256, this.options.batchSize * 4);
  }

  async #ingest(candidate: Candidate): Promise<void> {
    let outcome: Outcome;
    let hashed: HashedFile | undefined;
    try {
      // A worker slot covers reading and hashing only: once the file waits for its group
      // commit the slot moves on, so a batch can gather far more files than there are workers.
      const limit = candidate.identity.size <= SMALL_FILE_BYTES ? this.#smallLimit : this.#limit;
      hashed = await limit(async () => {
        await this.#pipeline.whenNotPaused();
        const ready = await this.#pipeline.hashAndCopy(candidate);
        await this.#pipeline.whenBatchRoom(); // bounded: hashed files never pile up unboundedly
        return ready;
      });
      outcome = await this.#pipeline.ingestInNextBatch(hashed);
    } catch (error) {
      outcome = { kind: 'failed', error };
    } finally {
      // The read lease covers the hash, the claim, the move and the commit; no longer.
      hashed?.lease?.close();
    }
    if (outcome.kind === 'failed') outcome = await this.#onFailure(candidate, outcome.error);
    this.#report(candidate, outcome);
  }

  /** Decides what a failure means: wait again, try later, quarantine, or pause everything. */
  async #onFailure(candidate: Candidate, error: unknown): Promise<Outcome> {
    const code = errnoCode(error);
    if (code === 'INGEST_ERR_STOPPING') return { kind: 'deferred', reason: 'stopping', code };
    const failure = classifyFailure(error);
    if (failure === 'changed') return { kind: 'deferred', reason: describeError(error), code };
    if (failure === 'pause') {
      this.#pipeline.pause(error);
      return { kind: 'failed', error };
    }
    const attempts = (this.#backoff.get(pathKey(candidate.path))?.attempts ?? 0) + 1;
    if (failure === 'retry' && attempts < this.options.maxRetries) {
      return { kind: 'failed', error };
    }
    try {
      return await this.#pipeline.quarantine(candidate, error, attempts);
    } catch (quarantineError) {
      this.#pipeline.pause(quarantineError);
      return { kind: 'failed', error: quarantineError };
    }
  }

  #report(candidate: Candidate, outcome: Outcome): void {
    const source = displayPath(candidate.path);
    const key = pathKey(candidate.path);
    switch (outcome.kind) {
      case 'committed': {
        const { row } = outcome;
        this.#backoff.delete(key);
        this.#waitingForPause.delete(key);
        this.#summary.ingested += 1;
        this.#summary.bytes += row.size;
        this.#lastIngestAt = this.#clock();
        this.events.emit('file:committed', {
          source,
          dest: displayPath(row.dest),
          sha256: row.sha256,
          bytes: row.size,
          ms: Math.round(this.#clock() - (row.completedAt ?? row.intentAt)),
          hashMs: Math.round((row.hashMs ?? 0) * 10) / 10,
          manifest: row.manifest ?? '',
        });
        return;
      }
      case 'duplicate': {
        const { row, original } = outcome;
        this.#backoff.delete(key);
        this.#waitingForPause.delete(key);
        this.#summary.duplicates += 1;
        const dest = displayPath(row.dest);
        this.events.emit('file:duplicate', {
          source,
          sha256: row.sha256,
          original: displayPath(original.source),
          dest: dest === '' ? null : dest,
          bytes: row.size,
        });
        return;
      }
      case 'quarantined': {
        const { row } = outcome;
        this.#backoff.delete(key);
        this.#waitingForPause.delete(key);
        this.#summary.quarantined += 1;
        const dest = isNoDest(row.dest) ? null : displayPath(row.dest);
        if (dest === null) this.#inPlace.add(key);
        const reason = row.error ?? 'unknown';
        this.#logger.warn(
          { event: 'quarantined', source, dest, reason },
          `quarantined${dest === null ? ' in place' : ''}: ${reason}`,
        );
        this.events.emit('file:quarantined', { source, dest, reason });
        return;
      }
      case 'deferred': {
        if (outcome.code === 'INGEST_ERR_STOPPING') return;
        if (outcome.code === 'INGEST_ERR_VANISHED') return; // renamed or removed: not ours now
        // A file some process holds open has not changed: it has waited since its last change.
        // Status shows the reason beside the path: "is open for writing by another process".
        const why = outcome.reason.startsWith(`${source} `)
          ? outcome.reason.slice(source.length + 1)
          : outcome.reason;
        this.discovery.defer(candidate, {
          why,
          keepSince:
            outcome.code === 'INGEST_ERR_OPEN_FOR_WRITING' ||
            outcome.code === 'INGEST_ERR_EMPTY_UNSEEN',
        });
        this.events.emit('file:deferred', { source, reason: outcome.reason, code: outcome.code });
        return;
      }
      case 'failed': {
        if (errnoCode(outcome.error) === 'INGEST_ERR_VANISHED') {
          // Renamed or removed by someone else before it moved: not ours any more.
          this.#logger.debug({ source }, 'file disappeared before it was moved');
          return;
        }
        const kind = classifyFailure(outcome.error);
        if (kind === 'pause') {
          // Not this file's fault: it waits for the pause to end, with no attempt counted.
          if (this.#waitingForPause.size < BACKOFF_CAPACITY) this.#waitingForPause.add(key);
          this.discovery.defer(candidate, {
            why: `ingestion paused: ${this.#pipeline.pausedReason ?? describeError(outcome.error)}`,
          });
        } else {
          this.#summary.failed += 1;
          const attempts = (this.#backoff.get(key)?.attempts ?? 0) + 1;
          const delay = backoffMs(attempts, RETRY_BASE_MS, RETRY_CAP_MS);
          if (this.#backoff.size >= BACKOFF_CAPACITY) this.#backoff.clear();
          this.#backoff.set(key, { attempts, until: this.#clock() + delay });
        }
        this.events.emit('file:failed', {
          source,
          error: describeError(outcome.error),
          code: errnoCode(outcome.error),
          kind,
        });
        return;
      }
    }
  }

  /** Resolves when every queued file has been settled. */
  async #idle(): Promise<void> {
    while (
      this.#inflight.size > 0 ||
      this.#limit.activeCount + this.#smallLimit.activeCount > 0 ||
      this.#queued > 0
    ) {
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        setTimeout(resolve, 50);
      });
    }
    await this.#pipeline.drain();
  }

  /**
   * One pass: ingest what is complete now, wait at most one stability window for what is
   * not, then return the summary. A file unchanged for longer than the window is complete at
   * once.
   */
  async runOnce(): Promise<RunSummary> {
    const deadline = this.#clock() + this.options.stabilityMs;
    this.events.emit('discovery:started', { input: this.options.input });
    const stopStats = this.#startStats(); // `ingestor status` sees a --once pass too
    try {
      await this.#passOnce(deadline);
    } finally {
      stopStats();
    }
    await this.#pipeline.stop();
    await this.#idle();
    this.#reportUnsettled();
    // Files a pause kept from being ingested: this pass failed them.
    this.#summary.failed += this.#waitingForPause.size;
    return this.summary();
  }

  async #passOnce(deadline: number): Promise<void> {
    let rescanned = false;
    let settled = -1;
    let pausesAtProgress = this.#pipeline.pauseCount;
    await this.discovery.scan();
    for (;;) {
      await this.discovery.checkDue();
      const next = this.discovery.pending.nextDue();
      const { ingested, duplicates, quarantined } = this.#summary;
      if (ingested + duplicates + quarantined !== settled) {
        settled = ingested + duplicates + quarantined;
        pausesAtProgress = this.#pipeline.pauseCount;
      }
      // Files that wait for a pause (a full volume) are tried again when it ends, for as long
      // as files still get in: after a pause for a full volume they are copied one at a time,
      // so what fits is ingested. A pass gives up when several retries let nothing in.
      const pauseWorthWaiting =
        this.#waitingForPause.size > 0 &&
        this.#pipeline.pauseCount - pausesAtProgress < ONCE_FRUITLESS_PAUSES;
      // Files held by a batch that cannot be recorded (a full or read-only volume) wait for the
      // pause to end, which a single pass does not: the stop reports them.
      const busy = this.#inflight.size > this.#pipeline.heldCount || pauseWorthWaiting;
      if (!busy && (next === undefined || next > deadline)) {
        if (!this.discovery.pending.overflowed || rescanned) break;
        // More files were waiting than the pending set holds: look once more when the window
        // has passed (every file present at the start is complete by then unless it changed).
        rescanned = true;
        await sleep(deadline - this.#clock());
        this.discovery.pending.overflowed = false;
        await this.discovery.scan();
        continue;
      }
      const wait = next === undefined ? 50 : Math.min(200, Math.max(5, next - this.#clock()));
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        setTimeout(resolve, wait);
      });
    }
  }

  /** Files moved but not recorded at a stop (a full volume) are not done: counted as failed. */
  #reportUnsettled(): void {
    if (!this.#pipeline.unsettled) return;
    const files = this.#store.openIntents().length;
    this.#summary.failed += files;
    const reason = this.#pipeline.pausedReason ?? 'unknown';
    this.#logger.error(
      { event: 'unsettled', files, reason },
      `${files} moved files could not be recorded (${reason}); the next start settles them`,
    );
  }

  /** Runs until `signal` aborts: hints, due checks and periodic scans whose interval adapts. */
  #scanSpacing(scanMs: number): number {
    const byCost = Math.min(scanMs * SCAN_COST_FACTOR, MAX_SCAN_SPACING_MS);
    return Math.max(this.options.scanIntervalMs, byCost);
  }

  async run(signal: AbortSignal): Promise<RunSummary> {
    const tickMs = Math.min(1000, Math.max(20, this.options.stabilityMs / 4));
    let waiting: AbortController | undefined;
    this.discovery.startWatching(() => waiting?.abort());
    const stopStats = this.#startStats();
    this.events.emit('discovery:started', { input: this.options.input });
    try {
      let scan = await this.discovery.scan();
      this.#logScan(scan);
      let nextScan = this.#clock() + this.#scanSpacing(scan.ms);
      while (!signal.aborted) {
        waiting = new AbortController();
        const wake = () => waiting?.abort();
        signal.addEventListener('abort', wake, { once: true });
        if (this.discovery.hintCount === 0) {
          await sleep(Math.min(tickMs, nextScan - this.#clock()), waiting.signal);
        }
        signal.removeEventListener('abort', wake);
        if (signal.aborted) break;
        await this.discovery.processHints();
        await this.discovery.checkDue();
        if (this.#clock() >= nextScan || this.discovery.rescanRequested) {
          this.#refreshQuarantinedInPlace();
          scan = await this.discovery.scan();
          this.#logScan(scan);
          nextScan = this.#clock() + this.#scanSpacing(scan.ms);
        }
      }
    } finally {
      stopStats();
      this.discovery.stopWatching();
    }
    await this.#pipeline.stop();
    await this.#idle();
    this.#reportUnsettled();
    return this.summary();
  }

  /** What the gauges show: live, cheap to read (one COUNT on an index). */
  gauges(): Gauges {
    const queueDepth = this.#queued;
    return {
      queueDepth,
      inflight: this.#inflight.size - queueDepth,
      pending: this.discovery.pending.size,
      quarantined: this.#store.countQuarantined(),
      paused: this.#pipeline.pausedReason !== undefined,
      lastIngestAt: this.#lastIngestAt,
    };
  }

  /** Why ingestion is paused, or undefined. */
  get pausedReason(): string | undefined {
    return this.#pipeline.pausedReason;
  }

  #startStats(): () => void {
    let last = { at: this.#clock(), files: this.#summary.ingested, bytes: this.#summary.bytes };
    const timer = setInterval(() => {
      const now = this.#clock();
      const seconds = Math.max(0.001, (now - last.at) / 1000);
      const { queueDepth, inflight, pending, paused } = this.gauges();
      const memory = process.memoryUsage();
      const stats = {
        rssBytes: memory.rss,
        heapUsedBytes: memory.heapUsed,
        // Three decimals: one file in a minute is 0.017/s, not 0.
        filesPerSecond: Math.round(((this.#summary.ingested - last.files) / seconds) * 1000) / 1000,
        bytesPerSecond: Math.round((this.#summary.bytes - last.bytes) / seconds),
        queueDepth,
        inflight,
        pending,
        paused,
      };
      last = { at: now, files: this.#summary.ingested, bytes: this.#summary.bytes };
      this.#logger.info({ event: 'stats', ...stats }, 'stats');
      this.events.emit('stats', stats);
    }, this.options.statsIntervalMs);
    timer.unref();
    const snapshot = setInterval(() => this.writeRuntime(), RUNTIME_INTERVAL_MS);
    snapshot.unref();
    this.writeRuntime();
    return () => {
      clearInterval(timer);
      clearInterval(snapshot);
    };
  }

  /**
   * What `ingestor status` shows of this daemon: pending files live only in memory. Written
   * every few seconds, and at once on SIGUSR2 (`ingestor status` asks for a fresh one).
   */
  writeRuntime(): void {
    const oldest = this.discovery.pending.oldest();
    const { queueDepth, inflight, pending, paused } = this.gauges();
    try {
      this.#store.writeRuntime(
        {
          pid: process.pid,
          startedAt: this.#started,
          queueDepth,
          inflight,
          pending,
          paused: this.pausedReason ?? null,
          oldestPending:
            oldest === undefined
              ? null
              : {
                  path: displayPath(oldest.path),
                  since: oldest.tracked.stableSince,
                  ...(oldest.why === undefined ? {} : { reason: oldest.why }),
                },
          writersUnseen: this.#pipeline.volumesWithoutLeases.map(({ dir, code, reason }) => ({
            dir,
            code,
            reason,
          })),
        },
        this.#clock(),
      );
    } catch (error) {
      // A full or locked state volume: the pipeline pauses and says so; status shows the
      // snapshot's age. Nothing else depends on this write.
      this.#logger.debug({ err: describeError(error), paused }, 'cannot write runtime snapshot');
    }
  }

  #logScan(scan: { files: number; complete: number; ms: number }): void {
    const pending = this.discovery.pending.size;
    this.#logger.debug({ event: 'scan', ...scan, pending }, 'scan done');
    this.events.emit('scan:done', { ...scan, pending });
  }

  summary(): RunSummary {
    return {
      ...this.#summary,
      // Files waiting for a pause are complete: counted as failed by a pass, not as waiting.
      waiting: Math.max(0, this.discovery.pending.size - this.#waitingForPause.size),
      seconds: (this.#clock() - this.#started) / 1000,
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.discovery.stopWatching();
    await this.#pipeline.stop();
    await this.#idle();
    await this.#manifest.close();
    await this.#hasher?.close();
    this.#store.close();
    this.#inputLock?.release();
    this.#lock.release();
    this.#unsubscribe();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
