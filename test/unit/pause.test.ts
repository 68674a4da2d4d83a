import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { IngestorEvents } from '../../src/events.js';
import { GroupCommit } from '../../src/ingest/group-commit.js';
import type { HashedFile } from '../../src/ingest/outcome.js';
import { Pause } from '../../src/ingest/pause.js';
import type { ResolvedOptions } from '../../src/options.js';
import type { StateStore } from '../../src/state/store.js';
import type { ManifestWriter } from '../../src/manifest/manifest-writer.js';
import { OpenHours } from '../../src/manifest/open-hours.js';

const full = Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });

/** A pause on the fake clock; nothing here reads the state or the manifests. */
function makePause(): Pause {
  return new Pause({
    options: { batchSize: 4 } as ResolvedOptions,
    store: {} as StateStore,
    manifest: {} as ManifestWriter,
    hours: new OpenHours(undefined),
    clock: Date.now,
    logger: pino({ level: 'silent' }),
    events: new IngestorEvents(),
  });
}

/** Whether `promise` has settled, after the microtasks that are due. */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  promise.then(
    () => (done = true),
    () => (done = true),
  );
  await vi.advanceTimersByTimeAsync(0);
  return done;
}

describe('pausing waits on events, not on polling timers', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('whenNotPaused resolves when the pause time is up, with one timer for every waiter', async () => {
    const pause = makePause();
    pause.pause(full); // the first step: 0.5 to 1.5 s
    const waiters = Array.from({ length: 10 }, () => pause.whenNotPaused());
    expect(await settled(Promise.any(waiters))).toBe(false);
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(400);
    expect(await settled(Promise.any(waiters))).toBe(false);
    await vi.advanceTimersByTimeAsync(1_200);
    expect(await settled(Promise.all(waiters))).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('a stop makes waiters that wait already throw INGEST_ERR_STOPPING, at once', async () => {
    const pause = makePause();
    pause.pause(full);
    const waiting = pause.whenNotPaused();
    const outcome = waiting.catch((error: unknown) => error);
    pause.stop();
    expect(await outcome).toMatchObject({ code: 'INGEST_ERR_STOPPING' });
    expect(vi.getTimerCount()).toBe(0);
    await expect(pause.whenNotPaused()).rejects.toMatchObject({ code: 'INGEST_ERR_STOPPING' });
  });

  it('drain waits for a lingering batch to run, and returns at once if a pause begins first', async () => {
    const pause = makePause();
    const ingested: number[] = [];
    const queue = new GroupCommit({
      options: { batchSize: 4 } as ResolvedOptions,
      pause,
      ingest: async (batch) => {
        ingested.push(batch.length);
        for (const entry of batch) entry.resolve({ kind: 'deferred', reason: 'test' });
      },
    });
    queue.moreComing = () => true; // the batch lingers for more files
    const file = { tmp: null, candidate: {} } as HashedFile;
    void queue.ingestInNextBatch(file);
    const drained = queue.drain();
    expect(await settled(drained)).toBe(false);
    await vi.advanceTimersByTimeAsync(25);
    expect(await settled(drained)).toBe(true);
    expect(ingested).toEqual([1]);

    void queue.ingestInNextBatch(file);
    const drainedAgain = queue.drain();
    expect(await settled(drainedAgain)).toBe(false);
    pause.pause(full);
    expect(await settled(drainedAgain)).toBe(true);
    expect(queue.queued).toBe(1);
    await queue.stop();
    pause.stop();
  });
});
