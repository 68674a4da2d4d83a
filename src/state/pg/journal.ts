import { FILE_EVENT_TYPES, rowAt, toEvent, toHold } from '../raw-rows.js';
import type { RawEvent, RawHold } from '../raw-rows.js';
import type pg from 'pg';
import type { FileRow, FsPath } from '../../interfaces.js';
import { toBytes } from '../../paths.js';
import type { RawRow } from '../sqlite-rows.js';
import { toRow } from '../sqlite-rows.js';
import type {
  DurableEventPage,
  DurableMark,
  DurableMarkPage,
  Hold,
  JournalEvent,
  NewJournalEvent,
} from '../store.js';
import type { Queryable } from './connect.js';
import { inTransaction } from './connect.js';

/** A row of `events` as this file reads it: with its transaction's id, as text. */
type PgRawEvent = RawEvent & { xid_text: string };

/**
 * The columns of `events` as this file reads them: the xid as text (a number for the cursor),
 * under a name of its own, so that `ORDER BY xid` still sorts by the xid8 column.
 */
const EVENT_COLUMNS = 'id, file_id, source, at, type, actor, detail, xid::text AS xid_text';

/** Which settled rows are events of the stream: commits, and quarantines since released. */
const FILE_EVENT_ROWS = `(status = 'committed' OR (kind = 'quarantine' AND status = 'released'))`;

/**
 * Only what every transaction older than this statement's snapshot wrote: all of those have
 * ended, so nothing can appear below it later (ids are not visible in id order when several
 * daemons write; transaction ids below the snapshot's xmin are all settled, one way or another).
 */
const HORIZON = 'pg_snapshot_xmin(pg_current_snapshot())';

/**
 * A place in the durable events: the last file row read, by the transaction that settled it
 * and its id, and the last journal event, by the transaction that wrote it and its id. Each
 * side is read in (xid, id) order, so a place says "everything up to here was read".
 */
export interface PgEventPlace {
  fileXid: number;
  fileId: number;
  eventXid: number;
  eventId: number;
}

/** A place before every event: where a reader without a cursor starts. */
const ORIGIN: PgEventPlace = { fileXid: 0, fileId: 0, eventXid: 0, eventId: 0 };

/** The high nibble of a cursor's first byte: what tells a cursor of this store from noise. */
const CURSOR_TAG = 0xa;
/** Bytes a number takes at most in a cursor: 2^53 fits in 7. */
const MAX_NUMBER_BYTES = 7;

/**
 * The cursor of a place: opaque base64url of two header bytes (a tag and the byte length of
 * each of the four numbers, 3 bits each) and the numbers big-endian in as few bytes as they
 * need. At most 2 + 4 * 7 = 30 bytes, so at most 40 characters, as the stream's ids allow.
 */
export function encodePgEventCursor(place: PgEventPlace): string {
  const numbers = [place.fileXid, place.fileId, place.eventXid, place.eventId];
  let header = CURSOR_TAG;
  const body: number[] = [];
  for (const n of numbers) {
    if (!Number.isSafeInteger(n) || n < 0) {
      throw new RangeError(`a place in the events must be a safe non-negative integer, got ${n}`);
    }
    const bytes: number[] = [];
    for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v % 256);
    header = (header << 3) | bytes.length;
    body.push(...bytes);
  }
  return Buffer.from([header >> 8, header & 0xff, ...body]).toString('base64url');
}

/** The place of a cursor; a TypeError (the caller's 400) for anything this store did not make. */
export function decodePgEventCursor(cursor: string): PgEventPlace {
  const malformed = () => new TypeError(`not a cursor of this state's events: ${cursor}`);
  if (!/^[A-Za-z0-9_-]{1,40}$/.test(cursor)) throw malformed();
  const raw = Buffer.from(cursor, 'base64url');
  if (raw.length < 2) throw malformed();
  const header = raw.readUInt16BE(0);
  if (header >> 12 !== CURSOR_TAG) throw malformed();
  const numbers: number[] = [];
  let offset = 2;
  for (let i = 3; i >= 0; i -= 1) {
    const length = (header >> (3 * i)) & 0b111;
    if (length > MAX_NUMBER_BYTES || offset + length > raw.length) throw malformed();
    let value = 0;
    for (let b = 0; b < length; b += 1) value = value * 256 + raw[offset + b]!;
    if (!Number.isSafeInteger(value)) throw malformed();
    numbers.push(value);
    offset += length;
  }
  if (offset !== raw.length) throw malformed();
  const place = {
    fileXid: numbers[0]!,
    fileId: numbers[1]!,
    eventXid: numbers[2]!,
    eventId: numbers[3]!,
  };
  // One cursor per place: leading zero bytes or stray base64 bits make another string.
  if (encodePgEventCursor(place) !== cursor) throw malformed();
  return place;
}

/** A transaction id (xid8, as text) as a number; they stay far below 2^53 (2^21 wraparounds). */
function xidNumber(text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw new Error(`transaction id ${text} is beyond 2^53`);
  return n;
}

/** A settled row as the merge reads it; `row` is the whole row, or undefined for marks. */
interface SettledRow<R> {
  xid: number;
  id: number;
  kind: FileRow['kind'];
  at: number;
  row: R;
}

/** The file side's bounds as SQL parameters: after `from`, up to `to` (null: no end). */
type SideBounds = [number, number, number | null, number | null];

/** A merged event: a file's (with `row` as read) or the journal's. */
type MergedEvent<R> = (
  | {
      kind: 'file';
      type: (typeof FILE_EVENT_TYPES)[FileRow['kind']];
      at: number;
      id: number;
      row: R;
    }
  | Extract<DurableMark, { kind: 'journal' }>
) & { cursor: string };

/**
 * Rows settled after `($1, $2)` and up to `($3, $4)` (null: no end), below the horizon, in the
 * order their transactions' ids give, through `files_by_settled`. `$5`: how many. The xid
 * goes out as text under another name: an output column named `settled_xid` would make the
 * ORDER BY sort its text ('10' before '9').
 */
function settledRowsSql(columns: string): string {
  return `
    SELECT ${columns}, settled_xid::text AS settled_xid_text FROM files
    WHERE settled_xid IS NOT NULL
      AND (settled_xid, id) > ($1::xid8, $2::bigint)
      AND settled_xid < ${HORIZON}
      AND ($3::xid8 IS NULL OR (settled_xid, id) <= ($3::xid8, $4::bigint))
      AND ${FILE_EVENT_ROWS}
    ORDER BY settled_xid, id LIMIT $5`;
}

const ROWS_AFTER = settledRowsSql(
  `id, kind, status, sha256, source, dest, tmp, manifest, sidecar, device, inode, size,
   mtime_ms, duplicate_of, intent_at, committed_at, completed_at, hash_ms, error`,
);
const MARKS_AFTER = settledRowsSql('id, kind, intent_at, committed_at');

/** Journal events after `($1, $2)` and up to `($3, $4)`, below the horizon, through events_by_xid. */
const EVENTS_AFTER = `
  SELECT ${EVENT_COLUMNS} FROM events
  WHERE (xid, id) > ($1::xid8, $2::bigint)
    AND xid < ${HORIZON}
    AND ($3::xid8 IS NULL OR (xid, id) <= ($3::xid8, $4::bigint))
  ORDER BY xid, id LIMIT $5`;

/**
 * The journal, holds and settings of the PostgreSQL state, and the durable event stream over
 * them and the files table. Every write is its own short transaction, or runs inside the
 * caller's (`record`). Several daemons write at once, so the stream orders by the writing
 * transaction's id (`files.settled_xid`, `events.xid`) and reads only below the oldest
 * transaction still running: no lock, and nothing is ever skipped.
 */
export class PgJournal {
  readonly #pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  /**
   * Records one event inside the caller's transaction (a change and its announcement); `xid`
   * defaults to that transaction's id.
   */
  async record(q: Queryable, event: NewJournalEvent, at: number): Promise<number> {
    const { rows } = await q.query<{ id: number }>(
      `INSERT INTO events (file_id, source, at, type, actor, detail)
       VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
      [
        event.fileId,
        event.source === null ? null : toBytes(event.source),
        at,
        event.type,
        event.actor,
        event.detail === null ? null : JSON.stringify(event.detail),
      ],
    );
    return rows[0]!.id;
  }

  /** Records events in one transaction (one statement); resolves with their ids, in order. */
  async recordEvents(events: readonly NewJournalEvent[], at: number): Promise<number[]> {
    if (events.length === 0) return [];
    if (events.length === 1) return [await this.record(this.#pool, events[0]!, at)];
    // One statement is one transaction; the ordered subquery takes the ids in the events'
    // order, so sorting what comes back pairs each id with its event.
    const { rows } = await this.#pool.query<{ id: number }>(
      `INSERT INTO events (file_id, source, at, type, actor, detail)
       SELECT file_id, source, $1, type, actor, detail
       FROM unnest($2::bigint[], $3::bytea[], $4::text[], $5::text[], $6::text[])
         WITH ORDINALITY AS e(file_id, source, type, actor, detail, n)
       ORDER BY n
       RETURNING id`,
      [
        at,
        events.map((e) => e.fileId),
        events.map((e) => (e.source === null ? null : toBytes(e.source))),
        events.map((e) => e.type),
        events.map((e) => e.actor),
        events.map((e) => (e.detail === null ? null : JSON.stringify(e.detail))),
      ],
    );
    return rows.map((r) => r.id).sort((a, b) => a - b);
  }

  /**
   * Events of the row, and those recorded by source before the row existed (a failure before
   * the claim, a hold or a cancel while it was pending), each through its index.
   */
  async fileEvents(
    fileId: number,
    source: FsPath,
    until: number,
    limit: number,
  ): Promise<JournalEvent[]> {
    const { rows } = await this.#pool.query<PgRawEvent>(
      `SELECT * FROM (
         SELECT ${EVENT_COLUMNS} FROM events WHERE file_id = $1
         UNION ALL
         SELECT ${EVENT_COLUMNS} FROM events WHERE source = $2 AND file_id IS NULL AND at <= $3
       ) e ORDER BY id LIMIT $4`,
      [fileId, toBytes(source), until, limit],
    );
    return rows.map(toEvent);
  }

  /**
   * The place after everything readable now: both sides at the horizon (its xid, id 0), which
   * every event read later is after, and every event readable now before.
   */
  async eventsCursor(): Promise<string> {
    const { rows } = await this.#pool.query<{ horizon: string }>(
      `SELECT ${HORIZON}::text AS horizon`,
    );
    const horizon = xidNumber(rows[0]!.horizon);
    return encodePgEventCursor({ fileXid: horizon, fileId: 0, eventXid: horizon, eventId: 0 });
  }

  async eventsAfter(
    cursor: string | undefined,
    limit: number,
    until?: string,
  ): Promise<DurableEventPage> {
    return this.#merged(cursor, limit, until, async (bounds) => {
      const { rows } = await this.#pool.query<RawRow & { settled_xid_text: string }>(ROWS_AFTER, [
        ...bounds,
        limit,
      ]);
      return rows.map((raw) => {
        const row = toRow(raw);
        return {
          xid: xidNumber(raw.settled_xid_text),
          id: row.id,
          kind: row.kind,
          at: rowAt(row),
          row,
        };
      });
    });
  }

  async eventMarksAfter(cursor: string | undefined, limit: number): Promise<DurableMarkPage> {
    return this.#merged(cursor, limit, undefined, async (bounds) => {
      const { rows } = await this.#pool.query<{
        id: number;
        kind: FileRow['kind'];
        intent_at: number;
        committed_at: number | null;
        settled_xid_text: string;
      }>(MARKS_AFTER, [...bounds, limit]);
      return rows.map((m) => ({
        xid: xidNumber(m.settled_xid_text),
        id: m.id,
        kind: m.kind,
        at: rowAt({ kind: m.kind, intentAt: m.intent_at, committedAt: m.committed_at }),
        row: undefined,
      }));
    });
  }

  /**
   * Durable events after `cursor` (up to `until`), at most `limit`: the settled rows that
   * `rowsAfter` reads and the journal's events, merged by time; each side is in the order of
   * its writing transactions and has its own place in the cursor. The two sides are read at
   * once, each below the horizon of its own statement: each is complete up to where it read.
   */
  async #merged<R extends FileRow | undefined>(
    cursor: string | undefined,
    limit: number,
    until: string | undefined,
    rowsAfter: (bounds: SideBounds) => Promise<SettledRow<R>[]>,
  ): Promise<{ events: MergedEvent<R>[]; cursor: string }> {
    const start = cursor === undefined ? ORIGIN : decodePgEventCursor(cursor);
    const end = until === undefined ? undefined : decodePgEventCursor(until);
    const [rows, journal] = await Promise.all([
      rowsAfter([start.fileXid, start.fileId, end?.fileXid ?? null, end?.fileId ?? null]),
      this.#pool
        .query<PgRawEvent>(EVENTS_AFTER, [
          start.eventXid,
          start.eventId,
          end?.eventXid ?? null,
          end?.eventId ?? null,
          limit,
        ])
        .then((r) => r.rows.map((raw) => ({ xid: xidNumber(raw.xid_text), event: toEvent(raw) }))),
    ]);
    const place = { ...start };
    const events: MergedEvent<R>[] = [];
    let r = 0;
    let j = 0;
    while (events.length < limit && (r < rows.length || j < journal.length)) {
      const row = rows[r];
      const next = journal[j];
      if (row !== undefined && (next === undefined || row.at <= next.event.at)) {
        place.fileXid = row.xid;
        place.fileId = row.id;
        r += 1;
        events.push({
          kind: 'file',
          type: FILE_EVENT_TYPES[row.kind],
          at: row.at,
          id: row.id,
          row: row.row,
          cursor: encodePgEventCursor(place),
        });
      } else {
        const { event } = next!;
        place.eventXid = next!.xid;
        place.eventId = event.id;
        j += 1;
        events.push({
          kind: 'journal',
          type: event.type,
          at: event.at,
          event,
          cursor: encodePgEventCursor(place),
        });
      }
    }
    return { events, cursor: encodePgEventCursor(place) };
  }

  /**
   * Removes up to `limit` events recorded before `before`, oldest first. BIGSERIAL never gives
   * an id twice, so unlike SQLite the newest may go too. Rows another daemon is pruning now are
   * skipped, not waited for.
   */
  async pruneEvents(before: number, limit: number): Promise<number> {
    const result = await this.#pool.query(
      `DELETE FROM events WHERE id IN (
         SELECT id FROM events WHERE at < $1 ORDER BY at LIMIT $2 FOR UPDATE SKIP LOCKED)`,
      [before, limit],
    );
    return result.rowCount ?? 0;
  }

  async holds(): Promise<Hold[]> {
    const { rows } = await this.#pool.query<RawHold>(
      `SELECT source, device, inode, size, mtime_ms, actor, reason, at FROM holds ORDER BY at`,
    );
    return rows.map(toHold);
  }

  async hold(hold: Hold, event: NewJournalEvent): Promise<void> {
    const { identity: i } = hold;
    await inTransaction(this.#pool, async (client) => {
      await client.query(
        `INSERT INTO holds (source, device, inode, size, mtime_ms, actor, reason, at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (source) DO UPDATE SET device = EXCLUDED.device, inode = EXCLUDED.inode,
           size = EXCLUDED.size, mtime_ms = EXCLUDED.mtime_ms, actor = EXCLUDED.actor,
           reason = EXCLUDED.reason, at = EXCLUDED.at`,
        [
          toBytes(hold.source),
          i.device,
          i.inode,
          i.size,
          i.mtimeMs,
          hold.actor,
          hold.reason,
          hold.at,
        ],
      );
      await this.record(client, event, hold.at);
    });
  }

  async releaseHold(source: FsPath, event: NewJournalEvent, at: number): Promise<boolean> {
    return inTransaction(this.#pool, async (client) => {
      const dropped = await client.query(`DELETE FROM holds WHERE source = $1`, [toBytes(source)]);
      if (dropped.rowCount === 0) return false;
      await this.record(client, event, at);
      return true;
    });
  }

  async readSetting(key: string): Promise<string | undefined> {
    const { rows } = await this.#pool.query<{ value: string }>(
      `SELECT value FROM settings WHERE key = $1`,
      [key],
    );
    return rows[0]?.value;
  }

  async writeSetting(
    key: string,
    value: string | null,
    event: NewJournalEvent,
    at: number,
  ): Promise<void> {
    await inTransaction(this.#pool, async (client) => {
      if (value === null) await client.query(`DELETE FROM settings WHERE key = $1`, [key]);
      else {
        await client.query(
          `INSERT INTO settings (key, value, at) VALUES ($1, $2, $3)
           ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, at = EXCLUDED.at`,
          [key, value, at],
        );
      }
      await this.record(client, event, at);
    });
  }
}
