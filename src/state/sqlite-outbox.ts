import { toDelivery } from './raw-rows.js';
import type { RawDelivery } from './raw-rows.js';
import type { Database as DatabaseType, Statement } from 'better-sqlite3';
import type { Delivery, DeliveryAttempt, DeliveryFilter, OutboxMessage } from './store.js';

/** A message for a file's row goes only once that row is committed. */
const COMMITTED = `(SELECT status FROM files WHERE files.id = webhook_outbox.file_id) = 'committed'`;

const COLUMNS =
  'id, msg_id, endpoint, type, body, created_at, attempts, next_at, status, last_status, last_error, delivered_at';

/**
 * The webhooks' outbox: one row per message and endpoint, written in the transaction of what it
 * announces (a quarantine's commit, an hour's close) or in one of its own (a pause, a start),
 * and marked as each attempt ends. Endpoint and busy lists travel as JSON arrays (`json_each`),
 * so that each statement is prepared once.
 */
export class SqliteOutbox {
  readonly #db: DatabaseType;
  readonly #insert: Statement<[string, string, string, string, number, number]>;
  readonly #insertForFile: Statement<
    [{ msgId: string; endpoint: string; type: string; body: string; at: number; fileId: number }]
  >;
  readonly #dropForFile: Statement<[number]>;
  readonly #due: Statement<[number, string, string, number], RawDelivery>;
  readonly #next: Statement<[string, string], { at: number | null }>;
  readonly #delivered: Statement<[number, number, number]>;
  readonly #failed: Statement<
    [{ status: number | null; error: string; nextAt: number | null; id: number }]
  >;
  readonly #list: Statement<
    [
      {
        status: string | null;
        type: string | null;
        idBelow: number | null;
        id: number | null;
        limit: number;
      },
    ],
    RawDelivery
  >;
  readonly #redeliver: Statement<[{ at: number; id: number }], RawDelivery>;
  readonly #pending: Statement<[], { endpoint: string; n: number }>;
  readonly #prune: Statement<[number, number]>;

  constructor(db: DatabaseType) {
    this.#db = db;
    this.#insert = db.prepare(
      `INSERT INTO webhook_outbox (msg_id, endpoint, type, body, created_at, next_at, attempts, status)
       VALUES (?, ?, ?, ?, ?, ?, 0, 'pending')`,
    );
    this.#insertForFile = db.prepare(
      `INSERT INTO webhook_outbox
         (msg_id, endpoint, type, body, created_at, next_at, attempts, status, file_id)
       VALUES (@msgId, @endpoint, @type, json_set(@body, '$.data.id', @fileId), @at, @at, 0,
         'pending', @fileId)`,
    );
    this.#dropForFile = db.prepare(
      `DELETE FROM webhook_outbox WHERE file_id = ? AND status = 'pending'`,
    );
    this.#due = db.prepare(
      `SELECT ${COLUMNS} FROM webhook_outbox
       WHERE status = 'pending' AND next_at <= ?
         AND endpoint IN (SELECT value FROM json_each(?))
         AND id NOT IN (SELECT value FROM json_each(?))
         AND (file_id IS NULL OR ${COMMITTED})
       ORDER BY next_at, id LIMIT ?`,
    );
    this.#next = db.prepare(
      `SELECT min(next_at) AS at FROM webhook_outbox
       WHERE status = 'pending'
         AND endpoint IN (SELECT value FROM json_each(?))
         AND id NOT IN (SELECT value FROM json_each(?))
         AND (file_id IS NULL OR ${COMMITTED})`,
    );
    this.#delivered = db.prepare(
      `UPDATE webhook_outbox SET status = 'delivered', attempts = attempts + 1, delivered_at = ?,
         last_status = ?, last_error = NULL, next_at = NULL
       WHERE id = ?`,
    );
    this.#failed = db.prepare(
      `UPDATE webhook_outbox SET attempts = attempts + 1, last_status = @status,
         last_error = @error, next_at = @nextAt,
         status = CASE WHEN @nextAt IS NULL THEN 'gave-up' ELSE 'pending' END
       WHERE id = @id`,
    );
    this.#list = db.prepare(
      `SELECT ${COLUMNS} FROM webhook_outbox
       WHERE (@status IS NULL OR status = @status) AND (@type IS NULL OR type = @type)
         AND (@idBelow IS NULL OR id < @idBelow) AND (@id IS NULL OR id = @id)
       ORDER BY id DESC LIMIT @limit`,
    );
    this.#redeliver = db.prepare(
      `UPDATE webhook_outbox SET status = 'pending', next_at = @at, created_at = @at
       WHERE id = @id RETURNING ${COLUMNS}`,
    );
    this.#pending = db.prepare(
      `SELECT endpoint, count(*) AS n FROM webhook_outbox WHERE status = 'pending' GROUP BY endpoint`,
    );
    this.#prune = db.prepare(
      `DELETE FROM webhook_outbox WHERE id IN (
         SELECT id FROM webhook_outbox WHERE status != 'pending' AND created_at < ? LIMIT ?)`,
    );
  }

  /** Writes messages; called inside the transaction of what they announce, or alone. */
  insert(messages: readonly OutboxMessage[], at: number): void {
    for (const m of messages) this.#insert.run(m.msgId, m.endpoint, m.type, m.body, at, at);
  }

  /**
   * Writes the messages of a file's row (a quarantine) with its intent: `data.id` is set to the
   * row's id; they go once the row is committed.
   */
  insertForFile(messages: readonly OutboxMessage[], at: number, fileId: number): void {
    for (const m of messages) this.#insertForFile.run({ ...m, at, fileId });
  }

  /** Deletes the messages of a row that was not committed (rolled back). */
  dropForFile(fileId: number): void {
    this.#dropForFile.run(fileId);
  }

  /** Writes messages in a transaction of their own. */
  announce(messages: readonly OutboxMessage[], at: number): void {
    if (messages.length === 0) return;
    this.#db.transaction(() => this.insert(messages, at)).immediate();
  }

  dueDeliveries(
    now: number,
    endpoints: readonly string[],
    limit: number,
    busy: readonly number[],
  ): Delivery[] {
    return this.#due
      .all(now, JSON.stringify(endpoints), JSON.stringify(busy), limit)
      .map(toDelivery);
  }

  nextDeliveryAt(endpoints: readonly string[], busy: readonly number[]): number | undefined {
    return this.#next.get(JSON.stringify(endpoints), JSON.stringify(busy))?.at ?? undefined;
  }

  deliveryAttempted(id: number, attempt: DeliveryAttempt): void {
    if (attempt.ok) this.#delivered.run(attempt.at, attempt.status, id);
    else {
      this.#failed.run({
        status: attempt.status,
        error: attempt.error,
        nextAt: attempt.nextAt,
        id,
      });
    }
  }

  deliveries(filter: DeliveryFilter): Delivery[] {
    return this.#list
      .all({
        status: filter.status ?? null,
        type: filter.type ?? null,
        idBelow: filter.idBelow ?? null,
        id: filter.id ?? null,
        limit: filter.limit,
      })
      .map(toDelivery);
  }

  /**
   * Puts a message back to be sent at `at`, with its id (receivers drop what they had); its
   * three days of retries count from then.
   */
  redeliver(id: number, at: number): Delivery | undefined {
    const raw = this.#redeliver.get({ at, id });
    return raw === undefined ? undefined : toDelivery(raw);
  }

  pendingByEndpoint(): Map<string, number> {
    return new Map(this.#pending.all().map((r) => [r.endpoint, r.n]));
  }

  /** Removes up to `limit` delivered or given-up messages written before `before`. */
  prune(before: number, limit: number): number {
    return this.#prune.run(before, limit).changes;
  }
}
