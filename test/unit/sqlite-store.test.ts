import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { StateLock } from '../../src/state/lock.js';
import { MIGRATIONS } from '../../src/state/schema.js';
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

describe('SQLite state', () => {
  it('claims new content as an ingest, committed content as a duplicate, in-flight as busy', () => {
    const store = openSqliteState(statePath());
    const [first] = store.claim([input('a', 'x')], 100, place);
    expect(first!.outcome).toBe('ingest');
    // While the first is an intent, the same content elsewhere must wait.
    expect(store.claim([input('a', 'y')], 101, place)[0]!.outcome).toBe('busy');
    if (first!.outcome !== 'ingest') throw new Error('unreachable');
    store.finish([{ id: first.row.id, status: 'committed' }], 102);
    const [dup] = store.claim([input('a', 'y')], 103, place);
    expect(dup!.outcome).toBe('duplicate');
    if (dup!.outcome === 'duplicate') expect(dup.original.source).toBe('x');
    expect(store.openIntents().map((r) => r.source)).toEqual(['y']);
    store.close();
  });

  it('two files with the same content in one batch: one ingest, one busy', () => {
    const store = openSqliteState(statePath());
    const results = store.claim([input('b', 'x'), input('b', 'y')], 1, place);
    expect(results.map((r) => r.outcome)).toEqual(['ingest', 'busy']);
    store.close();
  });

  it('finishes a batch of mixed outcomes row by row correctly', () => {
    const store = openSqliteState(statePath());
    const rows = store
      .claim(
        ['1', '2', '3', '4', '5'].map((c) => input(c, `f${c}`)),
        1,
        place,
      )
      .map((r) => (r.outcome === 'ingest' ? r.row.id : -1));
    store.finish(
      [
        { id: rows[0]!, status: 'committed' },
        { id: rows[1]!, status: 'committed' },
        { id: rows[2]!, status: 'aborted', error: 'x' },
        { id: rows[3]!, status: 'committed' },
        { id: rows[4]!, status: 'vanished' },
      ],
      2,
    );
    const status = (id: number) => store.getRow(id)!.status;
    expect(rows.map(status)).toEqual([
      'committed',
      'committed',
      'aborted',
      'committed',
      'vanished',
    ]);
    expect(store.getRow(rows[2]!)!.error).toBe('x');
    expect(store.getRow(rows[0]!)!.committedAt).toBe(2);
    store.close();
  });

  it('rolled-back content can be claimed again', () => {
    const store = openSqliteState(statePath());
    const [r] = store.claim([input('c', 'x')], 1, place);
    if (r!.outcome !== 'ingest') throw new Error('expected ingest');
    store.finish([{ id: r.row.id, status: 'aborted' }], 2);
    expect(store.claim([input('c', 'x')], 3, place)[0]!.outcome).toBe('ingest');
    store.close();
  });

  it('a commit leaves the content index alone; aborted and vanished content is free again', () => {
    const store = openSqliteState(statePath());
    const results = store.claim(
      ['d', 'e', 'f'].map((c) => input(c, c)),
      1,
      place,
    );
    const ids = results.map((r) => (r.outcome === 'ingest' ? r.row.id : -1));
    store.finish(
      [
        { id: ids[0]!, status: 'committed' },
        { id: ids[1]!, status: 'aborted', error: 'x' },
        { id: ids[2]!, status: 'vanished' },
      ],
      2,
    );
    const live = store.db
      .prepare('SELECT live_sha256 AS h FROM files ORDER BY id')
      .all()
      .map((r) => (r as { h: Buffer | null }).h?.toString('hex') ?? null);
    expect(live).toEqual(['d'.repeat(64), null, null]);
    const again = store.claim(
      ['d', 'e', 'f'].map((c) => input(c, `${c}2`)),
      3,
      place,
    );
    expect(again.map((r) => r.outcome)).toEqual(['duplicate', 'ingest', 'ingest']);
    // A second live ingest of the same content is refused by the database itself.
    expect(() =>
      store.db
        .prepare(
          `INSERT INTO files (kind, status, sha256, live_sha256, source, dest, device, inode, size,
             mtime_ms, intent_at) VALUES ('ingest', 'intent', ?, unhex(?), x'00', x'00', 1, 1, 1, 1, 1)`,
        )
        .run('d'.repeat(64), 'd'.repeat(64)),
    ).toThrow(/UNIQUE constraint failed/);
    store.close();
  });

  it('migrates a version 1 state: live ingests keep their content, the rest are free', () => {
    const p = statePath();
    const v1 = new Database(p);
    v1.exec(MIGRATIONS[0]!);
    v1.pragma('user_version = 1');
    const insert = v1.prepare(
      `INSERT INTO files (kind, status, sha256, source, dest, device, inode, size, mtime_ms,
         intent_at) VALUES (?, ?, ?, x'00', x'00', 1, 1, 1, 1, 1)`,
    );
    insert.run('ingest', 'committed', 'a'.repeat(64));
    insert.run('ingest', 'intent', 'b'.repeat(64));
    insert.run('ingest', 'aborted', 'c'.repeat(64));
    insert.run('duplicate', 'committed', 'a'.repeat(64));
    v1.close();
    const store = openSqliteState(p);
    expect(store.db.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length);
    expect(store.findContent('a'.repeat(64))?.status).toBe('committed');
    expect(store.findContent('b'.repeat(64))?.status).toBe('intent');
    expect(store.findContent('c'.repeat(64))).toBeUndefined();
    const results = store.claim([input('a', 'n'), input('c', 'm')], 2, place);
    expect(results.map((r) => r.outcome)).toEqual(['duplicate', 'ingest']);
    store.close();
  });

  it('keeps paths that are not UTF-8 byte for byte', () => {
    const store = openSqliteState(statePath());
    const raw = Buffer.from([0x2f, 0xff, 0x41]);
    store.claim([{ ...input('d', 'x'), source: raw }], 1, () => ({
      dest: raw,
      tmp: null,
      manifest: null,
    }));
    expect(store.openIntents()[0]!.source).toEqual(raw);
    store.close();
  });

  it('is in WAL mode with full synchronous commits, and reopens at the same version', () => {
    const p = statePath();
    const store = openSqliteState(p);
    expect(store.db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(store.db.pragma('synchronous', { simple: true })).toBe(2);
    store.close();
    const again = openSqliteState(p);
    expect(again.db.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length);
    again.close();
  });

  it('refuses a file that is not a state database, naming it', () => {
    const p = statePath();
    fs.writeFileSync(p, 'this is not sqlite, just text that is long enough to be read'.repeat(20));
    expect(() => openSqliteState(p)).toThrow(/state database .*state\.db/);
  });

  it('lets only one holder take the lock, and frees it on release', () => {
    const p = statePath();
    const lock = StateLock.acquire(p);
    expect(() => StateLock.acquire(p)).toThrow(/another ingestor \(pid \d+\) is running/);
    lock.release();
    StateLock.acquire(p).release();
  });
});

/** A file of 40 bytes quarantined (its row committed) at 10. */
function quarantine(store: ReturnType<typeof openSqliteState>) {
  const q = store.recordQuarantine(
    {
      sha256: '',
      source: 'e',
      dest: '/q/e',
      sidecar: null,
      identity: { device: 1, inode: 3, size: 40, mtimeMs: 1 },
      error: 'bad',
    },
    10,
  );
  store.finish([{ id: q.id, status: 'committed' }], 10);
  return q;
}

describe('the totals kept as rows change', () => {
  /** What a fresh count of the rows says: another store on the same file, never asked before. */
  const counted = (file: string) => {
    const fresh = openSqliteState(file, { readonly: true });
    try {
      return fresh.totals();
    } finally {
      fresh.close();
    }
  };

  it('equal a count of the rows after claims, commits, aborts, quarantines and releases', () => {
    const file = statePath();
    const store = openSqliteState(file);
    expect(store.totals()).toMatchObject({ ingestedFiles: 0, inFlight: 0 }); // the tally starts
    const sized = (sha: string, source: string, size: number): ClaimInput => ({
      ...input(sha, source),
      identity: { device: 1, inode: 2, size, mtimeMs: 4.5 },
    });
    const ids = store
      .claim([sized('1', 'a', 10), sized('2', 'b', 20), sized('3', 'c', 30)], 5, place)
      .map((r) => (r.outcome === 'ingest' ? r.row.id : -1));
    expect(store.totals()).toMatchObject({ inFlight: 3, ingestedFiles: 0 });
    store.finish(
      [
        { id: ids[0]!, status: 'committed' },
        { id: ids[1]!, status: 'committed' },
        { id: ids[2]!, status: 'aborted', error: 'x' },
      ],
      7,
    );
    const [dup] = store.claim([sized('1', 'd', 10)], 8, place);
    store.finish([{ id: dup!.outcome === 'duplicate' ? dup!.row.id : -1, status: 'committed' }], 9);
    const q = quarantine(store);
    expect(store.totals()).toEqual(counted(file));
    expect(store.totals()).toMatchObject({
      ingestedFiles: 2,
      ingestedBytes: 30,
      lastIngestAt: 7,
      duplicates: 1,
      duplicateBytes: 10,
      quarantined: 1,
      inFlight: 0,
      aborted: 1,
    });
    store.release(q.id, 11);
    expect(store.totals()).toEqual(counted(file));
    expect(store.totals().quarantined).toBe(0);
    store.close();
  });

  it('are counted again when another process wrote the state (ingestor retry beside the daemon)', () => {
    const file = statePath();
    const store = openSqliteState(file);
    const q = quarantine(store);
    expect(store.totals().quarantined).toBe(1);
    const other = new Database(file);
    other.prepare(`UPDATE files SET status = 'released' WHERE id = ?`).run(q.id);
    other.close();
    expect(store.totals().quarantined).toBe(0);
    store.close();
  });
});

describe('closed hours in the SQLite state (schema v4)', () => {
  const H = Date.UTC(2030, 0, 1, 10);
  const HOUR = 3_600_000;
  const closed = (hour: number, lines = 0) => ({
    hour,
    manifest: `/mf/${hour}/manifest.jsonl`,
    lines,
    bytes: lines * 10,
    sha256: 'e'.repeat(64),
    closedAt: hour + HOUR + 1000,
  });

  it('records the first hour once, at the first start that closes hours', () => {
    const p = statePath();
    const store = openSqliteState(p);
    expect(store.hours.hourMarks()).toEqual({ firstHour: undefined, closedThrough: undefined });
    expect(store.hours.beginHours(H, H + 5)).toEqual({ firstHour: H, closedThrough: undefined });
    store.close();
    const again = openSqliteState(p);
    // A later start keeps the first hour: hours after it close, none before.
    expect(again.hours.beginHours(H + 5 * HOUR, H + 5 * HOUR)).toEqual({
      firstHour: H,
      closedThrough: undefined,
    });
    again.close();
  });

  it('closes hours in order only, each with its journal event in the same transaction', () => {
    const store = openSqliteState(statePath());
    expect(() => store.hours.closeHour(closed(H))).toThrow(/no daemon began closing hours/);
    store.hours.beginHours(H, H);
    expect(() => store.hours.closeHour(closed(H + HOUR))).toThrow(
      /next hour to close is 2030-01-01T10:00:00Z/,
    );
    expect(store.journal.eventsAfter(undefined, 10).events).toEqual([]);
    store.hours.closeHour(closed(H, 3));
    expect(() => store.hours.closeHour(closed(H, 3))).toThrow(/next hour to close is .*T11:00/);
    store.hours.closeHour(closed(H + HOUR));
    expect(store.hours.hourMarks()).toEqual({ firstHour: H, closedThrough: H + HOUR });
    expect(store.hours.closedHours()).toEqual([closed(H, 3), closed(H + HOUR)]);
    const events = store.journal.eventsAfter(undefined, 10).events;
    expect(events.map((e) => e.kind === 'journal' && e.event.type)).toEqual([
      'manifest-closed',
      'manifest-closed',
    ]);
    expect(events[0]).toMatchObject({
      at: H + HOUR + 1000,
      event: {
        fileId: null,
        source: null,
        actor: null,
        detail: {
          hour: '2030-01-01T10:00:00Z',
          manifest: `/mf/${H}/manifest.jsonl`,
          lines: 3,
          bytes: 30,
          sha256: 'e'.repeat(64),
        },
      },
    });
    store.close();
  });

  it('knows the oldest open intent that will write a line (duplicates write none)', () => {
    const store = openSqliteState(statePath());
    expect(store.hours.earliestOpenLineAt()).toBeUndefined();
    const [a] = store.claim([input('a', 'x')], H + 10, place);
    store.claim([input('b', 'y')], H + 20, place);
    expect(store.hours.earliestOpenLineAt()).toBe(H + 10);
    store.finish([{ id: a!.outcome === 'ingest' ? a.row.id : -1, status: 'committed' }], H + 30);
    expect(store.hours.earliestOpenLineAt()).toBe(H + 20);
    const noLine = (i: ClaimInput) => ({
      dest: `/d/${String(i.source)}`,
      tmp: null,
      manifest: null,
    });
    store.claim([input('a', 'z')], H - 99, noLine); // a duplicate: no manifest line
    expect(store.hours.earliestOpenLineAt()).toBe(H + 20);
    store.close();
  });

  it('migrates a version 3 state to closed hours: none closed, no first hour yet', () => {
    const p = statePath();
    const v3 = new Database(p);
    for (const m of MIGRATIONS.slice(0, 3)) v3.exec(m);
    v3.pragma('user_version = 3');
    v3.close();
    const store = openSqliteState(p);
    // Through every migration since (v5: the webhooks' outbox).
    expect(store.db.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length);
    expect(store.outbox.deliveries({ limit: 10 })).toEqual([]);
    expect(store.hours.hourMarks()).toEqual({ firstHour: undefined, closedThrough: undefined });
    expect(store.hours.closedHours()).toEqual([]);
    store.close();
  });
});
