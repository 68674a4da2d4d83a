import type pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { FsPath, RowKind, RowStatus } from '../../src/interfaces.js';
import type { Queryable } from '../../src/state/pg/connect.js';
import { createPool, inTransaction, migrate } from '../../src/state/pg/connect.js';
import { PgHours } from '../../src/state/pg/hours.js';
import { PgJournal, decodePgEventCursor, encodePgEventCursor } from '../../src/state/pg/journal.js';
import { PgOutbox } from '../../src/state/pg/outbox.js';
import type { DurableEvent, NewJournalEvent, OutboxMessage } from '../../src/state/store.js';
import { removeAllPostgres, startPostgres } from '../helpers/postgres.js';

let url: string;
let pool: pg.Pool;
let journal: PgJournal;
let outbox: PgOutbox;
let hours: PgHours;

beforeAll(async () => {
  ({ url } = await startPostgres());
  pool = createPool(url, () => {});
  await migrate(pool, false);
  journal = new PgJournal(pool);
  outbox = new PgOutbox(pool);
  hours = new PgHours(pool, journal, outbox);
});

afterAll(async () => {
  await pool?.end();
  removeAllPostgres();
});

beforeEach(async () => {
  await pool.query(
    `TRUNCATE files, events, holds, settings, closed_hours, webhook_outbox RESTART IDENTITY`,
  );
});

/** An intent row, as a claim (or a quarantine's intent) writes it; its id. */
async function intentRow(
  q: Queryable,
  source: string,
  at: number,
  kind: RowKind = 'ingest',
): Promise<number> {
  const { rows } = await q.query<{ id: number }>(
    `INSERT INTO files (kind, status, sha256, source, dest, manifest, device, inode, size,
       mtime_ms, intent_at)
     VALUES ($1, 'intent', $2, $3, $4, $5, 1, 2, 3, 4.5, $6) RETURNING id`,
    [
      kind,
      'a'.repeat(64),
      Buffer.from(source),
      Buffer.from(`/wh/${source}`),
      kind === 'ingest' ? '/m' : null,
      at,
    ],
  );
  return rows[0]!.id;
}

/** Settles a row as the store's finish does: in the transaction of `q`, which it records. */
async function settle(
  q: Queryable,
  id: number,
  at: number,
  status: Exclude<RowStatus, 'intent'> = 'committed',
): Promise<void> {
  await q.query(
    `UPDATE files SET status = $2, committed_at = $3, settled_xid = pg_current_xact_id()
     WHERE id = $1`,
    [id, status, at],
  );
}

/** A row claimed and committed at once, in a transaction of its own; its id. */
async function committedRow(source: string, at: number, kind: RowKind = 'ingest') {
  return inTransaction(pool, async (client) => {
    const id = await intentRow(client, source, at, kind);
    await settle(client, id, at);
    return id;
  });
}

const event = (
  type: NewJournalEvent['type'],
  source: FsPath | null,
  fileId: number | null = null,
) => ({ type, fileId, source, actor: 'CN=admin', detail: { n: 1 } }) satisfies NewJournalEvent;

/** What a page says, briefly: a file's source or a journal event's type. */
const names = (events: readonly DurableEvent[]) =>
  events.map((e) => (e.kind === 'file' ? e.row.source : e.type));

describe('the PostgreSQL journal: the durable event stream', () => {
  it('never passes a row whose transaction is still open, though a later id committed first', async () => {
    const before = await committedRow('v', 10);
    expect((await journal.eventsAfter(undefined, 10)).events.map((e) => e.at)).toEqual([10]);
    // Daemon A takes id N and settles it, but its transaction stays open.
    const a = await pool.connect();
    try {
      await a.query('BEGIN');
      const n = await intentRow(a, 'x', 20);
      await settle(a, n, 20);
      const xidA = Number(
        (await a.query<{ x: string }>('SELECT pg_current_xact_id()::text AS x')).rows[0]!.x,
      );
      // Daemon B takes N + 1, settles and commits first; then an operator's event.
      const m = await committedRow('y', 21);
      expect(m).toBe(n + 1);
      await journal.recordEvents([event('failed', 'w')], 22);
      const first = await journal.eventsAfter(undefined, 10);
      expect(names(first.events)).toEqual(['v']);
      expect(first.events[0]).toMatchObject({ kind: 'file', type: 'ingested', id: before });
      // The cursor stays before A's transaction: N cannot be passed by a reader.
      const place = decodePgEventCursor(first.cursor);
      expect(place.fileXid).toBeLessThan(xidA);
      expect(place.fileId).toBe(before);
      expect(await journal.eventsAfter(first.cursor, 10)).toEqual({
        events: [],
        cursor: first.cursor,
      });
      const marks = await journal.eventMarksAfter(first.cursor, 10);
      expect(marks).toEqual({ events: [], cursor: first.cursor });
      // The cursor of now is at A's transaction too: what A writes is after it.
      const now = decodePgEventCursor(await journal.eventsCursor());
      expect(now).toEqual({ fileXid: xidA, fileId: 0, eventXid: xidA, eventId: 0 });
      await a.query('COMMIT');
      const second = await journal.eventsAfter(first.cursor, 10);
      expect(names(second.events)).toEqual(['x', 'y', 'failed']);
      expect(second.events.map((e) => (e.kind === 'file' ? e.id : -1))).toEqual([n, m, -1]);
      // Each once: nothing more after it, and a replay from the start has each once.
      expect(await journal.eventsAfter(second.cursor, 10)).toEqual({
        events: [],
        cursor: second.cursor,
      });
      const all = await journal.eventsAfter(undefined, 10);
      expect(names(all.events)).toEqual(['v', 'x', 'y', 'failed']);
      // Each event's own cursor resumes right after it.
      for (let i = 0; i < all.events.length; i += 1) {
        const rest = await journal.eventsAfter(all.events[i]!.cursor, 10);
        expect(names(rest.events)).toEqual(names(all.events.slice(i + 1)));
      }
      // The marks give the same places, without the rows.
      const allMarks = await journal.eventMarksAfter(undefined, 10);
      expect(allMarks.events.map((e) => e.cursor)).toEqual(all.events.map((e) => e.cursor));
      expect(allMarks.events[1]).toEqual({
        kind: 'file',
        type: 'ingested',
        at: 20,
        id: n,
        cursor: all.events[1]!.cursor,
      });
    } finally {
      a.release();
    }
  });

  it('orders each side by transaction id as a number, across a power of ten', async () => {
    await committedRow('before', 10);
    await journal.recordEvents([event('held', 'a')], 10);
    const { rows } = await pool.query<{ x: string }>('SELECT pg_current_xact_id()::text AS x');
    const now = Number(rows[0]!.x);
    const burn = 10 ** String(now).length - now;
    // Transactions that take an id and end, up to the next power of ten: '1000' < '999' as text.
    await pool.query(`DO $$ BEGIN
      PERFORM set_config('synchronous_commit', 'off', false);
      FOR i IN 1..${burn} LOOP PERFORM pg_current_xact_id(); COMMIT; END LOOP;
    END $$`);
    await committedRow('after', 10);
    await journal.recordEvents([event('released', 'a')], 10);
    const all = await journal.eventsAfter(undefined, 10);
    expect(names(all.events)).toEqual(['before', 'after', 'held', 'released']);
    const places = all.events.map((e) => decodePgEventCursor(e.cursor));
    expect(String(places[1]!.fileXid).length).toBeGreaterThan(String(places[0]!.fileXid).length);
    const paged: DurableEvent[] = [];
    for (let cursor: string | undefined, more = true; more;) {
      const next = await journal.eventsAfter(cursor, 1);
      paged.push(...next.events);
      cursor = next.cursor;
      more = next.events.length === 1;
    }
    expect(paged).toEqual(all.events);
  });

  it('orders rows by the transaction that settled them, not by id', async () => {
    // A gets its transaction id first, B claims id N and commits, then A claims N + 1.
    const a = await pool.connect();
    try {
      await a.query('BEGIN');
      await a.query('SELECT pg_current_xact_id()');
      const n = await committedRow('b', 10);
      const later = await intentRow(a, 'a', 11);
      await settle(a, later, 11);
      expect(later).toBe(n + 1);
      expect((await journal.eventsAfter(undefined, 10)).events).toEqual([]);
      await a.query('COMMIT');
    } finally {
      a.release();
    }
    const page = await journal.eventsAfter(undefined, 1);
    expect(names(page.events)).toEqual(['a']);
    expect(names((await journal.eventsAfter(page.cursor, 10)).events)).toEqual(['b']);
  });

  it('gives the cursor of now, and replays from one cursor up to another', async () => {
    const before = await journal.eventsCursor();
    expect(await journal.eventsAfter(before, 10)).toEqual({ events: [], cursor: before });
    await committedRow('x', 11);
    await committedRow('y', 12);
    await journal.recordEvents([event('failed', 'w')], 13);
    const middle = await journal.eventsCursor();
    expect((await journal.eventsAfter(middle, 10)).events).toEqual([]);
    await journal.recordEvents([event('held', 'v')], 14);
    await committedRow('z', 16);
    // From `before` up to `middle`: the two rows and the failure, nothing after.
    const upTo = await journal.eventsAfter(before, 10, middle);
    expect(names(upTo.events)).toEqual(['x', 'y', 'failed']);
    expect(await journal.eventsAfter(upTo.cursor, 10, middle)).toEqual({
      events: [],
      cursor: upTo.cursor,
    });
    // A page that stops at its limit, then the rest up to `middle`.
    const one = await journal.eventsAfter(before, 1, middle);
    expect(names(one.events)).toEqual(['x']);
    expect(names((await journal.eventsAfter(one.cursor, 10, middle)).events)).toEqual([
      'y',
      'failed',
    ]);
    // From `middle` on: what came after it.
    expect(names((await journal.eventsAfter(middle, 10)).events)).toEqual(['held', 'z']);
  });

  it('reads a quarantine at its intent, keeps its place when released, and leaves out aborted rows', async () => {
    const q = await inTransaction(pool, async (client) => {
      const id = await intentRow(client, 'q', 5, 'quarantine');
      await settle(client, id, 30);
      return id;
    });
    const aborted = await inTransaction(pool, async (client) => {
      const id = await intentRow(client, 'gone', 31);
      await settle(client, id, 31, 'aborted');
      return id;
    });
    expect(aborted).toBe(q + 1);
    const page = await journal.eventsAfter(undefined, 10);
    expect(page.events).toHaveLength(1);
    expect(page.events[0]).toMatchObject({ kind: 'file', type: 'quarantined', at: 5, id: q });
    // `release` as the store does it: status and time, not the place in the stream.
    await pool.query(
      `UPDATE files SET status = 'released', committed_at = $2
       WHERE id = $1 AND kind = 'quarantine' AND status = 'committed'`,
      [q, 40],
    );
    expect(await journal.eventsAfter(page.cursor, 10)).toEqual({
      events: [],
      cursor: page.cursor,
    });
    const again = await journal.eventsAfter(undefined, 10);
    expect(again.cursor).toBe(page.cursor);
    expect(again.events[0]).toMatchObject({
      kind: 'file',
      type: 'quarantined',
      at: 5,
      row: { status: 'released', source: 'q' },
    });
  });

  it('merges the two sides by time, each in its own order', async () => {
    await journal.recordEvents([event('paused', null)], 5);
    await committedRow('x', 10);
    await journal.recordEvents([event('resumed', null)], 11);
    await committedRow('y', 12);
    await journal.recordEvents([event('failed', 'w')], 20);
    // Committed after y, though earlier by the clock: it comes after y on its side.
    await committedRow('z', 9);
    const page = await journal.eventsAfter(undefined, 10);
    expect(page.events.map((e) => e.at)).toEqual([5, 10, 11, 12, 9, 20]);
    expect(names(page.events)).toEqual(['paused', 'x', 'resumed', 'y', 'z', 'failed']);
    // Pages of two give the same sequence.
    const paged: DurableEvent[] = [];
    for (let cursor: string | undefined, more = true; more;) {
      const next = await journal.eventsAfter(cursor, 2);
      paged.push(...next.events);
      cursor = next.cursor;
      more = next.events.length === 2;
    }
    expect(paged).toEqual(page.events);
  });

  it('refuses a malformed cursor with a TypeError, and keeps every cursor within 40 characters', async () => {
    for (const bad of [
      '../etc',
      'bm90LWEtY3Vyc29y',
      'MS4y', // a cursor of the SQLite state
      'A'.repeat(41),
      '',
    ]) {
      await expect(journal.eventsAfter(bad, 10)).rejects.toThrow(TypeError);
      expect(() => decodePgEventCursor(bad)).toThrow(TypeError);
    }
    await expect(journal.eventsAfter(undefined, 10, 'zz')).rejects.toThrow(TypeError);
    const max = Number.MAX_SAFE_INTEGER;
    const far = { fileXid: max, fileId: max, eventXid: max, eventId: max };
    const cursor = encodePgEventCursor(far);
    expect(cursor).toMatch(/^[A-Za-z0-9_-]{1,40}$/);
    expect(decodePgEventCursor(cursor)).toEqual(far);
    const small = { fileXid: 743, fileId: 12, eventXid: 0, eventId: 1 };
    expect(decodePgEventCursor(encodePgEventCursor(small))).toEqual(small);
    // One string per place: a different last character that decodes to the same bytes is refused.
    const origin = encodePgEventCursor({ fileXid: 0, fileId: 0, eventXid: 0, eventId: 0 });
    expect(origin).toBe('oAA');
    expect(() => decodePgEventCursor('oAB')).toThrow(TypeError);
  });

  it('starts a cursor older than the retention at the oldest event kept; prunes in batches, oldest first', async () => {
    await journal.recordEvents([event('failed', 'y')], 100);
    const old = (await journal.eventsAfter(undefined, 10)).cursor;
    for (let i = 1; i < 5; i += 1) await journal.recordEvents([event('failed', 'y')], 100 + i);
    expect(await journal.pruneEvents(103, 2)).toBe(2);
    expect(await journal.pruneEvents(103, 2)).toBe(1);
    expect(await journal.pruneEvents(103, 2)).toBe(0);
    expect((await journal.eventsAfter(old, 10)).events.map((e) => e.at)).toEqual([103, 104]);
    expect((await journal.eventsAfter(undefined, 10)).events.map((e) => e.at)).toEqual([103, 104]);
    // BIGSERIAL never hands an id out twice: the newest may go, and a new event still comes.
    const cursor = await journal.eventsCursor();
    expect(await journal.pruneEvents(1_000, 10)).toBe(2);
    await journal.recordEvents([event('failed', 'z')], 2_000);
    expect((await journal.eventsAfter(cursor, 10)).events.map((e) => e.at)).toEqual([2_000]);
  });
});

describe('the PostgreSQL journal: events, holds and settings', () => {
  it('records events in order, with their details, and one inside the caller’s transaction', async () => {
    const ids = await journal.recordEvents(
      [event('held', 'a'), { ...event('failed', Buffer.from([0xff, 0x2f])), detail: null }],
      7,
    );
    expect(ids).toHaveLength(2);
    expect(ids[1]).toBeGreaterThan(ids[0]!);
    expect(await journal.recordEvents([], 7)).toEqual([]);
    const page = await journal.eventsAfter(undefined, 10);
    expect(page.events.map((e) => (e.kind === 'journal' ? e.event : undefined))).toEqual([
      {
        id: ids[0],
        at: 7,
        type: 'held',
        fileId: null,
        source: 'a',
        actor: 'CN=admin',
        detail: { n: 1 },
      },
      {
        id: ids[1],
        at: 7,
        type: 'failed',
        fileId: null,
        source: Buffer.from([0xff, 0x2f]),
        actor: 'CN=admin',
        detail: null,
      },
    ]);
    // Rolled back with the caller's transaction.
    await expect(
      inTransaction(pool, async (client) => {
        await journal.record(client, event('paused', null), 8);
        throw new Error('no');
      }),
    ).rejects.toThrow('no');
    expect((await journal.eventsAfter(page.cursor, 10)).events).toEqual([]);
  });

  it("a file's events: its row's, and those under its source before it had one", async () => {
    await journal.recordEvents(
      [event('held', 'x'), event('released', 'x'), event('held', 'other')],
      5,
    );
    const id = await committedRow('x', 10);
    await journal.recordEvents([event('retried', null, id), event('held', 'x')], 50);
    const types = (await journal.fileEvents(id, 'x', 12, 100)).map((e) => [e.type, e.at]);
    expect(types).toEqual([
      ['held', 5],
      ['released', 5],
      ['retried', 50],
    ]);
    expect((await journal.fileEvents(id, 'x', 12, 2)).map((e) => e.type)).toEqual([
      'held',
      'released',
    ]);
  });

  it('holds (a second replaces the first), releases, settings, each journaled with it', async () => {
    const identity = { device: 1, inode: 2, size: 3, mtimeMs: 4.25 };
    await journal.hold(
      { source: 'x', identity, actor: 'CN=a', reason: 'held', at: 6 },
      event('held', 'x'),
    );
    await journal.hold(
      { source: 'x', identity, actor: 'CN=b', reason: 'cancelled', at: 7 },
      event('cancelled', 'x'),
    );
    await journal.hold(
      { source: Buffer.from([0xfe]), identity, actor: 'CN=a', reason: 'held', at: 8 },
      event('held', null),
    );
    expect(await journal.holds()).toEqual([
      { source: 'x', identity, actor: 'CN=b', reason: 'cancelled', at: 7 },
      { source: Buffer.from([0xfe]), identity, actor: 'CN=a', reason: 'held', at: 8 },
    ]);
    expect(await journal.readSetting('operator-pause')).toBeUndefined();
    await journal.writeSetting(
      'operator-pause',
      '{"by":"CN=a","since":7}',
      event('paused', null),
      9,
    );
    await journal.writeSetting(
      'operator-pause',
      '{"by":"CN=b","since":8}',
      event('paused', null),
      10,
    );
    expect(await journal.readSetting('operator-pause')).toBe('{"by":"CN=b","since":8}');
    expect(await journal.releaseHold('x', event('released', 'x'), 11)).toBe(true);
    expect(await journal.releaseHold('x', event('released', 'x'), 12)).toBe(false);
    await journal.writeSetting('operator-pause', null, event('resumed', null), 13);
    expect(await journal.readSetting('operator-pause')).toBeUndefined();
    expect(await journal.holds()).toHaveLength(1);
    const page = await journal.eventsAfter(undefined, 20);
    expect(page.events.map((e) => [e.type, e.at])).toEqual([
      ['held', 6],
      ['cancelled', 7],
      ['held', 8],
      ['paused', 9],
      ['paused', 10],
      ['released', 11],
      ['resumed', 13],
    ]);
  });
});

const HOUR = 3_600_000;
/** 2030-01-01T10:00:00Z. */
const H = Date.UTC(2030, 0, 1, 10);
const message = (endpoint: string, type = 'ingestor.started', msgId = 'msg_1'): OutboxMessage => ({
  msgId,
  endpoint,
  type,
  body: JSON.stringify({ type, timestamp: '2030-01-01T10:00:00.000Z', data: { daemon: 'd' } }),
});

describe('the PostgreSQL outbox', () => {
  it('two daemons asking at once for the due messages of one endpoint get each message once', async () => {
    await outbox.announce(
      Array.from({ length: 40 }, (_, i) => message('http://x', 'ingestor.paused', `m_${i}`)),
      5,
    );
    const otherPool = createPool(url, () => {});
    try {
      const other = new PgOutbox(otherPool);
      const [mine, theirs] = await Promise.all([
        outbox.dueDeliveries(10, ['http://x'], 25, []),
        other.dueDeliveries(10, ['http://x'], 25, []),
      ]);
      const ids = [...mine, ...theirs].map((d) => d.id);
      expect(ids).toHaveLength(40);
      expect(new Set(ids).size).toBe(40);
    } finally {
      await otherPool.end();
    }
  });

  it('gives due messages by endpoint, oldest first, but the busy ones; records attempts', async () => {
    await outbox.announce([message('http://a'), message('http://b')], 100);
    await outbox.announce([message('http://a', 'ingestor.paused', 'msg_2')], 50);
    await outbox.announce([], 10);
    const due = await outbox.dueDeliveries(100, ['http://a'], 10, []);
    expect(due.map((d) => [d.msgId, d.endpoint, d.nextAt])).toEqual([
      ['msg_2', 'http://a', 50],
      ['msg_1', 'http://a', 100],
    ]);
    expect(due[1]).toEqual({
      id: 1,
      msgId: 'msg_1',
      endpoint: 'http://a',
      type: 'ingestor.started',
      body: message('http://a').body,
      createdAt: 100,
      attempts: 0,
      nextAt: 100,
      status: 'pending',
      lastStatus: null,
      lastError: null,
      deliveredAt: null,
    });
    // Taken by that call: a second one (another daemon's) does not get them until the claim
    // (a minute) runs out, while they are being sent.
    expect(await outbox.dueDeliveries(100, ['http://a'], 10, [])).toEqual([]);
    expect(await outbox.nextDeliveryAt(['http://a'], [])).toBe(60_100);
    expect((await outbox.dueDeliveries(60_100, ['http://a'], 1, [3])).map((d) => d.id)).toEqual([
      1,
    ]);
    expect(await outbox.dueDeliveries(100, [], 10, [])).toEqual([]);
    expect(await outbox.nextDeliveryAt(['http://a', 'http://b'], [])).toBe(100);
    expect(await outbox.nextDeliveryAt(['http://a', 'http://b'], [2])).toBe(60_100);
    expect(await outbox.nextDeliveryAt(['http://c'], [])).toBeUndefined();
    expect(await outbox.pendingByEndpoint()).toEqual(
      new Map([
        ['http://a', 2],
        ['http://b', 1],
      ]),
    );

    await outbox.deliveryAttempted(1, { ok: true, status: 204, at: 110 });
    await outbox.deliveryAttempted(2, {
      ok: false,
      status: 500,
      error: 'HTTP 500',
      at: 110,
      nextAt: 170,
    });
    await outbox.deliveryAttempted(3, {
      ok: false,
      status: null,
      error: 'ECONNREFUSED',
      at: 111,
      nextAt: null,
    });
    const [gaveUp, retrying, delivered] = await outbox.deliveries({ limit: 10 });
    expect(delivered).toMatchObject({
      id: 1,
      status: 'delivered',
      attempts: 1,
      lastStatus: 204,
      lastError: null,
      nextAt: null,
      deliveredAt: 110,
    });
    expect(retrying).toMatchObject({
      id: 2,
      status: 'pending',
      attempts: 1,
      lastStatus: 500,
      lastError: 'HTTP 500',
      nextAt: 170,
    });
    expect(gaveUp).toMatchObject({
      id: 3,
      status: 'gave-up',
      attempts: 1,
      lastStatus: null,
      lastError: 'ECONNREFUSED',
      nextAt: null,
    });
    expect(await outbox.pendingByEndpoint()).toEqual(new Map([['http://b', 1]]));
    expect(await outbox.nextDeliveryAt(['http://a', 'http://b'], [])).toBe(170);

    // The listing's filters, newest first.
    const ids = async (filter: Parameters<PgOutbox['deliveries']>[0]) =>
      (await outbox.deliveries(filter)).map((d) => d.id);
    expect(await ids({ limit: 2 })).toEqual([3, 2]);
    expect(await ids({ status: 'pending', limit: 10 })).toEqual([2]);
    expect(await ids({ type: 'ingestor.started', limit: 10 })).toEqual([2, 1]);
    expect(await ids({ idBelow: 3, limit: 10 })).toEqual([2, 1]);
    expect(await ids({ id: 3, limit: 10 })).toEqual([3]);

    // Redelivery: the same id, pending again from `at`.
    expect(await outbox.redeliver(3, 500)).toMatchObject({
      id: 3,
      msgId: 'msg_2',
      status: 'pending',
      nextAt: 500,
      createdAt: 500,
      attempts: 1,
    });
    expect(await outbox.redeliver(99, 500)).toBeUndefined();

    // Pruning: only what was delivered or given up, written before `before`, `limit` at a time.
    await outbox.deliveryAttempted(2, {
      ok: false,
      status: 500,
      error: 'x',
      at: 120,
      nextAt: null,
    });
    expect(await outbox.prune(100, 10)).toBe(0);
    expect(await outbox.prune(101, 1)).toBe(1);
    expect(await outbox.prune(101, 1)).toBe(1);
    expect(await outbox.prune(1_000, 10)).toBe(0); // 3 is pending again
    expect(await ids({ limit: 10 })).toEqual([3]);
  });

  it("holds a file's messages until its row is committed, with data.id its id; drops them with an aborted row", async () => {
    const announce = [
      message('http://a', 'file.quarantined', 'msg_q'),
      message('http://b', 'file.quarantined', 'msg_q'),
    ];
    const id = await inTransaction(pool, async (client) => {
      const row = await intentRow(client, 'q', 5, 'quarantine');
      await outbox.insertForFile(client, announce, 5, row);
      return row;
    });
    expect(await outbox.dueDeliveries(100, ['http://a', 'http://b'], 10, [])).toEqual([]);
    expect(await outbox.nextDeliveryAt(['http://a', 'http://b'], [])).toBeUndefined();
    await settle(pool, id, 6);
    const due = await outbox.dueDeliveries(100, ['http://a', 'http://b'], 10, []);
    expect(due.map((d) => [d.msgId, d.endpoint])).toEqual([
      ['msg_q', 'http://a'],
      ['msg_q', 'http://b'],
    ]);
    for (const d of due) {
      expect(JSON.parse(d.body)).toEqual({
        type: 'file.quarantined',
        timestamp: '2030-01-01T10:00:00.000Z',
        data: { daemon: 'd', id },
      });
    }
    expect(due[0]!.body).toBe(due[1]!.body);
    // Another file's row, rolled back: its messages go with it.
    const other = await inTransaction(pool, async (client) => {
      const row = await intentRow(client, 'r', 7, 'quarantine');
      await outbox.insertForFile(client, announce, 7, row);
      return row;
    });
    await inTransaction(pool, async (client) => {
      await settle(client, other, 8, 'aborted');
      await outbox.dropForFile(client, other);
    });
    expect((await outbox.deliveries({ limit: 10 })).map((d) => d.id)).toEqual([2, 1]);
  });
});

describe('closed hours in the PostgreSQL state', () => {
  const closed = (hour: number, lines = 0) => ({
    hour,
    manifest: `/mf/${hour}/manifest.jsonl`,
    lines,
    bytes: lines * 10,
    sha256: 'e'.repeat(64),
    closedAt: hour + HOUR + 1000,
  });

  it('records the first hour once, at the first start that closes hours', async () => {
    expect(await hours.hourMarks()).toEqual({ firstHour: undefined, closedThrough: undefined });
    expect(await hours.beginHours(H, H + 5)).toEqual({ firstHour: H, closedThrough: undefined });
    // A later start (or another daemon) keeps the first hour.
    expect(await hours.beginHours(H + 5 * HOUR, H + 5 * HOUR)).toEqual({
      firstHour: H,
      closedThrough: undefined,
    });
  });

  it('closes hours in order only, each with its journal event and announcement in one transaction', async () => {
    await expect(hours.closeHour(closed(H))).rejects.toThrow(/no daemon began closing hours/);
    await hours.beginHours(H, H);
    await expect(hours.closeHour(closed(H + HOUR))).rejects.toThrow(
      /next hour to close is 2030-01-01T10:00:00Z/,
    );
    expect((await journal.eventsAfter(undefined, 10)).events).toEqual([]);
    await hours.closeHour(closed(H, 3), [message('http://a', 'manifest.closed')]);
    await expect(
      hours.closeHour(closed(H, 3), [message('http://a', 'manifest.closed', 'msg_2')]),
    ).rejects.toThrow(/next hour to close is .*T11:00/);
    await hours.closeHour(closed(H + HOUR));
    expect(await hours.hourMarks()).toEqual({ firstHour: H, closedThrough: H + HOUR });
    expect(await hours.closedHours()).toEqual([closed(H, 3), closed(H + HOUR)]);
    const events = (await journal.eventsAfter(undefined, 10)).events;
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
    // Only the close that succeeded wrote its announcement.
    expect((await outbox.deliveries({ limit: 10 })).map((d) => [d.msgId, d.createdAt])).toEqual([
      ['msg_1', H + HOUR + 1000],
    ]);
  });

  it('lets exactly one of two daemons that close the same hour at once succeed', async () => {
    const server2 = createPool(url, () => {});
    try {
      // A second daemon: its own pool, journal, outbox.
      const other = new PgHours(server2, new PgJournal(server2), new PgOutbox(server2));
      await hours.beginHours(H, H);
      for (const hour of [H, H + HOUR, H + 2 * HOUR]) {
        const results = await Promise.allSettled([
          hours.closeHour(closed(hour, 1), [message('http://a', 'manifest.closed', `m${hour}`)]),
          other.closeHour(closed(hour, 1), [message('http://a', 'manifest.closed', `m${hour}`)]),
        ]);
        expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
        const [refused] = results.filter((r) => r.status === 'rejected');
        expect(String(refused!.reason)).toMatch(
          /cannot be closed: the next hour to close is 20\d\d-/,
        );
      }
      expect((await hours.closedHours()).map((c) => c.hour)).toEqual([H, H + HOUR, H + 2 * HOUR]);
      expect((await journal.eventsAfter(undefined, 10)).events).toHaveLength(3);
      expect(await outbox.deliveries({ limit: 10 })).toHaveLength(3);
    } finally {
      await server2.end();
    }
  });

  it('knows the oldest open intent that will write a line (duplicates write none)', async () => {
    expect(await hours.earliestOpenLineAt()).toBeUndefined();
    const a = await intentRow(pool, 'x', H + 10);
    await intentRow(pool, 'y', H + 20);
    expect(await hours.earliestOpenLineAt()).toBe(H + 10);
    await settle(pool, a, H + 30);
    expect(await hours.earliestOpenLineAt()).toBe(H + 20);
    await intentRow(pool, 'z', H - 99, 'duplicate'); // no manifest line
    expect(await hours.earliestOpenLineAt()).toBe(H + 20);
  });
});
