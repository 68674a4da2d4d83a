import type { Database as DatabaseType, Statement } from 'better-sqlite3';
import type { FsPath } from '../interfaces.js';
import { fromBytes, toBytes } from '../paths.js';
import type { RawRow } from './sqlite-rows.js';
import { toRow } from './sqlite-rows.js';
import type {
  DurableEvent,
  DurableEventPage,
  Hold,
  JournalEvent,
  JournalEventType,
  NewJournalEvent,
} from './store.js';

/** A row of `events` as SQLite returns it. */
interface RawEvent {
  id: number;
  file_id: number | null;
  source: Buffer | null;
  at: number;
  type: JournalEventType;
  actor: string | null;
  detail: string | null;
}

interface RawHold {
  source: Buffer;
  device: number;
  inode: number;
  size: number;
  mtime_ms: number;
  actor: string;
  reason: Hold['reason'];
  at: number;
}

function toEvent(raw: RawEvent): JournalEvent {
  return {
    id: raw.id,
    at: raw.at,
    type: raw.type,
    fileId: raw.file_id,
    source: raw.source === null ? null : fromBytes(raw.source),
    actor: raw.actor,
    detail: raw.detail === null ? null : (JSON.parse(raw.detail) as Record<string, unknown>),
  };
}

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

const FILE_EVENT_TYPES = {
  ingest: 'ingested',
  duplicate: 'duplicate',
  quarantine: 'quarantined',
} as const;

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
    this.#oldestIntent = db.prepare(`SELECT min(id) AS id FROM files WHERE status = 'intent'`);
    this.#lastRow = db.prepare(`SELECT max(id) AS id FROM files`);
    this.#lastEvent = db.prepare(`SELECT max(id) AS id FROM events`);
    this.#prune = db.prepare(
      `DELETE FROM events WHERE id IN (SELECT id FROM events WHERE at < ? ORDER BY at LIMIT ?)`,
    );
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

  #record(event: NewJournalEvent, at: number): number {
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
    return this.#db.transaction(() => events.map((e) => this.#record(e, at))).immediate();
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
    const start = cursor === undefined ? { fileId: 0, eventId: 0 } : decodeEventCursor(cursor);
    const end = until === undefined ? undefined : decodeEventCursor(until);
    const bound = Math.min(this.#settledBound(), end === undefined ? Infinity : end.fileId + 1);
    const rows = this.#filesAfter.all(start.fileId, bound, limit).map(toRow);
    const journal = this.#after
      .all(start.eventId, limit)
      .map(toEvent)
      .filter((e) => end === undefined || e.id <= end.eventId);
    let { fileId, eventId } = start;
    const events: DurableEvent[] = [];
    let r = 0;
    let j = 0;
    // Merged by time; each side is in commit order, and each has its own place in the cursor.
    while (events.length < limit && (r < rows.length || j < journal.length)) {
      const row = rows[r];
      const event = journal[j];
      // A release rewrites a quarantine row's committed_at: its quarantine is at its intent.
      const rowAt =
        row === undefined
          ? Infinity
          : row.kind === 'quarantine'
            ? row.intentAt
            : (row.committedAt ?? row.intentAt);
      if (row !== undefined && (event === undefined || rowAt <= event.at)) {
        fileId = row.id;
        r += 1;
        const type = FILE_EVENT_TYPES[row.kind];
        events.push({
          kind: 'file',
          type,
          at: rowAt,
          row,
          cursor: encodeEventCursor(fileId, eventId),
        });
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
    return this.#holds.all().map((h) => ({
      source: fromBytes(h.source),
      identity: { device: h.device, inode: h.inode, size: h.size, mtimeMs: h.mtime_ms },
      actor: h.actor,
      reason: h.reason,
      at: h.at,
    }));
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
        this.#record(event, hold.at);
      })
      .immediate();
  }

  releaseHold(source: FsPath, event: NewJournalEvent, at: number): boolean {
    return this.#db
      .transaction(() => {
        if (this.#dropHold.run(toBytes(source)).changes === 0) return false;
        this.#record(event, at);
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
        this.#record(event, at);
      })
      .immediate();
  }
}
