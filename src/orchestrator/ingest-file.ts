import { errnoCode } from '../errors.js';
import { unlinkIfExists } from '../fsutil.js';
import { cancelledError } from '../ingest/hasher.js';
import type { HashedFile, Outcome, Pipeline } from '../ingest/pipeline.js';
import type { Candidate } from '../interfaces.js';
import type { FailurePolicy } from './failure-policy.js';
import type { OperatorControls } from './operator-controls.js';
import type { OutcomeEvents } from './outcome-events.js';
import type { Scheduler } from './scheduler.js';

/** What one file goes through. */
export interface IngestFileDeps {
  scheduler: Pick<Scheduler, 'slot'>;
  pipeline: Pick<Pipeline, 'whenNotPaused' | 'hashAndCopy' | 'whenBatchRoom' | 'ingestInNextBatch'>;
  policy: Pick<FailurePolicy, 'decide'>;
  outcomes: Pick<OutcomeEvents, 'report'>;
  controls: Pick<OperatorControls, 'track' | 'settled' | 'whenResumed'>;
}

/**
 * One complete file from its slot to its outcome: read and hashed in a worker slot, claimed,
 * moved and recorded in the next group commit; a failure goes to the policy, and the outcome
 * is reported. An operator's cancel stops it before its claim, never after: up to then its
 * only trace outside the input is its copy, which is removed.
 */
export async function ingestFile(candidate: Candidate, d: IngestFileDeps): Promise<void> {
  let outcome: Outcome;
  let hashed: HashedFile | undefined;
  const job = d.controls.track(candidate);
  try {
    // A worker slot covers reading and hashing only: once the file waits for its group
    // commit the slot moves on, so a batch can gather far more files than there are workers.
    const { size, mtimeMs } = candidate.identity;
    hashed = await d.scheduler.slot(size, candidate.priority ?? 0, mtimeMs, async () => {
      await d.controls.whenResumed(); // an operator's pause: nothing new is hashed
      await d.pipeline.whenNotPaused();
      if (job.cancelled) throw cancelledError(candidate.path);
      job.hashing = true;
      job.hashingSince = Date.now();
      const ready = await d.pipeline.hashAndCopy(candidate, job.controller.signal);
      // Bounded: hashed files never pile up unboundedly (an urgent one goes ahead).
      await d.pipeline.whenBatchRoom(candidate.priority ?? 0);
      return ready;
    });
    // Synchronously with the check: a cancel that comes later is refused (409).
    if (job.cancelled) throw cancelledError(candidate.path);
    job.placing = true;
    outcome = await d.pipeline.ingestInNextBatch(hashed);
  } catch (error) {
    outcome = { kind: 'failed', error };
  } finally {
    // The read lease covers the hash, the claim, the move and the commit; no longer.
    hashed?.lease?.close();
    d.controls.settled(job);
  }
  if (outcome.kind === 'failed' && errnoCode(outcome.error) === 'INGEST_ERR_CANCELLED') {
    // Not claimed: the copy (if it was made) is all there is to undo; the source stays, held.
    // The stream heard of the cancel when the operator asked (OperatorControls).
    if (hashed !== undefined && hashed.tmp !== null) await unlinkIfExists(hashed.tmp);
    return;
  }
  if (outcome.kind === 'failed') outcome = await d.policy.decide(candidate, outcome.error);
  d.outcomes.report(candidate, outcome);
}
