import { setTimeout as delay } from 'node:timers/promises';
import type { Clock } from '../clock.js';
import type { Pipeline } from '../ingest/pipeline.js';
import type { Discovery } from '../watch/discovery.js';
import type { FailurePolicy } from './failure-policy.js';
import type { OutcomeEvents } from './outcome-events.js';
import type { Scheduler } from './scheduler.js';

/** Pauses in a row that let no file in, after which a `--once` pass stops waiting for them. */
const ONCE_FRUITLESS_PAUSES = 2;

/** What a `--once` pass watches to know when it is done. */
export interface OncePassDeps {
  discovery: Pick<Discovery, 'scan' | 'checkDue' | 'pending'>;
  pipeline: Pick<Pipeline, 'pauseCount' | 'heldCount' | 'onPauseChange'>;
  scheduler: Pick<Scheduler, 'inflight' | 'onSettled' | 'has'>;
  policy: Pick<FailurePolicy, 'waitingForPause' | 'forgetWaitingUnless'>;
  outcomes: Pick<OutcomeEvents, 'counts'>;
  clock: Clock;
}

/** Timers wait at most this long before the clock is read again (a clock may jump). */
const MAX_TIMER_MS = 1_000;

/**
 * Resolves at the first of: a file settles, the pause changes (a pass counts pauses and held
 * files), or `ms` passes (a pending file's due time; none when undefined).
 */
function nextChange(d: OncePassDeps, ms: number | undefined): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      stopListening();
      stopPauseListening();
      resolve();
    };
    const timer = ms === undefined ? undefined : setTimeout(done, Math.min(ms, MAX_TIMER_MS));
    const stopListening = d.scheduler.onSettled(done);
    const stopPauseListening = d.pipeline.onPauseChange(done);
  });
}

/**
 * The discovery of a `--once` pass: scans, then submits files as they become complete until
 * nothing in flight is worth waiting for and no pending file is due before `deadline`.
 */
export async function passOnce(d: OncePassDeps, deadline: number): Promise<void> {
  const { discovery, pipeline, clock } = d;
  let rescanned = false;
  let settled = -1;
  let pausesAtProgress = pipeline.pauseCount;
  await discovery.scan();
  for (;;) {
    await discovery.checkDue();
    const next = discovery.pending.nextDue();
    const { ingested, duplicates, quarantined } = d.outcomes.counts;
    if (ingested + duplicates + quarantined !== settled) {
      settled = ingested + duplicates + quarantined;
      pausesAtProgress = pipeline.pauseCount;
    }
    // A file that waited for a pause and is gone (removed, renamed) is nobody's to wait for.
    if (d.scheduler.inflight <= pipeline.heldCount) {
      d.policy.forgetWaitingUnless(
        (key, path) => d.scheduler.has(key) || discovery.pending.get(path) !== undefined,
      );
    }
    // Files that wait for a pause (a full volume) are tried again when it ends, for as long
    // as files still get in: after a pause for a full volume they are copied one at a time,
    // so what fits is ingested. A pass gives up when several retries let nothing in.
    const pauseWorthWaiting =
      d.policy.waitingForPause > 0 &&
      pipeline.pauseCount - pausesAtProgress < ONCE_FRUITLESS_PAUSES;
    // Files held by a batch that cannot be recorded (a full or read-only volume) wait for the
    // pause to end, which a single pass does not: the stop reports them.
    const busy = d.scheduler.inflight > pipeline.heldCount || pauseWorthWaiting;
    if (!busy && (next === undefined || next > deadline)) {
      if (!discovery.pending.overflowed || rescanned) break;
      // More files were waiting than the pending set holds: look once more when the window
      // has passed (every file present at the start is complete by then unless it changed).
      rescanned = true;
      while (clock() < deadline) await delay(Math.min(deadline - clock(), MAX_TIMER_MS));
      discovery.pending.overflowed = false;
      await discovery.scan();
      continue;
    }
    // Only a pending file's due time is a deadline; what else changes the answer above (files
    // settling, pauses) is an event.
    await nextChange(d, next === undefined ? undefined : Math.max(5, next - clock()));
  }
}
