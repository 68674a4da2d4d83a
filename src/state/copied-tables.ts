/**
 * The tables `ingestor state copy` moves from a SQLite state (schema.ts, at its current version)
 * into a PostgreSQL one (pg/schema.ts), column by column: the SQLite reader selects these
 * columns in this order, and the PostgreSQL writer inserts them as arrays of these types. A
 * table or column either schema adds must be added here, or the copy leaves it behind.
 */

/** A PostgreSQL type a column is sent as (one array parameter per column). */
export type CopiedType = 'bigint' | 'integer' | 'float8' | 'text' | 'bytea';

export interface CopiedColumn {
  /** Its name in PostgreSQL. */
  readonly name: string;
  /** Its name in SQLite, where it differs. */
  readonly sqlite?: string;
  readonly type: CopiedType;
}

export interface CopiedTable {
  readonly name: CopiedTableName;
  /** What its rows are called in messages: one, several. */
  readonly noun: readonly [string, string];
  /** The column its pages are read by (its primary key): each page starts after the last. */
  readonly key: string;
  readonly columns: readonly CopiedColumn[];
  /** Its key is a BIGSERIAL: the sequence must be moved past the largest id copied. */
  readonly serial: boolean;
}

export type CopiedTableName =
  'files' | 'events' | 'holds' | 'settings' | 'closed_hours' | 'webhook_outbox' | 'runtime';

const big = (name: string): CopiedColumn => ({ name, type: 'bigint' });
const int = (name: string): CopiedColumn => ({ name, type: 'integer' });
const real = (name: string): CopiedColumn => ({ name, type: 'float8' });
const text = (name: string): CopiedColumn => ({ name, type: 'text' });
const bytes = (name: string): CopiedColumn => ({ name, type: 'bytea' });

/**
 * Every table a SQLite state holds, in the order they are copied. Not here: `nodes` (no SQLite
 * daemon had a lease) and the PostgreSQL-only columns (`files.node_id`, `files.token`: NULL, a
 * row no daemon holds; `files.settled_xid` and `events.xid`: the copy's own transaction).
 */
export const COPIED_TABLES: readonly CopiedTable[] = [
  {
    name: 'files',
    noun: ['file', 'files'],
    key: 'id',
    serial: true,
    columns: [
      big('id'),
      text('kind'),
      text('status'),
      text('sha256'),
      bytes('live_sha256'),
      bytes('source'),
      bytes('dest'),
      bytes('tmp'),
      text('manifest'),
      bytes('sidecar'),
      big('device'),
      big('inode'),
      big('size'),
      real('mtime_ms'),
      big('duplicate_of'),
      big('intent_at'),
      big('committed_at'),
      big('completed_at'),
      real('hash_ms'),
      text('error'),
    ],
  },
  {
    name: 'events',
    noun: ['event', 'events'],
    key: 'id',
    serial: true,
    columns: [
      big('id'),
      big('file_id'),
      bytes('source'),
      big('at'),
      text('type'),
      text('actor'),
      text('detail'),
    ],
  },
  {
    name: 'holds',
    noun: ['hold', 'holds'],
    key: 'source',
    serial: false,
    columns: [
      bytes('source'),
      big('device'),
      big('inode'),
      big('size'),
      real('mtime_ms'),
      text('actor'),
      text('reason'),
      big('at'),
    ],
  },
  {
    name: 'settings',
    noun: ['setting', 'settings'],
    key: 'key',
    serial: false,
    columns: [text('key'), text('value'), big('at')],
  },
  {
    name: 'closed_hours',
    noun: ['closed hour', 'closed hours'],
    key: 'hour',
    serial: false,
    columns: [
      big('hour'),
      text('manifest'),
      big('lines'),
      big('bytes'),
      text('sha256'),
      big('closed_at'),
    ],
  },
  {
    name: 'webhook_outbox',
    noun: ['webhook message', 'webhook messages'],
    key: 'id',
    serial: true,
    columns: [
      big('id'),
      text('msg_id'),
      text('endpoint'),
      text('type'),
      text('body'),
      big('created_at'),
      int('attempts'),
      big('next_at'),
      text('status'),
      int('last_status'),
      text('last_error'),
      big('delivered_at'),
      big('file_id'),
    ],
  },
  {
    // One row per daemon: SQLite's single one (key 'daemon') becomes that node's.
    name: 'runtime',
    noun: ['runtime record', 'runtime records'],
    key: 'node_id',
    serial: false,
    columns: [{ name: 'node_id', sqlite: 'key', type: 'text' }, text('value'), big('updated_at')],
  },
];

/** A table's column as SQLite names it. */
export function sqliteName(column: CopiedColumn): string {
  return column.sqlite ?? column.name;
}

/** Rows copied, by table. */
export type CopiedCounts = Record<CopiedTableName, number>;
