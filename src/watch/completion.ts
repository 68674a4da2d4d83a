import type { FileIdentity } from '../interfaces.js';
import { sameIdentity } from '../identity.js';

/** What discovery remembers about a file that is not complete yet. */
export interface Tracked {
  identity: FileIdentity;
  /** Since when (ms) the identity is believed unchanged. */
  stableSince: number;
  /** When this identity was last observed (ms). */
  observedAt: number;
}

/**
 * Folds one observation of a file into what is known about it.
 *
 * The file's own mtime is the first witness of when it last changed: a writer that pauses
 * shorter than the window keeps moving it forward, and it survives restarts without any state.
 * Our own observations refine it: an identity that changed since we last looked changed after
 * that look, whatever the mtime claims (`touch -d`, preserved times), and an mtime in the future
 * (clock skew on NFS) counts from when we first saw it.
 */
export function observe(prev: Tracked | undefined, identity: FileIdentity, now: number): Tracked {
  if (prev !== undefined && sameIdentity(prev.identity, identity)) {
    return { identity, stableSince: prev.stableSince, observedAt: now };
  }
  const byMtime = Math.min(identity.mtimeMs, now);
  const stableSince = prev === undefined ? byMtime : Math.max(byMtime, prev.observedAt);
  return { identity, stableSince, observedAt: now };
}

/** Complete when the identity has been unchanged for the whole window. */
export function isStable(tracked: Tracked, now: number, windowMs: number): boolean {
  return now - tracked.stableSince >= windowMs;
}

/** The earliest time the file can be complete if nothing changes. */
export function stableAt(tracked: Tracked, windowMs: number): number {
  return tracked.stableSince + windowMs;
}
