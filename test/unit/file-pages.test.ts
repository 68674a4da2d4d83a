import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ApiError } from '../../src/api/errors.js';
import { decodeCursor, encodeCursor, filesPage } from '../../src/api/file-pages.js';
import type { ScanBounds } from '../../src/api/file-pages.js';
import { SqliteStateStore } from '../../src/state/sqlite-async.js';
import { openSqliteState } from '../../src/state/sqlite-store.js';
import type { ClaimInput, HistoryFilter, StateReader } from '../../src/state/store.js';

/** A state of `n` committed ingests; every `rareEvery`-th source holds `rare%_`. */
function stateOf(n: number, rareEvery: number): SqliteStateStore {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'pages-')), 'state.db');
  const sync = openSqliteState(file);
  const inputs: ClaimInput[] = Array.from({ length: n }, (_, i) => ({
    sha256: (i + 1).toString(16).padStart(64, '0'),
    source: (i + 1) % rareEvery === 0 ? `/in/rare%_${i + 1}.csv` : `/in/file-${i + 1}.csv`,
    identity: { device: 1, inode: i + 1, size: 10, mtimeMs: 1 },
    sidecar: null,
    completedAt: 1,
    hashMs: 1,
  }));
  const rows = sync.claim(inputs, 1_000, (i) => ({
    dest: `/wh/${String(i.source)}`,
    tmp: null,
    manifest: '/m',
  }));
  sync.finish(
    rows.map((r) => ({ id: r.outcome === 'ingest' ? r.row.id : -1, status: 'committed' as const })),
    2_000,
  );
  return new SqliteStateStore(sync);
}

/** Every page from the newest on, as ids, with how many rows each page had. */
async function walk(
  state: StateReader,
  filter: HistoryFilter,
  limit: number,
  bounds?: ScanBounds,
): Promise<{ ids: number[]; sizes: number[] }> {
  const ids: number[] = [];
  const sizes: number[] = [];
  let below: number | undefined;
  for (let pages = 0; pages < 10_000; pages++) {
    const page = await filesPage(state, filter, limit, below, bounds);
    ids.push(...page.rows.map((r) => r.id));
    sizes.push(page.rows.length);
    if (page.next === undefined) return { ids, sizes };
    // A cursor goes through its string form, as a client sees it.
    below = decodeCursor(encodeCursor(page.next));
  }
  throw new Error('never ended');
}

describe('pages of /v1/files', () => {
  it('walks every row once, newest first, whatever the page size', async () => {
    const state = stateOf(250, 10);
    const all = Array.from({ length: 250 }, (_, i) => 250 - i);
    for (const limit of [1, 7, 50, 250, 1000]) {
      expect((await walk(state, {}, limit)).ids, `limit ${limit}`).toEqual(all);
    }
    await state.close();
  });

  it('reads a rare match a window at a time: short pages with a cursor, the same rows', async () => {
    const state = stateOf(250, 17);
    const rare = Array.from({ length: 14 }, (_, i) => 238 - i * 17);
    const filter = { sourceContains: 'rare%_' };
    // Small bounds: at most 30 ids per request, 7 per call of the state.
    const bounded = await walk(state, filter, 5, { windowIds: 7, maxIds: 30 });
    expect(bounded.ids).toEqual(rare);
    expect(bounded.sizes.some((n) => n > 0 && n < 5)).toBe(true);
    expect(bounded.sizes.length).toBeGreaterThanOrEqual(Math.ceil(250 / 35));
    expect((await walk(state, filter, 5)).ids).toEqual(rare);
    // % and _ are the path's own characters, not wildcards.
    expect((await walk(state, { sourceContains: 'rare%' }, 100)).ids).toEqual(rare);
    expect((await walk(state, { sourceContains: 'e%_1' }, 100)).ids).toEqual([
      187, 170, 153, 136, 119, 102, 17,
    ]);
    expect((await walk(state, { sourceContains: 'file_' }, 100)).ids).toEqual([]);
    await state.close();
  });

  it('an empty state is one empty page; a cursor past the start ends', async () => {
    const state = stateOf(0, 1);
    expect(await filesPage(state, {}, 50, undefined)).toEqual({ rows: [], next: undefined });
    await state.close();
    const some = stateOf(3, 100);
    expect(await filesPage(some, {}, 50, 1)).toEqual({ rows: [], next: undefined });
    const last = await filesPage(some, {}, 3, undefined);
    expect([last.rows.map((r) => r.id), last.next]).toEqual([[3, 2, 1], undefined]);
    await some.close();
  });
});

describe('cursors', () => {
  it('round-trip, and anything else is a 400 naming cursor', () => {
    for (const id of [1, 2, 1234567, Number.MAX_SAFE_INTEGER]) {
      expect(decodeCursor(encodeCursor(id))).toBe(id);
    }
    const bad = [
      '',
      'abc',
      encodeCursor(0),
      Buffer.from('below:-1').toString('base64url'),
      Buffer.from('below:99999999999999999').toString('base64url'),
    ];
    for (const cursor of bad) {
      let error: unknown;
      try {
        decodeCursor(cursor);
      } catch (e) {
        error = e;
      }
      expect(error, cursor).toBeInstanceOf(ApiError);
      expect((error as ApiError).code).toBe('API_ERR_BAD_PARAMETER');
      expect((error as ApiError).message).toMatch(/^cursor /);
    }
  });
});
