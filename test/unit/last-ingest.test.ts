import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openSqliteState } from '../../src/state/sqlite-store.js';
import type { ClaimInput } from '../../src/state/store.js';

const statePath = () => path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'st-')), 'state.db');
const input = (sha: string, source: string): ClaimInput => ({
  sha256: sha.repeat(64),
  source,
  identity: { device: 1, inode: 2, size: 3, mtimeMs: 4.5 },
  sidecar: null,
  completedAt: 1,
  hashMs: 1,
});
const place = (i: ClaimInput) => ({ dest: `/wh/${String(i.source)}`, tmp: null, manifest: '/m' });

describe('lastIngestAt', () => {
  it('is the commit time of the newest committed ingest: not intents, aborts or duplicates', () => {
    const store = openSqliteState(statePath());
    expect(store.lastIngestAt()).toBeUndefined();
    const claim = (sha: string, source: string, at: number) =>
      store.claim([input(sha, source)], at, place)[0]!;
    const first = claim('a', 'x', 100);
    if (first.outcome !== 'ingest') throw new Error('expected an ingest');
    expect(store.lastIngestAt()).toBeUndefined(); // an intent is not an ingest yet
    store.finish([{ id: first.row.id, status: 'committed' }], 110);
    expect(store.lastIngestAt()).toBe(110);
    const dup = claim('a', 'y', 120);
    if (dup.outcome !== 'duplicate') throw new Error('expected a duplicate');
    store.finish([{ id: dup.row.id, status: 'committed' }], 130);
    const aborted = claim('b', 'z', 140);
    if (aborted.outcome !== 'ingest') throw new Error('expected an ingest');
    store.finish([{ id: aborted.row.id, status: 'aborted', error: 'rolled back' }], 150);
    expect(store.lastIngestAt()).toBe(110);
    const second = claim('c', 'w', 160);
    if (second.outcome !== 'ingest') throw new Error('expected an ingest');
    store.finish([{ id: second.row.id, status: 'committed' }], 170);
    expect(store.lastIngestAt()).toBe(170);
    store.close();
  });
});
