import type { Clock } from '../clock.js';
import { describeError } from '../errors.js';
import type { IngestorEvents } from '../events.js';
import type { Pipeline } from '../ingest/pipeline.js';
import type { RunSummary } from '../interfaces.js';
import type { ResolvedOptions } from '../options.js';
import type { Gauges } from '../ops/metrics.js';
import type { Logger } from '../ops/logger.js';
import { displayPath } from '../paths.js';
import type { RuntimeSnapshot, StateStore } from '../state/store.js';
import type { PendingSet } from '../watch/pending.js';
import type { FailurePolicy } from './failure-policy.js';
import type { HourCloser } from './hour-closer.js';
import type { OperatorControls } from './operator-controls.js';
import type { OutcomeEvents } from './outcome-events.js';
import type { Scheduler } from './scheduler.js';

/** How often the daemon records its runtime snapshot for `ingestor status`. */
const RUNTIME_INTERVAL_MS = 5_000;

/** What the figures are read from. */
export interface RunStatsDeps {
  clock: Clock;
  logger: Logger;
  events: IngestorEvents;
  /** `statsIntervalMs`: between two stats lines. */
  options: Pick<ResolvedOptions, 'statsIntervalMs'>;
  scheduler: Pick<Scheduler, 'queued' | 'inflight' | 'queuedByPriority'>;
  pending: PendingSet;
  store: Pick<StateStore, 'countQuarantined' | 'writeRuntime'>;
  pipeline: Pick<Pipeline, 'pausedReason' | 'volumesWithoutLeases'>;
  outcomes: Pick<OutcomeEvents, 'counts' | 'lastIngestAt'>;
  policy: Pick<FailurePolicy, 'waitingForPause'>;
  /** The operator's pause, which `ingestor status` shows as it shows a volume's. */
  controls: Pick<OperatorControls, 'operatorPause'>;
  /** The last closed hour, for its gauge. */
  closer: Pick<HourCloser, 'closedThrough'>;
}

/**
 * The daemon's figures: live gauges, the periodic stats line, the runtime snapshot that
 * `ingestor status` reads, and the run's summary.
 */
export class RunStats {
  readonly #d: RunStatsDeps;
  readonly #started: number;

  constructor(deps: RunStatsDeps) {
    this.#d = deps;
    this.#started = deps.clock();
  }

  /** What the gauges show: live, in memory. */
  gauges(): Gauges {
    const queueDepth = this.#d.scheduler.queued;
    return {
      queueDepth,
      queuedByPriority: this.#d.scheduler.queuedByPriority(),
      inflight: this.#d.scheduler.inflight - queueDepth,
      pending: this.#d.pending.size,
      paused: this.#d.pipeline.pausedReason !== undefined,
      lastIngestAt: this.#d.outcomes.lastIngestAt,
      lastClosedHour: this.#d.closer.closedThrough,
    };
  }

  /** Starts the stats line and the runtime snapshot; returns what stops them. */
  start(): () => void {
    const { clock, logger, events, outcomes } = this.#d;
    let last = { at: clock(), files: outcomes.counts.ingested, bytes: outcomes.counts.bytes };
    const timer = setInterval(() => {
      const now = clock();
      const seconds = Math.max(0.001, (now - last.at) / 1000);
      const { queueDepth, inflight, pending, paused } = this.gauges();
      const memory = process.memoryUsage();
      const { ingested, bytes } = outcomes.counts;
      const stats = {
        rssBytes: memory.rss,
        heapUsedBytes: memory.heapUsed,
        // Three decimals: one file in a minute is 0.017/s, not 0.
        filesPerSecond: Math.round(((ingested - last.files) / seconds) * 1000) / 1000,
        bytesPerSecond: Math.round((bytes - last.bytes) / seconds),
        queueDepth,
        inflight,
        pending,
        paused,
      };
      last = { at: now, files: ingested, bytes };
      logger.info({ event: 'stats', ...stats }, 'stats');
      events.emit('stats', stats);
    }, this.#d.options.statsIntervalMs);
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
    const { pending: pendingSet, pipeline, store, clock, logger } = this.#d;
    const oldest = pendingSet.oldest();
    const { queueDepth, inflight, pending, paused } = this.gauges();
    const snapshot: RuntimeSnapshot = {
      pid: process.pid,
      startedAt: this.#started,
      queueDepth,
      inflight,
      pending,
      paused: pipeline.pausedReason ?? operatorPaused(this.#d.controls),
      oldestPending:
        oldest === undefined
          ? null
          : {
              path: displayPath(oldest.path),
              since: oldest.tracked.stableSince,
              ...(oldest.why === undefined ? {} : { reason: oldest.why }),
            },
      writersUnseen: pipeline.volumesWithoutLeases.map(({ dir, code, reason }) => ({
        dir,
        code,
        reason,
      })),
    };
    store.writeRuntime(snapshot, clock()).catch((error: unknown) => {
      // A full or locked state volume: the pipeline pauses and says so; status shows the
      // snapshot's age. Nothing else depends on this write.
      logger.debug({ err: describeError(error), paused }, 'cannot write runtime snapshot');
    });
  }

  /** The run's summary: counts so far, files still waiting, and the time since the start. */
  summary(): RunSummary {
    const { ingested, duplicates, bytes, skipped, failed, quarantined } = this.#d.outcomes.counts;
    return {
      ingested,
      duplicates,
      bytes,
      skipped,
      // Files waiting for a pause are complete: counted as failed by a pass, not as waiting.
      waiting: Math.max(0, this.#d.pending.size - this.#d.policy.waitingForPause),
      failed,
      quarantined,
      seconds: (this.#d.clock() - this.#started) / 1000,
    };
  }
}

/** An operator's pause as `ingestor status` prints it, or null. */
function operatorPaused(controls: RunStatsDeps['controls']): string | null {
  const pause = controls.operatorPause;
  return pause === undefined
    ? null
    : `by an operator (${pause.by}) since ${new Date(pause.since).toISOString()}`;
}
