import { describe, expect, it } from 'vitest';
import type { Candidate } from '../../src/interfaces.js';
import { FailurePolicy } from '../../src/orchestrator/failure-policy.js';
import { passOnce } from '../../src/orchestrator/once-pass.js';
import type { OncePassDeps } from '../../src/orchestrator/once-pass.js';
import { pathKey } from '../../src/paths.js';

const full = Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
const candidate: Candidate = {
  path: '/in/a.csv',
  relPath: 'a.csv',
  identity: { device: 1, inode: 2, size: 3, mtimeMs: 4 },
  links: 1,
};

/** A pass over an input where nothing is pending, in flight or held. */
function quietPass(policy: FailurePolicy, pending: Set<string>): OncePassDeps {
  const never = () => () => {};
  return {
    discovery: {
      scan: async () => ({ files: 0, complete: 0, ms: 0 }),
      checkDue: async () => {},
      pending: {
        nextDue: () => undefined,
        overflowed: false,
        get: (p: string | Buffer) =>
          pending.has(pathKey(p))
            ? ({} as ReturnType<OncePassDeps['discovery']['pending']['get']>)
            : undefined,
      } as unknown as OncePassDeps['discovery']['pending'],
    },
    pipeline: { pauseCount: 0, heldCount: 0, onPauseChange: never },
    scheduler: { inflight: 0, onSettled: never, has: () => false },
    policy,
    outcomes: {
      counts: { ingested: 0, duplicates: 0, quarantined: 0 },
    } as OncePassDeps['outcomes'],
    clock: Date.now,
  };
}

function policyWithOneFileWaitingForAPause(): FailurePolicy {
  const policy = new FailurePolicy({
    pipeline: {
      pause: () => {},
      quarantine: async () => ({ kind: 'deferred', reason: '' }),
      pausedReason: 'full',
    },
    store: { quarantinedInPlace: async () => [] },
    quarantinedInPlace: [],
    defer: () => {},
    clock: Date.now,
    options: { maxRetries: 3 },
  });
  expect(policy.scheduleNextTry(candidate, full)).toBe('pause');
  expect(policy.waitingForPause).toBe(1);
  return policy;
}

describe('a --once pass and the files that wait for a pause', () => {
  it('ends when such a file is gone from the input (it used to wait for it forever)', async () => {
    const policy = policyWithOneFileWaitingForAPause();
    await passOnce(quietPass(policy, new Set()), Date.now());
    expect(policy.waitingForPause).toBe(0);
  });

  it('keeps a file that still waits in the input', () => {
    const policy = policyWithOneFileWaitingForAPause();
    policy.forgetWaitingUnless((_key, path) => path === candidate.path);
    expect(policy.waitingForPause).toBe(1);
  });

  it('forgets a file that vanished before it was moved', () => {
    const policy = policyWithOneFileWaitingForAPause();
    const vanished = Object.assign(new Error('gone'), { code: 'INGEST_ERR_VANISHED' });
    expect(policy.scheduleNextTry(candidate, vanished)).toBeUndefined();
    expect(policy.waitingForPause).toBe(0);
  });
});
