import Database from 'better-sqlite3';
import type { Database as DatabaseType } from 'better-sqlite3';
import { UsageError, errnoCode } from '../errors.js';
import type { CopiedTable } from './copied-tables.js';
import { COPIED_TABLES, sqliteName } from './copied-tables.js';
import { MIGRATIONS } from './schema.js';
import { stateError } from './sqlite-location.js';

/** An identifier in SQL, quoted. */
const quote = (name: string) => `"${name.replaceAll('"', '""')}"`;

/**
 * A SQLite state read out whole, for `ingestor state copy`: checked to be an ingestor state at
 * this ingestor's schema version, then read table by table in pages (keyset on each table's
 * key, so a page costs the same at the millionth row as at the first, and only one page is in
 * memory), all inside one read transaction, so that the pages add up to one consistent state
 * even if another process (an `ingestor retry`) writes meanwhile.
 */
export class SqliteExport {
  readonly #db: DatabaseType;
  readonly #statePath: string;

  private constructor(db: DatabaseType, statePath: string) {
    this.#db = db;
    this.#statePath = statePath;
  }

  /**
   * Opens the state at `statePath` (`--flag` in messages) and checks what it is: a file that is
   * not a SQLite database, or a database that is not an ingestor state, or a state of another
   * schema version, is a usage error that says so. Opened read-write, though nothing is
   * written: a read-only connection would leave the write-ahead log's files beside the state,
   * which the last connection to close removes.
   */
  static open(statePath: string, flag: string): SqliteExport {
    const named = `--${flag} ${JSON.stringify(statePath)}`;
    let db: DatabaseType;
    try {
      db = new Database(statePath, { fileMustExist: true });
    } catch (error) {
      throw stateError(statePath, 'cannot be opened', error);
    }
    try {
      checkState(db, named);
    } catch (error) {
      db.close();
      if (errnoCode(error) === 'SQLITE_NOTADB') {
        throw new UsageError(`${named} is not an ingestor state: ${(error as Error).message}`, {
          cause: error,
        });
      }
      if (error instanceof UsageError) throw error;
      throw stateError(statePath, 'cannot be read', error);
    }
    return new SqliteExport(db, statePath);
  }

  /** Starts the read transaction every later page is read in. */
  begin(): void {
    this.#db.exec('BEGIN');
  }

  /**
   * The rows of `table`, `size` at a time, as arrays in the order of its columns. A read that
   * fails is a state error naming the file.
   */
  *pages(table: CopiedTable, size: number): Generator<unknown[][]> {
    const columns = table.columns.map((c) => quote(sqliteName(c))).join(', ');
    const keyAt = table.columns.findIndex((c) => c.name === table.key);
    const key = quote(sqliteName(table.columns[keyAt]!));
    const from = quote(table.name);
    const read = (after: unknown): unknown[][] => {
      try {
        const where = after === undefined ? '' : `WHERE ${key} > ?`;
        const statement = this.#db
          .prepare(`SELECT ${columns} FROM ${from} ${where} ORDER BY ${key} LIMIT ?`)
          .raw(true);
        return (
          after === undefined ? statement.all(size) : statement.all(after, size)
        ) as unknown[][];
      } catch (error) {
        throw stateError(this.#statePath, 'cannot be read', error);
      }
    };
    let page = read(undefined);
    while (page.length > 0) {
      yield page;
      if (page.length < size) return;
      page = read(page[page.length - 1]![keyAt]);
    }
  }

  /** Ends the read transaction (it wrote nothing) and closes the state. */
  close(): void {
    if (!this.#db.open) return;
    if (this.#db.inTransaction) this.#db.exec('ROLLBACK');
    this.#db.close();
  }
}

/**
 * Throws a UsageError unless `db` is an ingestor state at this ingestor's schema version with
 * every table and column the copy reads (SQLite's own error for a file that is no database).
 */
function checkState(db: DatabaseType, named: string): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  const tables = new Set(
    db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table'`).pluck().all() as string[],
  );
  if (!tables.has('files')) {
    throw new UsageError(`${named} is not an ingestor state (it has no files table)`);
  }
  const current = MIGRATIONS.length;
  if (version > current) {
    throw new UsageError(
      `${named} has schema version ${version}, newer than this ingestor knows (${current}): copy it with the newer ingestor that wrote it`,
    );
  }
  if (version < current) {
    throw new UsageError(
      `${named} has schema version ${version}, older than this ingestor's (${current}): start this ingestor's daemon on it once (it migrates the state as it starts), stop it, then copy`,
    );
  }
  for (const table of COPIED_TABLES) {
    const have = new Set(
      (db.pragma(`table_info(${quote(table.name)})`) as { name: string }[]).map((c) => c.name),
    );
    const missing = table.columns.map(sqliteName).find((c) => !have.has(c));
    if (have.size === 0 || missing !== undefined) {
      throw new UsageError(
        `${named} is not an ingestor state of schema version ${version} (${have.size === 0 ? `no ${table.name} table` : `no column ${missing} in ${table.name}`})`,
      );
    }
  }
}
