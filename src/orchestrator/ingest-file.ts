import type { HashedFile, Outcome, Pipeline } from '../ingest/pipeline.js';
import type { Candidate } from '../interfaces.js';
import type { FailurePolicy } from './failure-policy.js';
import type { OutcomeEvents } from './outcome-events.js';
import type { Scheduler } from './scheduler.js';

/** What one file goes through. */
export interface IngestFileDeps {
  scheduler: Pick<Scheduler, 'slot'>;
  pipeline: Pick<Pipeline, 'whenNotPaused' | 'hashAndCopy' | 'whenBatchRoom' | 'ingestInNextBatch'>;
  policy: Pick<FailurePolicy, 'decide'>;
  outcomes: Pick<OutcomeEvents, 'report'>;
}

/**
 * One complete file from its slot to its outcome: read and hashed in a worker slot, claimed,
 * moved and recorded in the next group commit; a failure goes to the policy, and the outcome
 * is reported.
 */
export async function ingestFile(candidate: Candidate, d: IngestFileDeps): Promise<void> {
  let outcome: Outcome;
  let hashed: HashedFile | undefined;
  try {
    // A worker slot covers reading and hashing only: once the file waits for its group
    // commit the slot moves on, so a batch can gather far more files than there are workers.
    hashed = await d.scheduler.slot(candidate.identity.size, async () => {
      await d.pipeline.whenNotPaused();
      const ready = await d.pipeline.hashAndCopy(candidate);
      await d.pipeline.whenBatchRoom(); // bounded: hashed files never pile up unboundedly
      return ready;
    });
    outcome = await d.pipeline.ingestInNextBatch(hashed);
  } catch (error) {
    outcome = { kind: 'failed', error };
  } finally {
    // The read lease covers the hash, the claim, the move and the commit; no longer.
    hashed?.lease?.close();
  }
  if (outcome.kind === 'failed') outcome = await d.policy.decide(candidate, outcome.error);
  d.outcomes.report(candidate, outcome);
}
