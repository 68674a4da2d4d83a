import { IngestError, UsageError } from '../../errors.js';
import {
  checkStateUrl,
  connectError,
  createPool,
  isUnanswered,
  migrate,
  redactUrl,
} from './connect.js';
import { NodeLease } from './node.js';
import type { LeaseEvents } from './node.js';
import { PgStateStore } from './store.js';

/** What a daemon asks of its lease. */
export interface LeaseRequest {
  nodeId: string;
  leaseMs: number;
  startedAt: number;
  events: LeaseEvents;
  /** The first ms of the oldest hour a batch in memory holds (or of the hour it is in). */
  heldFrom: () => number;
  /** The daemon's --input: it shares it with the daemons that have the same. */
  input: string;
  /** Handed the lease once taken (the orchestrator checks it before each placing step). */
  taken?: (lease: NodeLease) => void;
}

export interface PgOpenOptions {
  readonly: boolean;
  mustExist: boolean;
  lease?: LeaseRequest;
  /** An idle connection the server dropped; the pool replaces it at the next query. */
  onPoolError?: (error: Error) => void;
}

/** The state's place for messages: the file, or the database with its password hidden. */
export function describeState(location: { statePath: string; stateUrl?: string | undefined }) {
  return location.stateUrl === undefined
    ? JSON.stringify(location.statePath)
    : redactUrl(location.stateUrl);
}

/**
 * Connects to the PostgreSQL state, migrates it (once, whoever starts first), and for a daemon
 * takes its node's lease and starts renewing it. Any failure is one line: a usage error (exit 2)
 * for a bad URL, password or database, a state error (exit 1) for a database that does not
 * answer.
 */
export async function openPgState(url: string, options: PgOpenOptions): Promise<PgStateStore> {
  checkStateUrl(url);
  const pool = createPool(url, options.onPoolError ?? (() => {}));
  // The lease is renewed on a connection of its own: never behind the daemon's claims, the
  // API's reads or a query waiting on a lock.
  const leasePool =
    options.lease === undefined ? undefined : createPool(url, options.onPoolError ?? (() => {}), 1);
  let lease: NodeLease | undefined;
  try {
    if (options.mustExist) {
      const { rows } = await pool.query<{ present: boolean }>(
        `SELECT to_regclass('schema_version') IS NOT NULL AS present`,
      );
      if (rows[0]?.present !== true) {
        throw new UsageError(
          `--state-url ${redactUrl(url)} holds no ingestor state (no daemon ran with it yet)`,
        );
      }
    }
    await migrate(pool, options.readonly);
    if (options.lease !== undefined) {
      const { nodeId, leaseMs, startedAt, events, heldFrom, input } = options.lease;
      lease = await NodeLease.acquire(
        leasePool!,
        nodeId,
        leaseMs,
        startedAt,
        events,
        heldFrom,
        input,
      );
      options.lease.taken?.(lease);
      lease.start();
    }
  } catch (error) {
    await pool.end().catch(() => {});
    await leasePool?.end().catch(() => {});
    if (error instanceof IngestError && !isUnanswered(error)) throw error;
    throw connectError(url, error);
  }
  const held = lease;
  return new PgStateStore({
    pool,
    ...(held === undefined
      ? {}
      : {
          writer: held,
          onClose: async () => {
            try {
              await held.stop(held.live(), Date.now());
            } finally {
              await leasePool!.end();
            }
          },
        }),
  });
}
