import { toClosedHour } from '../raw-rows.js';
import type { RawClosedHour } from '../raw-rows.js';
import type pg from 'pg';
import { HOUR_MS, hourLabel } from '../../clock.js';
import { FIRST_HOUR_KEY } from '../settings.js';
import type { ClosedHour, HourMarks, OutboxMessage } from '../store.js';
import type { Queryable } from './connect.js';
import { inTransaction } from './connect.js';
import type { PgJournal } from './journal.js';
import type { PgOutbox } from './outbox.js';

/**
 * The advisory lock (transaction scope) that serializes closing hours among daemons: the
 * second of two that close the same hour waits for the first's commit, then reads the marks
 * it left and is refused, as SQLite's one writer at a time would refuse it.
 */
const CLOSE_HOUR_LOCK = 0x686f7572; // 'hour'

/** The marks as `q` sees them: inside a transaction, after its locks. */
async function marksOf(q: Queryable): Promise<HourMarks> {
  const { rows } = await q.query<{ first: string | null; last: number | null }>(
    `SELECT (SELECT value FROM settings WHERE key = $1) AS first,
       (SELECT max(hour) FROM closed_hours) AS last`,
    [FIRST_HOUR_KEY],
  );
  const { first, last } = rows[0]!;
  return {
    firstHour: first === null ? undefined : Number(first),
    closedThrough: last ?? undefined,
  };
}

/**
 * Closed hours in the PostgreSQL state: the first hour to close (a setting), one row per hour
 * closed, and the open intents that keep an hour open. Several daemons share it: the first
 * hour is set by whichever starts first, and closing takes a lock (CLOSE_HOUR_LOCK).
 */
export class PgHours {
  readonly #pool: pg.Pool;
  readonly #journal: PgJournal;
  readonly #outbox: PgOutbox;

  readonly #guard: ((client: Queryable) => Promise<void>) | undefined;

  /** `guard`: run first in the close's transaction (the daemon's lease must be live). */
  constructor(
    pool: pg.Pool,
    journal: PgJournal,
    outbox: PgOutbox,
    guard?: (client: Queryable) => Promise<void>,
  ) {
    this.#pool = pool;
    this.#journal = journal;
    this.#outbox = outbox;
    this.#guard = guard;
  }

  /** Records `hour` as the first hour to close unless one is recorded; the marks after. */
  async beginHours(hour: number, at: number): Promise<HourMarks> {
    return inTransaction(this.#pool, async (client) => {
      await client.query(
        `INSERT INTO settings (key, value, at) VALUES ($1, $2, $3) ON CONFLICT (key) DO NOTHING`,
        [FIRST_HOUR_KEY, String(hour), at],
      );
      return marksOf(client);
    });
  }

  async hourMarks(): Promise<HourMarks> {
    return marksOf(this.#pool);
  }

  /** Through the partial index of open intents; only ingests have a manifest (a line to write). */
  async earliestOpenLineAt(): Promise<number | undefined> {
    const { rows } = await this.#pool.query<{ at: number | null }>(
      `SELECT min(intent_at) AS at FROM files WHERE status = 'intent' AND manifest IS NOT NULL`,
    );
    return rows[0]?.at ?? undefined;
  }

  /**
   * Records `closed.hour` as closed, journals it and writes its announcement in one
   * transaction, under CLOSE_HOUR_LOCK: the marks are read after the lock is held (read
   * committed: a fresh snapshot per statement), so of two daemons closing the same hour the
   * second sees the first's row and throws, writing nothing.
   */
  async closeHour(closed: ClosedHour, announce: readonly OutboxMessage[] = []): Promise<void> {
    await inTransaction(this.#pool, async (client) => {
      await client.query('SELECT pg_advisory_xact_lock($1)', [CLOSE_HOUR_LOCK]);
      await this.#guard?.(client);
      const { firstHour, closedThrough } = await marksOf(client);
      const next = closedThrough === undefined ? firstHour : closedThrough + HOUR_MS;
      if (next !== closed.hour) {
        throw new Error(
          `hour ${hourLabel(closed.hour)} cannot be closed: the next hour to close is ${next === undefined ? 'not set (no daemon began closing hours)' : hourLabel(next)}`,
        );
      }
      const { hour, manifest, lines, bytes, sha256, closedAt } = closed;
      await client.query(
        `INSERT INTO closed_hours (hour, manifest, lines, bytes, sha256, closed_at)
         VALUES ($1, $2, $3, $4, $5, $6)`,
        [hour, manifest, lines, bytes, sha256, closedAt],
      );
      await this.#journal.record(
        client,
        {
          type: 'manifest-closed',
          fileId: null,
          source: null,
          actor: null,
          detail: { hour: hourLabel(hour), manifest, lines, bytes, sha256 },
        },
        closedAt,
      );
      await this.#outbox.insert(client, announce, closedAt);
    });
  }

  async closedHours(): Promise<ClosedHour[]> {
    const { rows } = await this.#pool.query<RawClosedHour>(
      `SELECT hour, manifest, lines, bytes, sha256, closed_at FROM closed_hours ORDER BY hour`,
    );
    return rows.map(toClosedHour);
  }
}
