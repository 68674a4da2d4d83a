import { LiveLimits } from '../../src/ingest/live-limits.js';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { IngestorEvents } from '../../src/events.js';
import type { Candidate } from '../../src/interfaces.js';
import type { Backoff } from '../../src/orchestrator/failure-policy.js';
import { ControlRefusal, OperatorControls } from '../../src/orchestrator/operator-controls.js';
import { pendingId } from '../../src/pending-id.js';
import { SqliteStateStore } from '../../src/state/sqlite-async.js';
import { openSqliteState } from '../../src/state/sqlite-store.js';
import { PendingSet } from '../../src/watch/pending.js';

/** What each action takes, as its refusal says. */
const TAKES: Record<string, string> = {
  hold: 'a file that waits (pending or backing off)',
  cancel: 'a file being read or copied',
  release: 'a held file',
};

const identity = { device: 1, inode: 2, size: 3, mtimeMs: 4 };
const candidate = (p: string): Candidate => ({ path: p, relPath: p, identity, links: 1 });

function controls(backoffs: Backoff[] = []) {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'oc-')), 'state.db');
  const store = new SqliteStateStore(openSqliteState(file));
  const pending = new PendingSet(10);
  let concurrency = 4;
  let rescans = 0;
  const events = new IngestorEvents();
  const time = { now: 1_000 };
  const limits = new LiveLimits({
    maxBytesPerSecond: undefined,
    minFreeSpace: undefined,
    maxFileSize: undefined,
    readStallMs: 60_000,
  });
  const c = new OperatorControls({
    store,
    clock: () => time.now,
    logger: pino({ level: 'silent' }),
    events,
    policy: {
      retryNow: (p) => backoffs.some((b) => b.path === p),
      backoffs: () => backoffs.values(),
      refreshQuarantinedInPlace: async () => {},
    },
    limits,
    scheduler: {
      get concurrency() {
        return concurrency;
      },
      setConcurrency: (n: number) => {
        concurrency = n;
      },
    },
    pending,
    options: { batchSize: 256, stabilityMs: 5_000 },
    rescan: () => (rescans += 1),
    recheck: () => (rescans += 1),
    holds: [],
    operatorPause: undefined,
  });
  return { c, store, pending, events, time, limits, rescans: () => rescans };
}

async function refusal(promise: Promise<unknown>): Promise<ControlRefusal> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ControlRefusal);
  return error as ControlRefusal;
}

describe('operator controls', () => {
  it('a cancel aborts a file in flight and holds it; refused once it is being placed', async () => {
    const { c, store } = controls();
    const job = c.track(candidate('/in/a'));
    const hold = await c.cancel(pendingId('/in/a'), 'CN=admin');
    expect(job.controller.signal.aborted).toBe(true);
    expect(job.cancelled).toBe(true);
    expect(hold).toMatchObject({ source: '/in/a', reason: 'cancelled', actor: 'CN=admin' });
    expect(c.isHeld('/in/a')).toBe(true);
    expect((await refusal(c.cancel(pendingId('/in/a'), 'CN=admin'))).refusal).toBe('conflict');
    expect(await store.holds()).toHaveLength(1);

    const placing = c.track(candidate('/in/b'));
    placing.placing = true;
    const r = await refusal(c.cancel(pendingId('/in/b'), 'CN=admin'));
    expect(r.message).toMatch(/already being placed/);
    expect(placing.controller.signal.aborted).toBe(false);
    expect(c.isHeld('/in/b')).toBe(false);
    expect((await refusal(c.cancel(pendingId('/in/zzz'), 'CN=admin'))).refusal).toBe('not-found');
  });

  it('holds a pending file, lists why, and releases it', async () => {
    const backoff: Backoff = {
      path: '/in/b',
      attempts: 2,
      failedAt: 900,
      until: 5_000,
      error: 'EIO: i/o error',
      code: 'EIO',
    };
    const { c, pending, rescans } = controls([backoff]);
    pending.set({
      path: '/in/p',
      relPath: 'p',
      tracked: { identity, stableSince: -2_000, observedAt: 1_000 },
      dueAt: 3_000,
    });
    let listed = c.pendingFiles(10);
    expect(listed.files.map((f) => [f.source, f.reason, f.why])).toEqual([
      [
        '/in/b',
        'backoff',
        'retry at 1970-01-01T00:00:05.000Z after EIO (attempt 2): EIO: i/o error',
      ],
      ['/in/p', 'stabilizing', 'stable for 3.0 of 5 s'],
    ]);
    expect(c.pendingFiles(1)).toMatchObject({ total: 2 });
    expect((await refusal(c.cancel(pendingId('/in/p'), 'CN=a'))).message).toMatch(/hold it/);
    await c.hold(pendingId('/in/p'), 'CN=a');
    listed = c.pendingFiles(10);
    expect(listed.files[0]).toMatchObject({ source: '/in/p', reason: 'held' });
    await c.release(pendingId('/in/p'), 'CN=a');
    expect(c.isHeld('/in/p')).toBe(false);
    expect(rescans()).toBe(1);
    expect((await refusal(c.release(pendingId('/in/p'), 'CN=a'))).refusal).toBe('not-found');
    expect(await c.retry(pendingId('/in/b'), 'CN=a')).toMatchObject({ source: '/in/b' });
  });

  it("the operator's pause: kept, refused twice, and a stop ends the wait for it", async () => {
    const { c, store, limits } = controls();
    await c.pause('CN=a');
    expect(await store.readSetting('operator-pause')).toBe('{"by":"CN=a","since":1000}');
    expect((await refusal(c.pause('CN=a'))).refusal).toBe('conflict');
    const waiting = c.whenResumed();
    c.stop();
    await expect(waiting).rejects.toMatchObject({ code: 'INGEST_ERR_STOPPING' });
    await c.resume('CN=a');
    expect(await store.readSetting('operator-pause')).toBeUndefined();
    await expect(c.whenResumed()).resolves.toBeUndefined();
    c.setLimits({ concurrency: 2, maxBytesPerSecond: 1024 ** 2 }, 'CN=a');
    expect(limits.view()).toMatchObject({ maxBytesPerSecond: 1024 ** 2 });
    const journal = (await store.eventsAfter(undefined, 10)).events.map((e) => e.type);
    expect(journal).toEqual(['paused', 'resumed', 'limits']);
    expect((await refusal(c.retry('42', 'CN=a'))).refusal).toBe('not-found');
  });

  it('a hold, cancel or release by a row id: 404 unknown, else 409 saying what the file is', async () => {
    const { c, store } = controls();
    const ingest = {
      sha256: 'a'.repeat(64),
      source: '/in/done.csv',
      identity,
      sidecar: null,
      completedAt: 500,
      hashMs: 1,
    };
    const [claimed] = await store.claim([ingest], 600, {
      partition: '/wh/ingest_date=2026-01-01',
      duplicates: null,
      manifest: '/m',
    });
    if (claimed?.outcome !== 'ingest') throw new Error(claimed?.outcome);
    const id = claimed.row.id;
    await store.finish([{ id, status: 'committed' }], 700);
    for (const action of ['hold', 'cancel', 'release'] as const) {
      const r = await refusal(c[action](String(id), 'CN=a'));
      expect(r.refusal).toBe('conflict');
      expect(r.message).toBe(
        `file ${id} (/in/done.csv) is ingested, not pending: ${action} takes ${TAKES[action]}, by its pending id (GET /v1/pending lists them)`,
      );
      expect((await refusal(c[action]('999', 'CN=a'))).message).toBe('no file has the id 999');
    }
    const retry = await refusal(c.retry(String(id), 'CN=a'));
    expect(retry.message).toMatch(/is ingested: only a quarantined file, or one that failed/);
  });

  it('retry: a row id answered as a number; a copy gone from quarantine is said so, in bulk too', async () => {
    const { c, store } = controls();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oc-q-'));
    const quarantine = async (name: string) => {
      const dest = path.join(dir, '_quarantine', name);
      fs.mkdirSync(path.dirname(dest), { recursive: true });
      fs.writeFileSync(dest, name);
      const row = await store.recordQuarantine(
        {
          source: path.join(dir, 'in', name),
          identity,
          sha256: '',
          dest,
          sidecar: null,
          error: 'EACCES',
        },
        500,
      );
      await store.finish([{ id: row.id, status: 'committed' }], 600);
      return { id: row.id, dest };
    };
    const kept = await quarantine('kept.csv');
    const done = await c.retry(String(kept.id), 'CN=a');
    expect(done).toEqual({
      id: kept.id,
      source: path.join(dir, 'in', 'kept.csv'),
      restoredTo: path.join(dir, 'in', 'kept.csv'),
    });

    const gone = await quarantine('gone.csv');
    fs.unlinkSync(gone.dest);
    const r = await refusal(c.retry(String(gone.id), 'CN=a'));
    expect(r.refusal).toBe('conflict');
    expect(r.message).toBe(
      `file ${gone.id} cannot be retried: its quarantined copy ${gone.dest} is gone (removed from quarantine by someone), so there is nothing to put back; to ingest it, write the file into the input again`,
    );
    const other = await quarantine('other.csv');
    expect(await c.retryMany({}, 'CN=a')).toEqual({
      retried: 1,
      failed: 1,
      failures: [{ id: gone.id, source: path.join(dir, 'in', 'gone.csv'), reason: r.message }],
    });
    expect(fs.existsSync(path.join(dir, 'in', 'other.csv'))).toBe(true);
    expect(other.id).toBeGreaterThan(gone.id);
  });

  it('counts the files held and those backing off', async () => {
    const backoff = (p: string, until: number): Backoff => ({
      path: p,
      attempts: 1,
      failedAt: 900,
      until,
      error: 'EIO',
      code: 'EIO',
    });
    const { c, pending } = controls([backoff('/in/b', 5_000), backoff('/in/due', 1_000)]);
    pending.set({
      path: '/in/p',
      relPath: 'p',
      tracked: { identity, stableSince: 0, observedAt: 1_000 },
      dueAt: 3_000,
    });
    expect(c.waitingCounts()).toEqual({ held: 0, backoff: 1 });
    await c.hold(pendingId('/in/p'), 'CN=a');
    expect(c.waitingCounts()).toEqual({ held: 1, backoff: 1 });
  });

  it('lets go of a hold whose file is gone from the input for a minute, over two scans, and journals it', async () => {
    const { c, store, pending, events, time } = controls();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oc-in-'));
    const file = path.join(dir, 'held.csv');
    fs.writeFileSync(file, 'x');
    pending.set({
      path: file,
      relPath: 'held.csv',
      tracked: { identity, stableSince: 0, observedAt: 1_000 },
      dueAt: 3_000,
    });
    await c.hold(pendingId(file), 'CN=a');
    events.emit('scan:done', { files: 1, ms: 1, complete: 0, pending: 0 });
    await new Promise((r) => setTimeout(r, 50));
    expect([...c.holds()]).toHaveLength(1); // still there: kept
    fs.rmSync(file);
    // Gone at one scan: kept (a file moved aside and back, an input remounted for a moment).
    events.emit('scan:done', { files: 0, ms: 1, complete: 0, pending: 0 });
    await new Promise((r) => setTimeout(r, 50));
    expect([...c.holds()]).toHaveLength(1);
    // Still gone at a scan a minute later: let go.
    time.now += 60_000;
    const released = new Promise((r) => events.once('file:released', r));
    events.emit('scan:done', { files: 0, ms: 1, complete: 0, pending: 0 });
    await released;
    expect([...c.holds()]).toEqual([]);
    expect(await store.holds()).toEqual([]);
    const journal = (await store.eventsAfter(undefined, 10)).events;
    expect(journal.at(-1)).toMatchObject({
      type: 'released',
      event: { actor: null, detail: { reason: 'vanished' } },
    });
  });
});
