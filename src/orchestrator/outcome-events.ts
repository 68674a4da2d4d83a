import type { Clock } from '../clock.js';
import { describeError, errnoCode } from '../errors.js';
import type { IngestorEvents } from '../events.js';
import type { Outcome } from '../ingest/pipeline.js';
import { isNoDest } from '../naming.js';
import type { Candidate, RunSummary } from '../interfaces.js';
import type { Logger } from '../ops/logger.js';
import { displayPath } from '../paths.js';
import type { NewJournalEvent } from '../state/store.js';
import type { Discovery } from '../watch/discovery.js';
import type { FailurePolicy } from './failure-policy.js';

/** What a run counts as outcomes come in; `summary()` adds what is waiting and the time. */
export type OutcomeCounts = Omit<RunSummary, 'waiting' | 'seconds'>;

/** What the outcomes are told to. */
export interface OutcomeEventsDeps {
  events: IngestorEvents;
  logger: Logger;
  clock: Clock;
  policy: Pick<FailurePolicy, 'done' | 'scheduleNextTry' | 'backoffOf'>;
  /** Records exceptional events in the state's journal (failures, retries, cancels). */
  journal(event: NewJournalEvent): void;
  /** Puts a file back to wait (Discovery's `defer`). */
  defer: Discovery['defer'];
  /** When the newest file was committed by an earlier run, if ever. */
  lastIngestAt: number | undefined;
}

/**
 * Turns each file's outcome into its event (which logs and metrics subscribe to) and counts it
 * for the run's summary.
 */
export class OutcomeEvents {
  readonly #d: OutcomeEventsDeps;
  readonly #counts: OutcomeCounts = {
    ingested: 0,
    duplicates: 0,
    bytes: 0,
    skipped: 0,
    failed: 0,
    quarantined: 0,
  };
  #lastIngestAt: number | undefined;

  constructor(deps: OutcomeEventsDeps) {
    this.#d = deps;
    this.#lastIngestAt = deps.lastIngestAt;
    deps.events.on('file:skipped', () => (this.#counts.skipped += 1));
  }

  /** The run's counts so far. */
  get counts(): Readonly<OutcomeCounts> {
    return this.#counts;
  }

  /** When the newest file was committed (ms, the clock's), if ever. */
  get lastIngestAt(): number | undefined {
    return this.#lastIngestAt;
  }

  /** Counts files that end the run not done: a pass's files still waiting for a pause. */
  countFailed(files: number): void {
    this.#counts.failed += files;
  }

  /** Files moved but not recorded at a stop (a full volume) are not done: counted as failed. */
  reportUnsettled(files: number, reason: string): void {
    this.#counts.failed += files;
    this.#d.logger.error(
      { event: 'unsettled', files, reason },
      `${files} moved files could not be recorded (${reason}); the next start settles them`,
    );
  }

  /** Journals a failure that leaves the file to be tried again: its class, code and attempt. */
  #journalFailure(candidate: Candidate, error: unknown, kind: 'retry' | 'quarantine'): void {
    const backoff = this.#d.policy.backoffOf(candidate.path);
    const detail = {
      class: kind,
      code: errnoCode(error) ?? null,
      // The system's code under ours (EIO under INGEST_ERR_SOURCE_READ): what an operator acts on.
      cause: (error instanceof Error ? errnoCode(error.cause) : undefined) ?? null,
      error: describeError(error),
      attempt: backoff?.attempts ?? 1,
    };
    this.#d.journal({ type: 'failed', fileId: null, source: candidate.path, actor: null, detail });
    if (backoff !== undefined) {
      this.#d.journal({
        type: 'retry-scheduled',
        fileId: null,
        source: candidate.path,
        actor: null,
        detail: { attempt: backoff.attempts + 1, at: backoff.until },
      });
    }
  }

  /** Emits the file's event and counts it; a file that is not done waits or is tried again. */
  report(candidate: Candidate, outcome: Outcome): void {
    const { events, logger, clock, policy } = this.#d;
    const source = displayPath(candidate.path);
    switch (outcome.kind) {
      case 'committed': {
        const { row } = outcome;
        policy.done(candidate.path);
        this.#counts.ingested += 1;
        this.#counts.bytes += row.size;
        this.#lastIngestAt = clock();
        events.emit('file:committed', {
          id: row.id,
          source,
          dest: displayPath(row.dest),
          sha256: row.sha256,
          bytes: row.size,
          ms: Math.round(clock() - (row.completedAt ?? row.intentAt)),
          hashMs: Math.round((row.hashMs ?? 0) * 10) / 10,
          manifest: row.manifest ?? '',
        });
        return;
      }
      case 'duplicate': {
        const { row, original } = outcome;
        policy.done(candidate.path);
        this.#counts.duplicates += 1;
        const dest = displayPath(row.dest);
        events.emit('file:duplicate', {
          id: row.id,
          source,
          sha256: row.sha256,
          original: displayPath(original.source),
          originalId: original.id,
          dest: dest === '' ? null : dest,
          bytes: row.size,
        });
        return;
      }
      case 'quarantined': {
        const { row } = outcome;
        const dest = isNoDest(row.dest) ? null : displayPath(row.dest);
        policy.done(candidate.path, dest === null);
        this.#counts.quarantined += 1;
        const reason = row.error ?? 'unknown';
        logger.warn(
          { event: 'quarantined', source, dest, reason },
          `quarantined${dest === null ? ' in place' : ''}: ${reason}`,
        );
        events.emit('file:quarantined', { id: row.id, source, dest, reason });
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
        this.#d.defer(candidate, {
          why,
          // Unchanged meanwhile (a volume whose reads hang was not even read): complete
          // again at the next look once the condition has passed.
          keepSince:
            outcome.code === 'INGEST_ERR_OPEN_FOR_WRITING' ||
            outcome.code === 'INGEST_ERR_EMPTY_UNSEEN' ||
            outcome.code === 'INGEST_ERR_VOLUME_STALLED',
        });
        events.emit('file:deferred', { source, reason: outcome.reason, code: outcome.code });
        return;
      }
      case 'failed': {
        const kind = policy.scheduleNextTry(candidate, outcome.error);
        if (kind === undefined) {
          logger.debug({ source }, 'file disappeared before it was moved');
          return;
        }
        // A file that waits for a pause is not counted: a pass counts those still waiting.
        if (kind !== 'pause') this.#counts.failed += 1;
        // A pause is no file's fault (and a full volume fails many files at once): not journaled
        // per file; the status says why ingestion is paused.
        if (kind === 'retry' || kind === 'quarantine') {
          this.#journalFailure(candidate, outcome.error, kind);
        }
        events.emit('file:failed', {
          source,
          error: describeError(outcome.error),
          code: errnoCode(outcome.error),
          kind,
        });
        return;
      }
    }
  }
}
