import type { PoolClient } from 'pg';
import { IngestError, UsageError } from '../../errors.js';
import type { CopiedCounts, CopiedTable, CopiedTableName, CopiedType } from '../copied-tables.js';
import { COPIED_TABLES } from '../copied-tables.js';
import {
  connectError,
  createPool,
  inTransaction,
  isUnanswered,
  migrate,
  redactUrl,
} from './connect.js';

/** Where the copied rows come from: each table's rows, a page at a time, in its column order. */
export interface CopySource {
  pages(table: CopiedTable): Iterator<unknown[][]>;
}

/** An identifier in SQL, quoted. */
const quote = (name: string) => `"${name.replaceAll('"', '""')}"`;

/**
 * Columns the copy sets itself. A settled row (committed, aborted, vanished, released) takes
 * its place in the event stream by the transaction that settled it (`settled_xid`): here, the
 * copy's own, so that a stream reading the new state finds every copied row once the copy has
 * committed. An intent has none until a daemon's recovery settles it.
 */
const COMPUTED: Partial<Record<CopiedTableName, Record<string, string>>> = {
  files: { settled_xid: `CASE WHEN r.status <> 'intent' THEN pg_current_xact_id() END` },
};

/** Tables a used PostgreSQL state may hold rows in beyond those copied: a daemon's lease. */
const OTHER_TABLES = ['nodes'];

/**
 * One page of `table` in one statement: each column an array, the rows made by `unnest`.
 * Any other column keeps its default (`node_id`, `token`: NULL; `events.xid`: this transaction).
 */
function insertStatement(table: CopiedTable): string {
  const names = table.columns.map((c) => quote(c.name));
  const computed = Object.entries(COMPUTED[table.name] ?? {});
  const params = table.columns.map((c, i) => `$${i + 1}::${c.type}[]`);
  return `INSERT INTO ${quote(table.name)} (${[...names, ...computed.map(([c]) => quote(c))].join(', ')})
    SELECT ${[...names.map((n) => `r.${n}`), ...computed.map(([, v]) => v)].join(', ')}
    FROM unnest(${params.join(', ')}) AS r(${names.join(', ')})`;
}

/** An element of a text array literal: quoted, its backslashes and quotes escaped. */
const quoted = (value: string) => `"${value.replace(/[\\"]/g, '\\$&')}"`;

/** How each type's values are written as elements of an array literal (NULL apart). */
const ELEMENT: Readonly<Record<CopiedType, (value: unknown) => string>> = {
  bigint: String,
  integer: String,
  float8: String,
  text: (value) => quoted(String(value)),
  // `\x` and hex digits: bytea's hex input, the backslash escaped for the array literal. A
  // string in a BLOB column (SQLite keeps what it is given) is its UTF-8 bytes, as paths are.
  bytea: (value) =>
    `"\\\\x${Buffer.isBuffer(value) ? value.toString('hex') : Buffer.from(String(value)).toString('hex')}"`,
};

/**
 * A page's rows as one array literal per column (`{1,2,NULL}`), the parameters of
 * `insertStatement`. Written here rather than left to the driver, which would make the same
 * text only once the previous statement has ended (and escape each number with a regular
 * expression): made beforehand, the client's work overlaps the server's (a million files,
 * 17 s -> 12 s; docs/BENCHMARKS.md).
 */
function columnLiterals(table: CopiedTable, rows: readonly unknown[][]): string[] {
  return table.columns.map((column, c) => {
    const element = ELEMENT[column.type];
    const parts = new Array<string>(rows.length);
    for (let r = 0; r < rows.length; r += 1) {
      const value = rows[r]![c];
      parts[r] = value === null || value === undefined ? 'NULL' : element(value);
    }
    return `{${parts.join(',')}}`;
  });
}

/** What a state in the database holds: its rows by table, only the tables that have some. */
async function heldRows(client: PoolClient): Promise<Map<string, number>> {
  const tables = [...COPIED_TABLES.map((t) => t.name), ...OTHER_TABLES];
  const { rows } = await client.query<Record<string, number>>(
    `SELECT ${tables.map((t) => `(SELECT count(*) FROM ${quote(t)})::bigint AS ${quote(t)}`).join(', ')}`,
  );
  return new Map(tables.map((t) => [t, rows[0]![t]!]));
}

/** `3 files, 2 settings`: the files always, the rest where there are some. */
function describeHeld(held: Map<string, number>): string {
  const nouns = new Map<string, readonly [string, string]>([
    ...COPIED_TABLES.map((t) => [t.name, t.noun] as const),
    ['nodes', ['daemon node', 'daemon nodes']],
  ]);
  return [...held]
    .filter(([table, n]) => table === 'files' || n > 0)
    .map(([table, n]) => `${n.toLocaleString('en-US')} ${nouns.get(table)![n === 1 ? 0 : 1]}`)
    .join(', ');
}

/**
 * Inserts each page with one statement. The client reads and prepares the next page while the
 * server inserts the one before: one statement in flight, one page in memory besides it.
 * Resolves with the rows inserted.
 */
async function insertPages(
  client: PoolClient,
  table: CopiedTable,
  pages: Iterator<unknown[][]>,
): Promise<number> {
  const text = insertStatement(table);
  let copied = 0;
  let sent: Promise<unknown> = Promise.resolve();
  for (;;) {
    let values: string[];
    try {
      const page = pages.next();
      if (page.done === true) break;
      values = columnLiterals(table, page.value);
      copied += page.value.length;
    } catch (error) {
      // The read failed: the statement in flight ends first (whatever its outcome, the
      // transaction is rolled back), and the read's error is the one reported.
      await Promise.allSettled([sent]);
      throw error;
    }
    await sent;
    // Named: parsed and planned once per table, whatever the number of pages.
    sent = client.query({ name: `state-copy-${table.name}`, text, values });
  }
  await sent;
  return copied;
}

/**
 * Fills the empty PostgreSQL state at `url` (migrated first, if it is new) with every row
 * `source` gives, ids kept, in ONE transaction: the whole state is there once it commits, and
 * nothing of it if anything fails or the process dies on the way. `flag` names the URL in
 * messages.
 *
 * Locking: EXCLUSIVE on every table of the state before it looks whether they are empty, held
 * to the commit. Readers go on (they see the state empty until the commit); a daemon that
 * starts meanwhile waits at its first write (its lease) until the copy commits, or gives up at
 * its statement timeout; one that wrote first makes the copy refuse, since the state is no
 * longer empty. A state that holds anything is refused: two states are never merged.
 *
 * Each BIGSERIAL sequence is then set past the largest id copied, so that new rows get ids after
 * the copied ones.
 */
export async function copyIntoPg(
  url: string,
  source: CopySource,
  flag: string,
): Promise<CopiedCounts> {
  // The one connection in use reports its errors through its queries.
  const pool = createPool(url, () => {});
  try {
    await migrate(pool, false);
    return await inTransaction(pool, async (client) => {
      const tables = [...COPIED_TABLES.map((t) => t.name), ...OTHER_TABLES];
      await client.query(`LOCK TABLE ${tables.map(quote).join(', ')} IN EXCLUSIVE MODE`);
      const held = await heldRows(client);
      if ([...held.values()].some((n) => n > 0)) {
        throw new UsageError(
          `--${flag} ${redactUrl(url)} already holds a state (${describeHeld(held)}): state copy fills only an empty one and never merges two states; give it a new database`,
        );
      }
      const counts = {} as CopiedCounts;
      for (const table of COPIED_TABLES) {
        counts[table.name] = await insertPages(client, table, source.pages(table));
      }
      for (const table of COPIED_TABLES.filter((t) => t.serial)) {
        await client.query(
          `SELECT setval(pg_get_serial_sequence($1, $2), max(${quote(table.key)}))
           FROM ${quote(table.name)} HAVING max(${quote(table.key)}) IS NOT NULL`,
          [table.name, table.key],
        );
      }
      return counts;
    });
  } catch (error) {
    if (error instanceof IngestError && !isUnanswered(error)) throw error;
    throw connectError(url, error, flag);
  } finally {
    await pool.end();
  }
}
