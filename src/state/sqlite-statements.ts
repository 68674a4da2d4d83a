import type { Database as DatabaseType, Statement } from 'better-sqlite3';
import type { HistoryFilter } from './store.js';
import type { RawRow } from './sqlite-rows.js';
import type { TallyGroup } from './tally.js';

/** The statements of the SQLite store, prepared once per connection. */
export interface Statements {
  readonly findContent: Statement<[Buffer], RawRow>;
  /** Takes `intentValues` (sqlite-rows.ts), in that order. */
  readonly insert: Statement<unknown[]>;
  readonly finish: Statement;
  readonly commitRange: Statement;
  /** `commitRange` that answers each row's kind and size, for the tally. */
  readonly commitRangeCounted: Statement<[{ from: number; to: number; at: number }], RowSize>;
  readonly rowState: Statement<[number], RowSize & { status: RawRow['status'] }>;
  readonly openIntents: Statement<[], RawRow>;
  readonly getRow: Statement<[number], RawRow>;
  readonly quarantined: Statement<[], RawRow>;
  readonly release: Statement;
  readonly countQuarantined: Statement<[], { n: number }>;
  readonly lastIngestAt: Statement<[], { at: number | null }>;
  readonly quarantinedInPlace: Statement<[], { source: Buffer }>;
  readonly writeRuntime: Statement<[string, number]>;
  readonly readRuntime: Statement<[], { value: string; updated_at: number }>;
  readonly rows: Statement<[number, number], RawRow>;
  readonly tally: Statement<[], TallyGroup>;
}

/** What the tally needs of a row. */
export interface RowSize {
  kind: RawRow['kind'];
  size: number;
}

export function prepareStatements(db: DatabaseType): Statements {
  return {
    findContent: db.prepare(
      // live_sha256 = ? implies the partial index's IS NOT NULL: SQLite searches the index.
      `SELECT * FROM files WHERE live_sha256 = ?`,
    ),
    insert: db.prepare(`
      INSERT INTO files (kind, status, sha256, live_sha256, source, dest, tmp, manifest, sidecar,
        device, inode, size, mtime_ms, duplicate_of, intent_at, completed_at, hash_ms, error)
      VALUES (?, 'intent', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
    finish: db.prepare(
      `UPDATE files SET status = @status, committed_at = @at, error = @error,
         live_sha256 = CASE WHEN @status = 'committed' THEN live_sha256 END
       WHERE id = @id`,
    ),
    commitRange: db.prepare(
      `UPDATE files SET status = 'committed', committed_at = @at
       WHERE id BETWEEN @from AND @to AND status = 'intent'`,
    ),
    commitRangeCounted: db.prepare(
      `UPDATE files SET status = 'committed', committed_at = @at
       WHERE id BETWEEN @from AND @to AND status = 'intent'
       RETURNING kind, size`,
    ),
    rowState: db.prepare(`SELECT kind, status, size FROM files WHERE id = ?`),
    openIntents: db.prepare(`SELECT * FROM files WHERE status = 'intent' ORDER BY id`),
    getRow: db.prepare(`SELECT * FROM files WHERE id = ?`),
    quarantined: db.prepare(
      `SELECT * FROM files WHERE kind = 'quarantine' AND status = 'committed' ORDER BY id`,
    ),
    countQuarantined: db.prepare(
      `SELECT count(*) AS n FROM files WHERE kind = 'quarantine' AND status = 'committed'`,
    ),
    // Newest id first, stopping at the first committed ingest: max(committed_at) would read every
    // row (0.12 s at 1,000,000 rows, at each start). Rows commit in claim order; should an older
    // intent ever be settled after a newer one committed (by the next start's recovery), this
    // gives the newer one's time, too early by that gap, until the next ingest.
    lastIngestAt: db.prepare(
      `SELECT committed_at AS at FROM files WHERE kind = 'ingest' AND status = 'committed'
       ORDER BY id DESC LIMIT 1`,
    ),
    quarantinedInPlace: db.prepare(
      `SELECT source FROM files
       WHERE kind = 'quarantine' AND status = 'committed' AND length(dest) = 0`,
    ),
    writeRuntime: db.prepare(
      `INSERT INTO runtime (key, value, updated_at) VALUES ('daemon', ?, ?)
       ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
    ),
    release: db.prepare(
      `UPDATE files SET status = 'released', committed_at = @at
       WHERE id = @id AND kind = 'quarantine' AND status = 'committed'`,
    ),
    readRuntime: db.prepare(`SELECT value, updated_at FROM runtime WHERE key = 'daemon'`),
    rows: db.prepare(`SELECT * FROM files WHERE id > ? ORDER BY id LIMIT ?`),
    // One pass over the table: the tally's start (tally.ts).
    tally: db.prepare(
      `SELECT kind, status, count(*) AS files, coalesce(sum(size), 0) AS bytes,
         max(committed_at) AS last
       FROM files GROUP BY kind, status`,
    ),
  };
}

/** The query of `history`: its WHERE clause built from the filter, newest first. */
export function historyQuery(
  filter: HistoryFilter,
  before: number | undefined,
  limit: number,
): {
  sql: string;
  params: Record<string, unknown>;
} {
  const where: string[] = [];
  const params: Record<string, unknown> = {};
  if (filter.kind !== undefined) {
    where.push('kind = @kind');
    params.kind = filter.kind;
  }
  if (filter.status !== undefined) {
    where.push('status = @status');
    params.status = filter.status;
  }
  if (filter.since !== undefined) {
    where.push('intent_at >= @since'); // files_by_time
    params.since = filter.since;
  }
  if (filter.sha256Prefix !== undefined) {
    if (!/^[0-9a-f]{1,64}$/.test(filter.sha256Prefix)) {
      throw new TypeError(`sha256Prefix must be lowercase hex, got ${filter.sha256Prefix}`);
    }
    // substr, not LIKE: hex has no wildcards, and substr cannot be fooled into matching case.
    where.push('substr(sha256, 1, @shaLength) = @sha');
    params.sha = filter.sha256Prefix;
    params.shaLength = filter.sha256Prefix.length;
  }
  if (filter.sourceContains !== undefined) {
    // instr over bytes: paths are stored as bytes, and a LIKE would read % and _ as wildcards.
    where.push('instr(source, @contains) > 0');
    params.contains = Buffer.from(filter.sourceContains, 'utf8');
  }
  if (filter.idAtLeast !== undefined) {
    where.push('id >= @idAtLeast');
    params.idAtLeast = filter.idAtLeast;
  }
  // Keyset: the next page starts below the last id shown (and below the caller's own bound).
  const below = [before, filter.idBelow].filter((b) => b !== undefined);
  if (below.length > 0) {
    where.push('id < @before');
    params.before = Math.min(...below);
  }
  params.limit = limit;
  return {
    sql: `SELECT * FROM files ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
         ORDER BY id DESC LIMIT @limit`,
    params,
  };
}
