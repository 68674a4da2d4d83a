import pg from 'pg';
import type { PoolClient, PoolConfig } from 'pg';
import { IngestError, UsageError, errnoCode } from '../../errors.js';
import { FlagValueError } from '../../options/values.js';
import { PG_MIGRATIONS } from './schema.js';

/** How long a connection may take to open (a host that drops packets answers nothing). */
export const CONNECT_TIMEOUT_MS = 5000;
/** How long any one statement may run on the server, and the client wait for an answer. */
export const QUERY_TIMEOUT_MS = 15_000;
/** The advisory lock that makes migrations run once when several daemons start together. */
const MIGRATION_LOCK = 0x696e6765; // 'inge'

/** Connections per daemon: the pipeline's claim and commit, the API's reads, the closer. */
const POOL_SIZE = 6;

/** The SQLSTATE classes and errno codes that mean "the database is not reachable now". */
const UNREACHABLE_ERRNO = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'EAI_AGAIN',
]);

/** A PostgreSQL URL with its password hidden, for every message that names it. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return url.replace(/:[^:@/]*@/, ':***@');
  }
}

/**
 * Refuses, as a usage error, a `--state-url` that is not a PostgreSQL URL. `flag` and
 * `sqliteFlag`: the flags another command gives the two states by (`state copy`: --to, --from).
 */
export function checkStateUrl(url: string, flag = 'state-url', sqliteFlag = 'state-path'): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new FlagValueError(
      flag,
      `is not a URL (expected postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE), got ${JSON.stringify(redactUrl(url))}`,
    );
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw new FlagValueError(
      flag,
      `must start with postgres:// or postgresql:// (the SQLite state is --${sqliteFlag}), got ${JSON.stringify(redactUrl(url))}`,
    );
  }
}

/** Whether `error` means the database cannot be reached now (down, restarting, network). */
export function isUnreachable(error: unknown): boolean {
  const code = errnoCode(error);
  if (code !== undefined && UNREACHABLE_ERRNO.has(code)) return true;
  // 57P01-57P03: the server is shutting down or starting; 08xxx: the connection broke.
  if (code !== undefined && (/^57P0[123]$/.test(code) || code.startsWith('08'))) return true;
  const message = error instanceof Error ? error.message : '';
  return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|connection timeout|Query read timeout/i.test(
    message,
  );
}

/**
 * The one-line error for a failed connection or start: a bad URL, a wrong password or a
 * missing database is the operator's to fix (exit 2); a database that does not answer may come
 * back (exit 1). `flag`: the flag that gave the URL.
 */
export function connectError(url: string, failure: unknown, flag = 'state-url'): IngestError {
  // The pool's own "does not answer" (`unanswered`) is said again here with the flag's name.
  const error = isUnanswered(failure) ? (failure as Error).cause : failure;
  const where = `--${flag} ${redactUrl(url)}`;
  const detail = error instanceof Error ? error.message : String(error);
  const code = errnoCode(error);
  // 28P01 wrong password, 28000 no such role / not allowed, 3D000 no such database.
  if (code === '28P01' || code === '28000' || code === '3D000' || code === 'ENOTFOUND') {
    return new UsageError(`${where}: ${detail}`, { cause: error });
  }
  // The server asks for a password that neither the URL nor PGPASSWORD gives (pg's words).
  if (
    /client password must be a string|password authentication|no password supplied/i.test(detail)
  ) {
    return new UsageError(
      `${where}: the database asks for a password, and none was given: put it in the URL or in PGPASSWORD`,
      { cause: error },
    );
  }
  if (isUnreachable(error)) {
    return new IngestError(
      'INGEST_ERR_STATE',
      `${where}: the database does not answer (${detail}); is PostgreSQL running and reachable from here?`,
      { cause: error },
    );
  }
  return new IngestError('INGEST_ERR_STATE', `${where}: ${detail}`, { cause: error });
}

/** BIGINT columns as numbers: ids, sizes and times all stay below 2^53. */
const types = {
  getTypeParser: ((oid: number, format?: string) =>
    oid === 20
      ? (value: string) => Number(value)
      : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};

/**
 * A pool of connections to the state's database, with a timeout on every connection and
 * query, and an `error` handler: an idle connection the server drops (a restart) is logged by
 * the caller and replaced at the next query, never an uncaught exception.
 */
export function createPool(
  url: string,
  onError: (error: Error) => void,
  size = POOL_SIZE,
): pg.Pool {
  const config: PoolConfig = {
    connectionString: url,
    max: size,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    query_timeout: QUERY_TIMEOUT_MS,
    statement_timeout: QUERY_TIMEOUT_MS,
    idle_in_transaction_session_timeout: QUERY_TIMEOUT_MS * 2,
    idleTimeoutMillis: 30_000,
    keepAlive: true,
    application_name: 'ingestor',
    types,
  };
  const pool = new pg.Pool(config);
  pool.on('error', onError);
  // Every failure to reach the database, wherever it is met, says which database and that it
  // does not answer: the pause line an operator reads names it (the promise forms only are
  // used here).
  const where = redactUrl(url);
  places.set(pool, where);
  const query = pool.query.bind(pool) as (...args: unknown[]) => Promise<unknown>;
  const connect = pool.connect.bind(pool) as (callback?: unknown) => Promise<PoolClient>;
  Object.assign(pool, {
    query: (...args: unknown[]) =>
      typeof args.at(-1) === 'function'
        ? query(...args)
        : query(...args).catch((error: unknown) => unanswered(where, error)),
    // pg's own query() connects with a callback: that form is left as it is.
    connect: (callback?: unknown) =>
      callback === undefined
        ? connect().catch((error: unknown) => unanswered(where, error))
        : connect(callback),
  });
  return pool;
}

/** Whether `error` is the pool's "does not answer" (`unanswered`), its cause unreachable. */
export function isUnanswered(error: unknown): boolean {
  return (
    error instanceof IngestError && error.code === 'INGEST_ERR_STATE' && isUnreachable(error.cause)
  );
}

/** Each pool's database, as messages name it (password hidden). */
const places = new WeakMap<pg.Pool, string>();

/** Rethrows `error`, as "the state database ... does not answer" when it means that. */
function unanswered(where: string, error: unknown): never {
  if (!isUnreachable(error)) throw error;
  const detail = error instanceof Error ? error.message : String(error);
  throw new IngestError(
    'INGEST_ERR_STATE',
    `the state database ${where} does not answer (${detail}); is PostgreSQL running and reachable from here?`,
    { cause: error },
  );
}

/** A queryable connection: the pool itself, or a client inside a transaction. */
export type Queryable = Pick<pg.Pool | PoolClient, 'query'>;

/**
 * Runs `fn` in one transaction on a client of its own: committed when it resolves, rolled back
 * when it throws. A client whose connection broke is dropped from the pool, not reused.
 */
export async function inTransaction<T>(
  pool: pg.Pool,
  fn: (client: PoolClient) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  // A server that goes away while the client is checked out makes it emit `error`: without a
  // listener that would end the process. The query under way fails on its own as well.
  const onError = (error: Error) => {
    broken = error;
  };
  client.on('error', onError);
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    try {
      await client.query('ROLLBACK');
    } catch (rollbackError) {
      broken = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
    }
    if (isUnreachable(error)) broken ??= error as Error;
    unanswered(places.get(pool) ?? 'PostgreSQL', error);
  } finally {
    client.off('error', onError);
    client.release(broken);
  }
}

/**
 * Brings the schema up to date: every missing migration in one transaction, under an advisory
 * lock held for the transaction, so that two daemons starting at once migrate once and the
 * second sees the first's result. A schema newer than this ingestor is refused.
 */
export async function migrate(pool: pg.Pool, readonly: boolean): Promise<void> {
  await inTransaction(pool, async (client) => {
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await client.query(
      `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL, migrated_at TIMESTAMPTZ NOT NULL DEFAULT now())`,
    );
    const { rows } = await client.query<{ version: number | null }>(
      'SELECT max(version) AS version FROM schema_version',
    );
    const version = rows[0]?.version ?? 0;
    if (version > PG_MIGRATIONS.length) {
      throw new Error(
        `schema version ${version} is newer than this ingestor knows (${PG_MIGRATIONS.length}); run the newer ingestor that wrote it`,
      );
    }
    if (version === PG_MIGRATIONS.length) return;
    if (readonly && version > 0) {
      throw new Error(`schema version ${version} needs a migration; run the daemon once`);
    }
    for (let v = version; v < PG_MIGRATIONS.length; v += 1) {
      await client.query(PG_MIGRATIONS[v]!);
      await client.query('INSERT INTO schema_version (version) VALUES ($1)', [v + 1]);
    }
  });
}
