import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SqliteThreadStore } from '../../src/state/sqlite-thread.js';
import type { ClaimInput, StateStore } from '../../src/state/store.js';

const dir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'st-thread-'));
const input = (sha: string, source: string | Buffer): ClaimInput => ({
  sha256: sha.repeat(64),
  source,
  identity: { device: 1, inode: 2, size: 3, mtimeMs: 4.5 },
  sidecar: null,
  completedAt: 1,
  hashMs: 1,
  tmp: null,
});

async function all<T>(rows: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const row of rows) out.push(row);
  return out;
}

describe('SQLite state on a thread of its own', () => {
  it('is the built thread, and places, claims and lists as the store on this thread does', async () => {
    const root = dir();
    const store: StateStore = await SqliteThreadStore.open(path.join(root, 'state.db'));
    expect(store).toBeInstanceOf(SqliteThreadStore);
    const plan = { partition: path.join(root, 'wh'), duplicates: null, manifest: '/m' };
    // A name whose bytes are not UTF-8 crosses the threads as bytes, both ways.
    const odd = Buffer.from([0x2f, 0x69, 0x6e, 0x2f, 0xff, 0x2e, 0x63, 0x73, 0x76]); // /in/\xff.csv
    const [first] = await store.claim([input('a', odd)], 100, plan);
    if (first?.outcome !== 'ingest') throw new Error(`expected an ingest, got ${first?.outcome}`);
    expect(Buffer.isBuffer(first.row.source)).toBe(true);
    expect(first.row.source).toEqual(odd);
    expect(Buffer.isBuffer(first.row.dest)).toBe(true);
    await store.finish([{ id: first.row.id, status: 'committed' }], 101);
    const [dup] = await store.claim([input('a', '/in/again.csv')], 102, plan);
    expect(dup?.outcome).toBe('duplicate');
    if (dup?.outcome === 'duplicate') expect(dup.row.dest).toBe(''); // duplicates deleted
    expect((await store.openIntents()).map((r) => r.source)).toEqual(['/in/again.csv']);
    expect((await all(store.history({}))).map((r) => r.id)).toEqual([2, 1]);
    expect((await all(store.rows())).map((r) => r.id)).toEqual([1, 2]);
    await store.close();
  });

  it('pages through more rows than one page holds, in order, both ways', async () => {
    const root = dir();
    const store = await SqliteThreadStore.open(path.join(root, 'state.db'));
    const plan = { partition: path.join(root, 'wh'), duplicates: null, manifest: '/m' };
    const inputs = Array.from({ length: 1234 }, (_, i) => ({
      ...input('0', `/in/${i}.csv`),
      sha256: i.toString(16).padStart(64, '0'),
    }));
    await store.claim(inputs, 1, plan);
    const ids = (await all(store.rows())).map((r) => r.id);
    expect(ids).toEqual(Array.from({ length: 1234 }, (_, i) => i + 1));
    const newest = (await all(store.history({}))).map((r) => r.id);
    expect(newest).toEqual([...ids].reverse());
    await store.close();
  });

  it('a thread that stops fails the calls waiting on it as a state failure; the next call opens it again', async () => {
    const root = dir();
    const store = (await SqliteThreadStore.open(path.join(root, 'state.db'))) as SqliteThreadStore;
    const plan = { partition: path.join(root, 'wh'), duplicates: null, manifest: '/m' };
    await store.claim([input('c', '/in/c.csv')], 1, plan);
    const dying = store.thread!;
    // A claim of 50,000 files keeps the thread busy long enough for it to stop mid-call.
    const many = Array.from({ length: 50_000 }, (_, i) => ({
      ...input('0', `/in/${i}.csv`),
      sha256: (i + 1).toString(16).padStart(64, '1'),
    }));
    const waiting = store.claim(many, 2, plan);
    await dying.terminate();
    await expect(waiting).rejects.toMatchObject({ code: 'INGEST_ERR_STATE' });
    // The intent was durable before the thread stopped: a new thread reads it.
    expect((await store.openIntents()).map((r) => r.source)).toEqual(['/in/c.csv']);
    expect(store.thread).not.toBe(dying);
    await store.close();
  });

  it('a state that cannot be opened is refused as on this thread, and no thread is left', async () => {
    const root = dir();
    fs.writeFileSync(path.join(root, 'state.db'), 'not a database, not at all: '.repeat(200));
    await expect(SqliteThreadStore.open(path.join(root, 'state.db'))).rejects.toMatchObject({
      code: 'INGEST_ERR_STATE',
    });
  });
});
