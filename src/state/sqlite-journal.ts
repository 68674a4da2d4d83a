import { FILE_EVENT_TYPES, rowAt, toEvent, toHold } from './raw-rows.js';
import type { RawEvent, RawHold } from './raw-rows.js';
import type { Database as DatabaseType, Statement } from 'better-sqlite3';
import type { FsPath } from '../interfaces.js';
import { toBytes } from '../paths.js';
import type { RawRow } from './sqlite-rows.js';
import { toRow } from './sqlite-rows.js';
import type { FileRow } from '../interfaces.js';
import type {
  DurableEventPage,
  DurableMark,
  DurableMarkPage,
  Hold,
  JournalEvent,
  NewJournalEvent,
} from './store.js';

/**
 * A place in the durable events: the last file row and the last journal event read. Two
 * counters because the two tables are read side by side; opaque to readers (base64url).
 */
export function encodeEventCursor(fileId: number, eventId: number): string {
  return Buffer.from(`${fileId}.${eventId}`).toString('base64url');
}

export function decodeEventCursor(cursor: string): { fileId: number; eventId: number } {
  const match =
    /^[A-Za-z0-9_-]{1,40}$/.test(cursor) &&
    /^([0-9]{1,15})\.([0-9]{1,15})$/.exec(Buffer.from(cursor, 'base64url').toString('latin1'));
  if (!match) throw new TypeError(`not a cursor of this daemon's events: ${cursor}`);
  return { fileId: Number(match[1]), eventId: Number(match[2]) };
}

/** A settled row as the merge reads it; `row` is the whole row, or undefined for marks. */
interface SettledRow<R> {
  id: number;
  kind: FileRow['kind'];
  at: number;
  row: R;
}

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
 * The journal, holds and settings of the SQLite state (schema v3): the control API's rows,
 * beside the files table and never on its hot path. Every write is its own short transaction.
 */
export class SqliteJournal {
  readonly #db: DatabaseType;
  readonly #insert: Statement<unknown[]>;
  readonly #byFile: Statement<Record<string, unknown>, RawEvent>;
  readonly #after: Statement<[number, number], RawEvent>;
  readonly #filesAfter: Statement<[number, number, number], RawRow>;
  readonly #marksAfter: Statement<
    [number, number, number],
    { id: number; kind: FileRow['kind']; intent_at: number; committed_at: number | null }
  >;
  readonly #oldestIntent: Statement<[], { id: number | null }>;
  readonly #lastRow: Statement<[], { id: number | null }>;
  readonly #lastEvent: Statement<[], { id: number | null }>;
  readonly #prune: Statement<[number, number]>;
  readonly #holds: Statement<[], RawHold>;
  readonly #putHold: Statement<unknown[]>;
  readonly #dropHold: Statement<[Buffer]>;
  readonly #getSetting: Statement<[string], { value: string }>;
  readonly #putSetting: Statement<[string, string, number]>;
  readonly #dropSetting: Statement<[string]>;

  constructor(db: DatabaseType) {
    this.#db = db;
    this.#insert = db.prepare(
      `INSERT INTO events (file_id, source, at, type, actor, detail) VALUES (?, ?, ?, ?, ?, ?)`,
    );
    // Events of the row, and those recorded by source before the row existed (a failure before
    // the claim, a hold or a cancel while it was pending). Both through their indexes.
    this.#byFile = db.prepare(`
      SELECT * FROM (
        SELECT * FROM events WHERE file_id = @fileId
        UNION
        SELECT * FROM events WHERE source = @source AND file_id IS NULL AND at <= @until
      ) ORDER BY id LIMIT @limit`);
    this.#after = db.prepare(`SELECT * FROM events WHERE id > ? ORDER BY id LIMIT ?`);
    // Settled rows only, and none at or past the oldest open intent: a row committed after a
    // newer one (two batches overlap) is then read in its turn instead of skipped.
    this.#filesAfter = db.prepare(`
      SELECT * FROM files WHERE id > ? AND id < ?
        AND (status = 'committed' OR (kind = 'quarantine' AND status = 'released'))
      ORDER BY id LIMIT ?`);
    this.#marksAfter = db.prepare(`
      SELECT id, kind, intent_at, committed_at FROM files WHERE id > ? AND id < ?
        AND (status = 'committed' OR (kind = 'quarantine' AND status = 'released'))
      ORDER BY id LIMIT ?`);
    this.#oldestIntent = db.prepare(`SELECT min(id) AS id FROM files WHERE status = 'intent'`);
    this.#lastRow = db.prepare(`SELECT max(id) AS id FROM files`);
    this.#lastEvent = db.prepare(`SELECT max(id) AS id FROM events`);
    // The newest event is never pruned: SQLite gives a table without AUTOINCREMENT the next id
    // after its largest, so an emptied journal would hand out ids that readers' cursors (the
    // event stream's) have passed already.
    this.#prune = db.prepare(`
      DELETE FROM events WHERE id IN (
        SELECT id FROM events WHERE at < ? AND id < (SELECT max(id) FROM events)
        ORDER BY at LIMIT ?)`);
    this.#holds = db.prepare(`SELECT * FROM holds ORDER BY at`);
    this.#putHold = db.prepare(`
      INSERT OR REPLACE INTO holds (source, device, inode, size, mtime_ms, actor, reason, at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?)`);
    this.#dropHold = db.prepare(`DELETE FROM holds WHERE source = ?`);
    this.#getSetting = db.prepare(`SELECT value FROM settings WHERE key = ?`);
    this.#putSetting = db.prepare(
      `INSERT OR REPLACE INTO settings (key, value, at) VALUES (?, ?, ?)`,
    );
    this.#dropSetting = db.prepare(`DELETE FROM settings WHERE key = ?`);
  }

  /** Records one event inside the caller's transaction (a change and its announcement). */
  record(event: NewJournalEvent, at: number): number {
    const info = this.#insert.run(
      event.fileId,
      event.source === null ? null : toBytes(event.source),
      at,
      event.type,
      event.actor,
      event.detail === null ? null : JSON.stringify(event.detail),
    );
    return Number(info.lastInsertRowid);
  }

  recordEvents(events: readonly NewJournalEvent[], at: number): number[] {
    return this.#db.transaction(() => events.map((e) => this.record(e, at))).immediate();
  }

  fileEvents(fileId: number, source: FsPath, until: number, limit: number): JournalEvent[] {
    return this.#byFile.all({ fileId, source: toBytes(source), until, limit }).map(toEvent);
  }

  /** Rows below the oldest open intent are settled: a reader may pass them. */
  #settledBound(): number {
    return this.#oldestIntent.get()?.id ?? Number.MAX_SAFE_INTEGER;
  }

  eventsCursor(): string {
    const lastRow = Math.min(this.#settledBound() - 1, this.#lastRow.get()?.id ?? 0);
    return encodeEventCursor(lastRow, this.#lastEvent.get()?.id ?? 0);
  }

  eventsAfter(cursor: string | undefined, limit: number, until?: string): DurableEventPage {
    return this.#merged(cursor, limit, until, (after, bound) =>
      this.#filesAfter.all(after, bound, limit).map((raw) => {
        const row = toRow(raw);
        return { id: row.id, kind: row.kind, at: rowAt(row), row };
      }),
    );
  }

  eventMarksAfter(cursor: string | undefined, limit: number): DurableMarkPage {
    return this.#merged(cursor, limit, undefined, (after, bound) =>
      this.#marksAfter.all(after, bound, limit).map((m) => ({
        id: m.id,
        kind: m.kind,
        at: rowAt({ kind: m.kind, intentAt: m.intent_at, committedAt: m.committed_at }),
        row: undefined,
      })),
    );
  }

  /**
   * Durable events after `cursor` (up to `until`), at most `limit`: the settled rows that
   * `rowsAfter(after, bound)` reads and the journal's events, merged by time; each side is in
   * commit order and has its own place in the cursor.
   */
  #merged<R extends FileRow | undefined>(
    cursor: string | undefined,
    limit: number,
    until: string | undefined,
    rowsAfter: (after: number, bound: number) => SettledRow<R>[],
  ): { events: MergedEvent<R>[]; cursor: string } {
    const start = cursor === undefined ? { fileId: 0, eventId: 0 } : decodeEventCursor(cursor);
    const end = until === undefined ? undefined : decodeEventCursor(until);
    const bound = Math.min(this.#settledBound(), end === undefined ? Infinity : end.fileId + 1);
    const rows = rowsAfter(start.fileId, bound);
    const journal = this.#after
      .all(start.eventId, limit)
      .map(toEvent)
      .filter((e) => end === undefined || e.id <= end.eventId);
    let { fileId, eventId } = start;
    const events: MergedEvent<R>[] = [];
    let r = 0;
    let j = 0;
    while (events.length < limit && (r < rows.length || j < journal.length)) {
      const row = rows[r];
      const event = journal[j];
      if (row !== undefined && (event === undefined || row.at <= event.at)) {
        fileId = row.id;
        r += 1;
        const type = FILE_EVENT_TYPES[row.kind];
        const place = encodeEventCursor(fileId, eventId);
        events.push({ kind: 'file', type, at: row.at, id: row.id, row: row.row, cursor: place });
      } else {
        eventId = event!.id;
        j += 1;
        events.push({
          kind: 'journal',
          type: event!.type,
          at: event!.at,
          event: event!,
          cursor: encodeEventCursor(fileId, eventId),
        });
      }
    }
    return { events, cursor: encodeEventCursor(fileId, eventId) };
  }

  pruneEvents(before: number, limit: number): number {
    return this.#prune.run(before, limit).changes;
  }

  holds(): Hold[] {
    return this.#holds.all().map(toHold);
  }

  hold(hold: Hold, event: NewJournalEvent): void {
    const { identity: i } = hold;
    this.#db
      .transaction(() => {
        this.#putHold.run(
          toBytes(hold.source),
          i.device,
          i.inode,
          i.size,
          i.mtimeMs,
          hold.actor,
          hold.reason,
          hold.at,
        );
        this.record(event, hold.at);
      })
      .immediate();
  }

  releaseHold(source: FsPath, event: NewJournalEvent, at: number): boolean {
    return this.#db
      .transaction(() => {
        if (this.#dropHold.run(toBytes(source)).changes === 0) return false;
        this.record(event, at);
        return true;
      })
      .immediate();
  }

  readSetting(key: string): string | undefined {
    return this.#getSetting.get(key)?.value;
  }

  writeSetting(key: string, value: string | null, event: NewJournalEvent, at: number): void {
    this.#db
      .transaction(() => {
        if (value === null) this.#dropSetting.run(key);
        else this.#putSetting.run(key, value, at);
        this.record(event, at);
      })
      .immediate();
  }
}
