import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeEventCursor } from '../../src/state/sqlite-journal.js';
import { openSqliteState } from '../../src/state/sqlite-store.js';
import type { ClaimInput, NewJournalEvent } from '../../src/state/store.js';

const statePath = () => path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'jr-')), 'state.db');
const input = (sha: string, source: string): ClaimInput => ({
  sha256: sha.repeat(64),
  source,
  identity: { device: 1, inode: 2, size: 3, mtimeMs: 4.5 },
  sidecar: null,
  completedAt: 1,
  hashMs: 1,
});
const place = (i: ClaimInput) => ({ dest: `/wh/${String(i.source)}`, tmp: null, manifest: '/m' });
const event = (
  type: NewJournalEvent['type'],
  source: string | null,
  fileId: number | null = null,
) => ({ type, fileId, source, actor: 'CN=admin', detail: { n: 1 } }) satisfies NewJournalEvent;

describe('the journal (schema v3)', () => {
  it('replays durable events in commit order, each once, holding back rows behind an open intent', () => {
    const store = openSqliteState(statePath());
    const j = store.journal;
    const ids = store
      .claim([input('a', 'x'), input('b', 'y'), input('c', 'z')], 10, place)
      .map((r) => (r.outcome === 'ingest' ? r.row.id : -1));
    // The second batch's rows commit before the first's oldest: replay must not skip it.
    store.finish(
      [
        { id: ids[1]!, status: 'committed' },
        { id: ids[2]!, status: 'committed' },
      ],
      20,
    );
    j.recordEvents([event('failed', 'w')], 21);
    let page = j.eventsAfter(undefined, 10);
    expect(page.events.map((e) => e.type)).toEqual(['failed']);
    store.finish([{ id: ids[0]!, status: 'committed' }], 30);
    page = j.eventsAfter(page.cursor, 10);
    expect(page.events.map((e) => (e.kind === 'file' ? e.row.source : e.type))).toEqual([
      'x',
      'y',
      'z',
    ]);
    // Nothing new: the same cursor back, no events.
    const again = j.eventsAfter(page.cursor, 10);
    expect(again).toEqual({ events: [], cursor: page.cursor });
    // Each event's own cursor resumes right after it.
    const all = j.eventsAfter(undefined, 10).events;
    expect(j.eventsAfter(all[1]!.cursor, 10).events.map((e) => e.at)).toEqual(
      all.slice(2).map((e) => e.at),
    );
    expect(() => decodeEventCursor('../etc')).toThrow(TypeError);
    expect(() => j.eventsAfter('bm90LWEtY3Vyc29y', 10)).toThrow(TypeError);
    store.close();
  });

  it('gives the cursor of now, and replays from one cursor up to another', () => {
    const store = openSqliteState(statePath());
    const j = store.journal;
    const ids = store
      .claim([input('a', 'x'), input('b', 'y')], 10, place)
      .map((r) => (r.outcome === 'ingest' ? r.row.id : -1));
    // An open intent holds the cursor of now behind it, as it holds replay back.
    store.finish([{ id: ids[1]!, status: 'committed' }], 11);
    const before = j.eventsCursor();
    expect(decodeEventCursor(before)).toEqual({ fileId: ids[0]! - 1, eventId: 0 });
    store.finish([{ id: ids[0]!, status: 'committed' }], 12);
    j.recordEvents([event('failed', 'w')], 13);
    const middle = j.eventsCursor();
    expect(j.eventsAfter(middle, 10).events).toEqual([]);
    j.recordEvents([event('held', 'v')], 14);
    const [third] = store.claim([input('c', 'z')], 15, place);
    store.finish(
      [{ id: third!.outcome === 'ingest' ? third.row.id : -1, status: 'committed' }],
      16,
    );
    // From `before` up to `middle`: the two rows and the failure, nothing after.
    const upTo = j.eventsAfter(before, 10, middle);
    expect(upTo.events.map((e) => (e.kind === 'file' ? e.row.source : e.type))).toEqual([
      'x',
      'y',
      'failed',
    ]);
    expect(upTo.cursor).toBe(middle);
    // From `middle` on: what came after it.
    expect(
      j.eventsAfter(middle, 10).events.map((e) => (e.kind === 'file' ? e.row.source : e.type)),
    ).toEqual(['held', 'z']);
    store.close();
  });

  it("a file's events: its row's, and those under its source before it had one", () => {
    const store = openSqliteState(statePath());
    const j = store.journal;
    j.recordEvents([event('held', 'x'), event('released', 'x'), event('held', 'other')], 5);
    const [claimed] = store.claim([input('a', 'x')], 10, place);
    const id = claimed!.outcome === 'ingest' ? claimed.row.id : -1;
    store.finish([{ id, status: 'committed' }], 12);
    j.recordEvents([event('retried', null, id), event('held', 'x')], 50);
    const types = j.fileEvents(id, 'x', 12, 100).map((e) => [e.type, e.at]);
    expect(types).toEqual([
      ['held', 5],
      ['released', 5],
      ['retried', 50],
    ]);
    store.close();
  });

  it('holds and settings survive a reopen; pruning removes old events in batches', () => {
    const file = statePath();
    let store = openSqliteState(file);
    const identity = { device: 1, inode: 2, size: 3, mtimeMs: 4 };
    store.journal.hold(
      { source: 'x', identity, actor: 'CN=a', reason: 'cancelled', at: 7 },
      event('cancelled', 'x'),
    );
    store.journal.writeSetting(
      'operator-pause',
      '{"by":"CN=a","since":7}',
      event('paused', null),
      8,
    );
    for (let i = 0; i < 5; i += 1) store.journal.recordEvents([event('failed', 'y')], 100 + i);
    store.close();
    store = openSqliteState(file);
    expect(store.journal.holds()).toEqual([
      { source: 'x', identity, actor: 'CN=a', reason: 'cancelled', at: 7 },
    ]);
    expect(store.journal.readSetting('operator-pause')).toBe('{"by":"CN=a","since":7}');
    expect(store.journal.pruneEvents(103, 2)).toBe(2);
    expect(store.journal.pruneEvents(103, 2)).toBe(2);
    expect(store.journal.pruneEvents(103, 2)).toBe(1);
    expect(store.journal.eventsAfter(undefined, 10).events.map((e) => e.at)).toEqual([103, 104]);
    // Pruning everything keeps the newest: a new event's id stays above every cursor given.
    const cursor = store.journal.eventsCursor();
    expect(store.journal.pruneEvents(1_000, 10)).toBe(1);
    expect(store.journal.eventsAfter(undefined, 10).events.map((e) => e.at)).toEqual([104]);
    store.journal.recordEvents([event('failed', 'z')], 2_000);
    expect(store.journal.eventsAfter(cursor, 10).events.map((e) => e.at)).toEqual([2_000]);
    expect(store.journal.releaseHold('x', event('released', 'x'), 9)).toBe(true);
    expect(store.journal.releaseHold('x', event('released', 'x'), 9)).toBe(false);
    store.close();
  });
});
