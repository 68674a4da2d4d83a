import { displayPath } from '../paths.js';
import { pendingId } from '../pending-id.js';
import type { Hold } from '../state/store.js';
import type { PendingSet } from '../watch/pending.js';
import type { Backoff } from './failure-policy.js';

/** A file seen and not taken, and why. */
export interface PendingView {
  id: string;
  source: string;
  reason: 'stabilizing' | 'waiting' | 'backoff' | 'held';
  /** One line for people: "stable for 3.0 of 5 s", "retry at ... after EIO: ...". */
  why: string;
  /** When it may be taken (ms), where that is known. */
  dueAt: number | null;
}

/** Where the files that wait are kept: held, backing off, not complete yet. */
export interface PendingSources {
  holds: ReadonlyMap<string, Hold>;
  backoffs: Iterable<Backoff>;
  pending: PendingSet;
  stabilityMs: number;
  now: number;
}

/**
 * Files seen and not taken, with why, at most `limit`: held first, then those backing off,
 * then those not complete yet. `total` counts them all (each source is bounded, so counting
 * them is too).
 */
export function listPending(
  from: PendingSources,
  limit: number,
): { files: PendingView[]; total: number } {
  const { now } = from;
  const files: PendingView[] = [];
  // Built only while there is room: a view hashes its path, and 50,000 files may wait.
  const add = (view: () => PendingView) => {
    if (files.length < limit) files.push(view());
  };
  for (const hold of from.holds.values()) {
    add(() => ({
      id: pendingId(hold.source),
      source: displayPath(hold.source),
      reason: 'held',
      why: `${hold.reason === 'cancelled' ? 'cancelled' : 'held'} by ${hold.actor} at ${new Date(hold.at).toISOString()}; release to take it again`,
      dueAt: null,
    }));
  }
  let backoffs = 0;
  for (const b of from.backoffs) {
    if (b.until <= now) continue;
    backoffs += 1;
    add(() => ({
      id: pendingId(b.path),
      source: displayPath(b.path),
      reason: 'backoff',
      why: `retry at ${new Date(b.until).toISOString()} after ${b.code ?? 'an error'} (attempt ${b.attempts}): ${b.error}`,
      dueAt: b.until,
    }));
  }
  const window = from.stabilityMs / 1000;
  for (const file of from.pending.files()) {
    const stable = Math.max(0, (now - file.tracked.stableSince) / 1000);
    add(() => ({
      id: pendingId(file.path),
      source: displayPath(file.path),
      reason: file.why === undefined ? 'stabilizing' : 'waiting',
      why: file.why ?? `stable for ${stable.toFixed(1)} of ${window} s`,
      dueAt: file.dueAt,
    }));
  }
  return { files, total: from.holds.size + backoffs + from.pending.size };
}
