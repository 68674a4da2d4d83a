import { toDelivery } from '../raw-rows.js';
import type { RawDelivery } from '../raw-rows.js';
import type pg from 'pg';
import type { Delivery, DeliveryAttempt, DeliveryFilter, OutboxMessage } from '../store.js';
import type { Queryable } from './connect.js';

/** How long a daemon holds the messages it is sending (an attempt takes at most 10 s). */
const CLAIM_MS = 60_000;

/**
 * A message for a file's row goes only once that row is committed (a row that does not exist,
 * or one still an intent in another daemon's open transaction, is not).
 */
const COMMITTED = `(file_id IS NULL OR EXISTS (
  SELECT 1 FROM files WHERE files.id = webhook_outbox.file_id AND files.status = 'committed'))`;

const COLUMNS =
  'id, msg_id, endpoint, type, body, created_at, attempts, next_at, status, last_status, last_error, delivered_at';

/** The messages as parallel arrays, for one `unnest` insert. */
function columns(messages: readonly OutboxMessage[]): string[][] {
  return [
    messages.map((m) => m.msgId),
    messages.map((m) => m.endpoint),
    messages.map((m) => m.type),
    messages.map((m) => m.body),
  ];
}

/**
 * The webhooks' outbox in the PostgreSQL state: one row per message and endpoint, written in
 * the transaction of what it announces (a quarantine's commit, an hour's close) or in one of its
 * own (a pause, a start), and marked as each attempt ends. Several messages go in one statement
 * (`unnest`, in their order); endpoint and busy lists travel as arrays.
 */
export class PgOutbox {
  readonly #pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  /** Writes messages; called inside the transaction of what they announce, or alone. */
  async insert(q: Queryable, messages: readonly OutboxMessage[], at: number): Promise<void> {
    if (messages.length === 0) return;
    await q.query(
      `INSERT INTO webhook_outbox (msg_id, endpoint, type, body, created_at, next_at, attempts, status)
       SELECT msg_id, endpoint, type, body, $5, $5, 0, 'pending'
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
         WITH ORDINALITY AS m(msg_id, endpoint, type, body, n)
       ORDER BY n`,
      [...columns(messages), at],
    );
  }

  /**
   * Writes the messages of a file's row (a quarantine) with its intent: `data.id` is set to the
   * row's id; they go once the row is committed. The body is rewritten by `jsonb`, as SQLite's
   * `json_set` rewrites it: the same JSON, its keys in jsonb's order.
   */
  async insertForFile(
    q: Queryable,
    messages: readonly OutboxMessage[],
    at: number,
    fileId: number,
  ): Promise<void> {
    if (messages.length === 0) return;
    await q.query(
      `INSERT INTO webhook_outbox
         (msg_id, endpoint, type, body, created_at, next_at, attempts, status, file_id)
       SELECT msg_id, endpoint, type, jsonb_set(body::jsonb, '{data,id}', to_jsonb($6::bigint))::text,
         $5, $5, 0, 'pending', $6
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
         WITH ORDINALITY AS m(msg_id, endpoint, type, body, n)
       ORDER BY n`,
      [...columns(messages), at, fileId],
    );
  }

  /** Deletes the messages of a row that was not committed (rolled back). */
  async dropForFile(q: Queryable, fileId: number): Promise<void> {
    await q.query(`DELETE FROM webhook_outbox WHERE file_id = $1 AND status = 'pending'`, [fileId]);
  }

  /** Writes messages in a transaction of their own (one statement is one). */
  async announce(messages: readonly OutboxMessage[], at: number): Promise<void> {
    await this.insert(this.#pool, messages, at);
  }

  async dueDeliveries(
    now: number,
    endpoints: readonly string[],
    limit: number,
    busy: readonly number[],
  ): Promise<Delivery[]> {
    // Several daemons may deliver the same endpoint's messages: each takes the ones it sends
    // (skipping those another holds), and puts their next try CLAIM_MS ahead, so that no other
    // daemon sends them meanwhile; the attempt's outcome sets it again. A daemon that dies
    // mid-attempt leaves its messages to the others after CLAIM_MS.
    const { rows } = await this.#pool.query<RawDelivery & { due_at: number }>(
      `WITH due AS (
         SELECT id, next_at FROM webhook_outbox
         WHERE status = 'pending' AND next_at <= $1
           AND endpoint = ANY($2::text[])
           AND id <> ALL($3::bigint[])
           AND ${COMMITTED}
         ORDER BY next_at, id LIMIT $4
         FOR UPDATE SKIP LOCKED)
       UPDATE webhook_outbox SET next_at = $5 FROM due WHERE webhook_outbox.id = due.id
       RETURNING ${COLUMNS.split(', ')
         .map((c) => `webhook_outbox.${c}`)
         .join(', ')}, due.next_at AS due_at`,
      [now, endpoints, busy, limit, now + CLAIM_MS],
    );
    rows.sort((a, b) => a.due_at - b.due_at || a.id - b.id);
    return rows.map((r) => ({ ...toDelivery(r), nextAt: r.due_at }));
  }

  async nextDeliveryAt(
    endpoints: readonly string[],
    busy: readonly number[],
  ): Promise<number | undefined> {
    const { rows } = await this.#pool.query<{ at: number | null }>(
      `SELECT min(next_at) AS at FROM webhook_outbox
       WHERE status = 'pending'
         AND endpoint = ANY($1::text[])
         AND id <> ALL($2::bigint[])
         AND ${COMMITTED}`,
      [endpoints, busy],
    );
    return rows[0]?.at ?? undefined;
  }

  async deliveryAttempted(id: number, attempt: DeliveryAttempt): Promise<void> {
    if (attempt.ok) {
      await this.#pool.query(
        `UPDATE webhook_outbox SET status = 'delivered', attempts = attempts + 1,
           delivered_at = $1, last_status = $2, last_error = NULL, next_at = NULL
         WHERE id = $3`,
        [attempt.at, attempt.status, id],
      );
      return;
    }
    await this.#pool.query(
      `UPDATE webhook_outbox SET attempts = attempts + 1, last_status = $1, last_error = $2,
         next_at = $3, status = CASE WHEN $3::bigint IS NULL THEN 'gave-up' ELSE 'pending' END
       WHERE id = $4`,
      [attempt.status, attempt.error, attempt.nextAt, id],
    );
  }

  async deliveries(filter: DeliveryFilter): Promise<Delivery[]> {
    const { rows } = await this.#pool.query<RawDelivery>(
      `SELECT ${COLUMNS} FROM webhook_outbox
       WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR type = $2)
         AND ($3::bigint IS NULL OR id < $3) AND ($4::bigint IS NULL OR id = $4)
       ORDER BY id DESC LIMIT $5`,
      [
        filter.status ?? null,
        filter.type ?? null,
        filter.idBelow ?? null,
        filter.id ?? null,
        filter.limit,
      ],
    );
    return rows.map(toDelivery);
  }

  /**
   * Puts a message back to be sent at `at`, with its id (receivers drop what they had); its
   * three days of retries count from then.
   */
  async redeliver(id: number, at: number): Promise<Delivery | undefined> {
    const { rows } = await this.#pool.query<RawDelivery>(
      `UPDATE webhook_outbox SET status = 'pending', next_at = $1, created_at = $1
       WHERE id = $2 RETURNING ${COLUMNS}`,
      [at, id],
    );
    return rows[0] === undefined ? undefined : toDelivery(rows[0]);
  }

  async pendingByEndpoint(): Promise<Map<string, number>> {
    const { rows } = await this.#pool.query<{ endpoint: string; n: number }>(
      `SELECT endpoint, count(*) AS n FROM webhook_outbox WHERE status = 'pending' GROUP BY endpoint`,
    );
    return new Map(rows.map((r) => [r.endpoint, r.n]));
  }

  /**
   * Removes up to `limit` delivered or given-up messages written before `before`; rows another
   * daemon is pruning now are skipped, not waited for.
   */
  async prune(before: number, limit: number): Promise<number> {
    const result = await this.#pool.query(
      `DELETE FROM webhook_outbox WHERE id IN (
         SELECT id FROM webhook_outbox WHERE status <> 'pending' AND created_at < $1
         LIMIT $2 FOR UPDATE SKIP LOCKED)`,
      [before, limit],
    );
    return result.rowCount ?? 0;
  }
}
