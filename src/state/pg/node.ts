import os from 'node:os';
import { performance } from 'node:perf_hooks';
import type pg from 'pg';
import { FencedError, IngestError } from '../../errors.js';
import { inTransaction } from './connect.js';
import type { Writer } from './store.js';

/** How often the list of live daemons is read. */
const MEMBERS_MS = 1_000;

/** What the lease reports to the daemon (its logger and pause, through the orchestrator). */
export interface LeaseEvents {
  /** The lease could not be renewed for a while: `untilMs` left before placing stops. */
  renewFailing(error: unknown, leftMs: number): void;
  /** Renewed again after failures. */
  renewed(): void;
  /** The lease is gone (expired, or taken over): nothing more may be placed under it. */
  lost(reason: string): void;
  /** Daemons that share the input started (`came`) or stopped or lost their lease (`gone`). */
  membersChanged?(came: readonly string[], gone: readonly string[]): void;
}

interface NodeRow {
  token: number;
  host: string;
  pid: number;
  live: boolean;
  stopped_at: number | null;
  lease_until: Date;
}

/** Whether a process with this pid runs on this host now. */
function processRuns(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * A daemon's lease in the shared PostgreSQL state (issue 14): one row in `nodes` with a
 * deadline on the database's clock and a fencing token, renewed every third of its length.
 * One lease covers every claim of the daemon: renewing it is one statement, whatever the daemon
 * holds. The daemon stops placing files a third of the lease before the database's deadline
 * (`live()`), counted on its own monotonic clock from when it sent the renewal, so that it stops
 * before any survivor may take its files over, however late the answer came.
 */
export class NodeLease implements Writer {
  readonly nodeId: string;
  readonly leaseMs: number;
  readonly #pool: pg.Pool;
  readonly #events: LeaseEvents;
  #token: number;
  /** performance.now() past which nothing may be placed under this lease. */
  #validUntil: number;
  #timer: NodeJS.Timeout | undefined;
  #failing = false;
  #lost: string | undefined;
  #renewing: Promise<void> | undefined;
  #membersTimer: NodeJS.Timeout | undefined;
  /** The daemons whose lease is live, as the last renewal read them (this one included). */
  #members: readonly string[] = [];
  /** The first ms of the oldest hour this daemon may still write a line to (see `nodes`). */
  readonly #heldFrom: () => number;
  readonly #input: string;

  private constructor(
    pool: pg.Pool,
    nodeId: string,
    leaseMs: number,
    token: number,
    validUntil: number,
    events: LeaseEvents,
    heldFrom: () => number,
    input: string,
  ) {
    this.#heldFrom = heldFrom;
    this.#input = input;
    this.#pool = pool;
    this.nodeId = nodeId;
    this.leaseMs = leaseMs;
    this.#token = token;
    this.#validUntil = validUntil;
    this.#events = events;
  }

  /**
   * Takes the node's row with a fresh fencing token. A node id whose lease is live is refused,
   * unless its holder was this host's process that no longer runs (a kill -9 and a restart, or
   * this very process before it restarted itself in place).
   */
  static async acquire(
    pool: pg.Pool,
    nodeId: string,
    leaseMs: number,
    startedAt: number,
    events: LeaseEvents,
    heldFrom: () => number,
    input: string,
  ): Promise<NodeLease> {
    const sent = performance.now();
    const token = await inTransaction(pool, async (client) => {
      const { rows } = await client.query<NodeRow>(
        `SELECT token, host, pid, stopped_at, lease_until, lease_until > now() AS live
         FROM nodes WHERE node_id = $1 FOR UPDATE`,
        [nodeId],
      );
      const held = rows[0];
      if (held !== undefined && held.live && held.stopped_at === null) {
        const mine = held.host === os.hostname();
        if (!mine || (held.pid !== process.pid && processRuns(held.pid))) {
          throw new IngestError(
            'INGEST_ERR_LOCKED',
            `--node-id ${JSON.stringify(nodeId)} is in use by pid ${held.pid} on ${held.host} (its lease runs until ${held.lease_until.toISOString()}): give each daemon its own --node-id`,
          );
        }
      }
      const taken = await client.query<{ token: number }>(
        `INSERT INTO nodes
           (node_id, token, lease_until, host, pid, started_at, holds_hour_from, input)
         VALUES ($1, nextval('fencing'), now() + $2 * interval '1 millisecond', $3, $4, $5, $6, $7)
         ON CONFLICT (node_id) DO UPDATE SET token = excluded.token,
           lease_until = excluded.lease_until, host = excluded.host, pid = excluded.pid,
           started_at = excluded.started_at, stopped_at = NULL,
           holds_hour_from = excluded.holds_hour_from, input = excluded.input
         RETURNING token`,
        [nodeId, leaseMs, os.hostname(), process.pid, startedAt, heldFrom(), input],
      );
      return taken.rows[0]!.token;
    });
    const lease = new NodeLease(
      pool,
      nodeId,
      leaseMs,
      token,
      sent + (leaseMs * 2) / 3,
      events,
      heldFrom,
      input,
    );
    await lease.#readMembers();
    return lease;
  }

  /**
   * The daemons whose lease is live now and that ingest the same input (this one included), by
   * id: those this one shares its input with.
   */
  get members(): readonly string[] {
    return this.#members;
  }

  async #readMembers(): Promise<void> {
    const { rows } = await this.#pool.query<{ node_id: string }>(
      `SELECT node_id FROM nodes
       WHERE lease_until > clock_timestamp() AND stopped_at IS NULL AND input = $1
       ORDER BY node_id`,
      [this.#input],
    );
    const members = rows.map((r) => r.node_id);
    const others = (list: readonly string[]) => list.filter((m) => m !== this.nodeId);
    const gone = others(this.#members).filter((m) => !members.includes(m));
    const came = others(members).filter((m) => !this.#members.includes(m));
    this.#members = members;
    if (gone.length > 0 || came.length > 0) this.#events.membersChanged?.(came, gone);
  }

  token(): number {
    return this.#token;
  }

  /** Whether files may still be placed under this lease. */
  live(): boolean {
    return this.#lost === undefined && performance.now() < this.#validUntil;
  }

  /** Throws unless `live()`: called before each step that changes the warehouse or a manifest. */
  check(step: string): void {
    if (this.live()) return;
    throw new FencedError(
      `node ${this.nodeId} did not ${step}: ${this.#lost ?? 'its lease could not be renewed in time'}`,
    );
  }

  /** Renews every third of the lease until `stop`. */
  start(): void {
    const tick = () => {
      this.#renewing = this.renew().finally(() => {
        this.#renewing = undefined;
        if (this.#lost === undefined && this.#timer !== undefined) {
          this.#timer = setTimeout(tick, this.leaseMs / 3);
          this.#timer.unref();
        }
      });
    };
    this.#timer = setTimeout(tick, this.leaseMs / 3);
    this.#timer.unref();
    // The list of daemons is read every second, not only at renewals: a daemon that starts
    // takes its share at once, and the others leave it to it within a second (a file two
    // daemons take meanwhile is sorted out by the claim, at the cost of a second read).
    this.#membersTimer = setInterval(() => {
      if (this.#lost === undefined) void this.#readMembers().catch(() => {});
    }, MEMBERS_MS);
    this.#membersTimer.unref();
  }

  /** One renewal: extends the deadline if the lease is still this daemon's and live. */
  async renew(): Promise<void> {
    if (this.#lost !== undefined) return;
    const sent = performance.now();
    try {
      const { rowCount } = await this.#pool.query(
        // clock_timestamp(), not now(): a renewal that waited must not extend a lease that ran
        // out while it waited.
        `UPDATE nodes SET lease_until = clock_timestamp() + $3 * interval '1 millisecond',
           holds_hour_from = $4
         WHERE node_id = $1 AND token = $2 AND lease_until > clock_timestamp()
           AND stopped_at IS NULL`,
        [this.nodeId, this.#token, this.leaseMs, this.#heldFrom()],
      );
      if (rowCount === 0) {
        this.#lose('it ran out before it could be renewed, or another daemon took it');
        return;
      }
      this.#validUntil = sent + (this.leaseMs * 2) / 3;
      // Best effort: the last list stands until the next renewal reads it.
      await this.#readMembers().catch(() => {});
      if (this.#failing) {
        this.#failing = false;
        this.#events.renewed();
      }
    } catch (error) {
      const left = this.#validUntil - performance.now();
      if (left <= 0) {
        this.#lose('the database did not answer in time to renew it');
        return;
      }
      this.#failing = true;
      this.#events.renewFailing(error, left);
    }
  }

  #lose(reason: string): void {
    if (this.#lost !== undefined) return;
    this.#lost = reason;
    this.#validUntil = 0;
    this.#events.lost(reason);
  }

  /** Why the lease is gone, if it is. */
  get lostReason(): string | undefined {
    return this.#lost;
  }

  /**
   * Stops renewing; with `release`, ends the lease in the database (a clean stop: no intent is
   * left, and nobody needs to wait for it to run out).
   */
  async stop(release: boolean, at: number): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    clearInterval(this.#membersTimer);
    await this.#renewing;
    if (!release || this.#lost !== undefined) return;
    await this.#pool.query(
      `UPDATE nodes SET lease_until = now(), stopped_at = $3 WHERE node_id = $1 AND token = $2`,
      [this.nodeId, this.#token, at],
    );
  }
}
