import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openSqliteState } from '../../src/state/sqlite-store.js';
import type { ClaimInput } from '../../src/state/store.js';
import { describeNoMatch, formatListed, list } from '../../src/commands/list.js';

const input = (sha: string, source: string, size = 3): ClaimInput => ({
  sha256: sha,
  source,
  identity: { device: 1, inode: 2, size, mtimeMs: 4.5 },
  sidecar: null,
  completedAt: 1000,
  hashMs: 1,
});

/** Three ingests and two duplicates of the first, committed. */
function history(): string {
  const statePath = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'list-')), 'state.db');
  const store = openSqliteState(statePath);
  const a = 'a1b2c3'.padEnd(64, '0');
  const b = 'b'.repeat(64);
  const c = 'a1b2c4'.padEnd(64, '0');
  const placed = (dir: string) => (i: ClaimInput) => ({
    dest: `/wh/${dir}/${path.basename(String(i.source))}`,
    tmp: null,
    manifest: '/m',
  });
  let at = 2000;
  for (const [sha, source] of [
    [a, '/in/orders/one.csv'],
    [b, '/in/orders/two.json'],
    [c, '/in/other/three.csv'],
  ] as const) {
    const [r] = store.claim([input(sha, source)], at, placed('ingest_date=2026-01-01'));
    if (r!.outcome !== 'ingest') throw new Error(r!.outcome);
    store.finish([{ id: r!.row.id, status: 'committed' }], at + 1);
    at += 1000;
  }
  for (const source of ['/in/again/one.csv', '/in/again/one-more.csv']) {
    const [r] = store.claim([input(a, source)], at, placed('_duplicates/2026-01-01'));
    if (r!.outcome !== 'duplicate') throw new Error(r!.outcome);
    store.finish([{ id: r!.row.id, status: 'committed' }], at + 1);
    at += 1000;
  }
  store.close();
  return statePath;
}

describe('list', () => {
  it('finds by content: a whole SHA-256 or a prefix, in any case', async () => {
    const state = history();
    const sources = async (sha256: string) =>
      (await list(state, { sha256, limit: 50 })).map((f) => path.basename(f.source));
    expect(await sources('A1B2C3')).toEqual(['one-more.csv', 'one.csv', 'one.csv']);
    expect(await sources('a1b2c4')).toEqual(['three.csv']);
    expect(await sources('b'.repeat(64))).toEqual(['two.json']);
    expect(await sources('b'.repeat(63) + 'c')).toEqual([]);
  });

  it('refuses a short or non-hex --sha256, naming the flag', async () => {
    const state = history();
    expect(() => list(state, { sha256: 'a1b2c', limit: 50 })).toThrow(/^--sha256 must be/);
    expect(() => list(state, { sha256: 'xyzxyz', limit: 50 })).toThrow(/got "xyzxyz"/);
  });

  it('finds by source path: a glob against the whole path or the bare name', async () => {
    const state = history();
    const sources = async (glob: string, limit = 50) =>
      (await list(state, { path: glob, limit })).map((f) => f.source);
    expect(await sources('*.json')).toEqual(['/in/orders/two.json']);
    expect(await sources('/in/orders/**')).toEqual(['/in/orders/two.json', '/in/orders/one.csv']);
    expect(await sources('**/again/*')).toEqual(['/in/again/one-more.csv', '/in/again/one.csv']);
    expect(await sources('one*.csv', 2)).toEqual(['/in/again/one-more.csv', '/in/again/one.csv']);
    expect(await sources('orders')).toEqual([]);
    expect(() => list(state, { path: '', limit: 50 })).toThrow(/^--path must be a glob/);
  });

  it('matches a relative glob with a / against any trailing part of the path, of whole names', async () => {
    const state = history();
    const sources = async (glob: string) =>
      (await list(state, { path: glob, limit: 50 })).map((f) => f.source);
    // The state keeps absolute paths and list does not know the input: `orders/*.csv` is what
    // `--exclude` would match in <input>/orders/, whatever the input was.
    expect(await sources('orders/*.csv')).toEqual(['/in/orders/one.csv']);
    expect(await sources('./orders/*.csv')).toEqual(['/in/orders/one.csv']);
    expect(await sources('in/orders/*')).toEqual(['/in/orders/two.json', '/in/orders/one.csv']);
    expect(await sources('again/one*.csv')).toEqual([
      '/in/again/one-more.csv',
      '/in/again/one.csv',
    ]);
    expect(await sources('rders/*.csv')).toEqual([]); // whole names only
    expect(await sources('orders/')).toEqual([]);
    // A glob from / is the whole path, as before.
    expect(await sources('/orders/*.csv')).toEqual([]);
    expect(await sources('/in/other/*.csv')).toEqual(['/in/other/three.csv']);
  });

  it('names the original of a duplicate, in JSON and in text', async () => {
    const state = history();
    const [dup] = await list(state, { status: 'duplicate', limit: 1 });
    expect(dup!.duplicateOf).toEqual({
      id: 1,
      source: '/in/orders/one.csv',
      dest: '/wh/ingest_date=2026-01-01/one.csv',
    });
    expect(formatListed(dup!)).toMatch(
      /^#5 +duplicate .* \/in\/again\/one-more\.csv {2}-> \/wh\/_duplicates\/2026-01-01\/one-more\.csv {2}sha256 a1b2c3000000 {2}3 B .* {2}same as #1 \/in\/orders\/one\.csv -> \/wh\/ingest_date=2026-01-01\/one\.csv$/,
    );
    const [ingest] = await list(state, { status: 'ingested', limit: 1 });
    expect(ingest!.duplicateOf).toBeNull();
  });

  it('says what it filtered on when nothing matches', async () => {
    expect(describeNoMatch({ limit: 50 })).toBe('no files recorded yet');
    expect(
      describeNoMatch({
        status: 'duplicate',
        since: Date.UTC(2026, 0, 1),
        path: '*.csv',
        limit: 5,
      }),
    ).toBe('no files match (status=duplicate, since=2026-01-01T00:00:00.000Z, path=*.csv)');
  });
});
