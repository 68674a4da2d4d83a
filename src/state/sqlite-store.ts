import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { Database as DatabaseType, Statement } from 'better-sqlite3';
import { IngestError, errnoCode, flagPathMessage, hasCode } from '../errors.js';
import { checkWritableFile, lstatSyncIfExists, noSpaceHint } from '../fsutil.js';
import type { FileRow, FsPath, RowKind } from '../interfaces.js';
import { fromBytes, toBytes } from '../paths.js';
import { MIGRATIONS } from './schema.js';
import type {
  ClaimInput,
  ClaimResult,
  Finish,
  HistoryFilter,
  Placement,
  QuarantineInput,
  RuntimeRecord,
  RuntimeSnapshot,
  StateStore,
  StateTotals,
} from './store.js';

interface RawRow {
  id: number;
  kind: RowKind;
  status: FileRow['status'];
  sha256: string;
  source: Buffer;
  dest: Buffer;
  tmp: Buffer | null;
  manifest: string | null;
  sidecar: Buffer | null;
  device: number;
  inode: number;
  size: number;
  mtime_ms: number;
  duplicate_of: number | null;
  intent_at: number;
  committed_at: number | null;
  completed_at: number | null;
  hash_ms: number | null;
  error: string | null;
}

function toRow(raw: RawRow): FileRow {
  return {
    id: raw.id,
    kind: raw.kind,
    status: raw.status,
    sha256: raw.sha256,
    source: fromBytes(raw.source),
    dest: fromBytes(raw.dest),
    tmp: raw.tmp === null ? null : fromBytes(raw.tmp),
    manifest: raw.manifest,
    sidecar: raw.sidecar === null ? null : fromBytes(raw.sidecar),
    device: raw.device,
    inode: raw.inode,
    size: raw.size,
    mtimeMs: raw.mtime_ms,
    duplicateOf: raw.duplicate_of,
    intentAt: raw.intent_at,
    committedAt: raw.committed_at,
    completedAt: raw.completed_at,
    hashMs: raw.hash_ms,
    error: raw.error,
  };
}

/** Maps a lazy iterator; `return` (a loop left early) reaches the source and ends its query. */
function map<T, U>(source: IterableIterator<T>, f: (t: T) => U): IterableIterator<U> {
  return {
    next: () => {
      const r = source.next();
      return r.done === true ? r : { done: false, value: f(r.value) };
    },
    return: (value?: unknown) => {
      source.return?.(value);
      return { done: true, value: undefined };
    },
    [Symbol.iterator]() {
      return this;
    },
  };
}

function stateError(statePath: string, what: string, cause: unknown): IngestError {
  const detail = cause instanceof Error ? cause.message : String(cause);
  return new IngestError(
    'INGEST_ERR_STATE',
    `state database ${JSON.stringify(statePath)} ${what}: ${detail}${noSpaceHint(statePath)}`,
    { cause },
  );
}

/**
 * Makes the state's directory and checks that each of `files` (the state, its lock) can be
 * created or written there, so that a read-only or impossible --state-path is reported with its
 * cause (`--state-path "/x/y.db" cannot be created: EROFS: read-only file system`) instead of
 * SQLite's "unable to open database file".
 */
export function prepareStateLocation(statePath: string, ...files: string[]): void {
  let exists: boolean | undefined;
  try {
    exists = lstatSyncIfExists(statePath) !== undefined;
    fs.mkdirSync(path.dirname(statePath), { recursive: true });
    for (const file of files) checkWritableFile(file);
  } catch (error) {
    if (errnoCode(error) === undefined) throw error;
    const problem =
      exists === undefined
        ? 'cannot be opened'
        : exists
          ? 'cannot be written'
          : 'cannot be created';
    throw new IngestError(
      'INGEST_ERR_STATE',
      `${flagPathMessage('state-path', statePath, problem, error)}${noSpaceHint(statePath)}`,
      { cause: error },
    );
  }
}

/**
 * How long a write waits for another process's lock. Short: SQLite waits synchronously, which
 * holds the event loop, and the pipeline pauses and retries with backoff anyway.
 */
const BUSY_TIMEOUT_MS = 1000;

const WAL_CHECKPOINT_PAGES = 4000;

export interface OpenStateOptions {
  /** Open without writing anything (dry-run, status); a missing file is an empty state. */
  readonly?: boolean;
}

/** Opens (creating and migrating if needed) the SQLite state in WAL mode. */
export function openSqliteState(statePath: string, options: OpenStateOptions = {}): SqliteStore {
  let db: DatabaseType;
  let snapshot: string | undefined;
  if (options.readonly === true) {
    try {
      if (!fs.existsSync(statePath)) {
        db = new Database(':memory:');
      } else if (fs.existsSync(`${statePath}-wal`)) {
        // A daemon is live (or crashed): its WAL files exist, so a read-only open adds nothing.
        db = new Database(statePath, { readonly: true, fileMustExist: true });
      } else {
        // Quiescent: a read-only open would create -wal and -shm beside it. Read a private
        // snapshot instead, so the state directory stays byte for byte as it was.
        snapshot = path.join(
          fs.mkdtempSync(path.join(os.tmpdir(), 'ingestor-readonly-')),
          'state.db',
        );
        fs.copyFileSync(statePath, snapshot);
        db = new Database(snapshot, { readonly: false });
      }
    } catch (error) {
      throw stateError(statePath, 'cannot be opened', error);
    }
  } else {
    prepareStateLocation(statePath, statePath);
    try {
      db = new Database(statePath);
    } catch (error) {
      throw stateError(statePath, 'cannot be opened', error);
    }
  }
  try {
    if (options.readonly !== true) {
      db.pragma('journal_mode = WAL');
      // FULL: a commit is on disk when it returns; group commit keeps this cheap.
      db.pragma('synchronous = FULL');
      // Checkpoint every 4,000 WAL pages (16 MB) instead of 1,000: a busy index page is then
      // copied back once per checkpoint instead of four times (docs/BENCHMARKS.md: 100,000
      // small files 6.8 s -> 6.0 s). The WAL file is truncated when the daemon stops.
      db.pragma(`wal_autocheckpoint = ${WAL_CHECKPOINT_PAGES}`);
    }
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version > MIGRATIONS.length) {
      throw new Error(
        `schema version ${version} is newer than this ingestor knows (${MIGRATIONS.length}); run the newer ingestor that wrote it`,
      );
    }
    if (version < MIGRATIONS.length) {
      if (options.readonly === true && db.name !== ':memory:' && snapshot === undefined) {
        throw new Error(`schema version ${version} needs a migration; run the daemon once`);
      }
      db.transaction(() => {
        for (let v = version; v < MIGRATIONS.length; v += 1) db.exec(MIGRATIONS[v]!);
        db.pragma(`user_version = ${MIGRATIONS.length}`);
      })();
    }
  } catch (error) {
    db.close();
    throw stateError(statePath, 'is not usable', error);
  }
  return new SqliteStore(db, snapshot);
}

export class SqliteStore implements StateStore {
  readonly db: DatabaseType;
  readonly #findContent: Statement<[Buffer], RawRow>;
  readonly #insert: Statement;
  readonly #finish: Statement;
  readonly #commitRange: Statement;
  readonly #openIntents: Statement<[], RawRow>;
  readonly #getRow: Statement<[number], RawRow>;
  readonly #quarantined: Statement<[], RawRow>;
  readonly #release: Statement;
  readonly #countQuarantined: Statement<[], { n: number }>;
  readonly #lastIngestAt: Statement<[], { at: number | null }>;
  readonly #quarantinedInPlace: Statement<[], { source: Buffer }>;
  readonly #writeRuntime: Statement<[string, number]>;
  readonly #readRuntime: Statement<[], { value: string; updated_at: number }>;
  readonly #rows: Statement<[], RawRow>;
  readonly #totals: Statement<[], Record<keyof StateTotals, number | null>>;

  readonly #snapshot: string | undefined;

  constructor(db: DatabaseType, snapshot?: string) {
    this.db = db;
    this.#snapshot = snapshot;
    this.#findContent = db.prepare(
      // live_sha256 = ? implies the partial index's IS NOT NULL: SQLite searches the index.
      `SELECT * FROM files WHERE live_sha256 = ?`,
    );
    this.#insert = db.prepare(`
      INSERT INTO files (kind, status, sha256, live_sha256, source, dest, tmp, manifest, sidecar,
        device, inode, size, mtime_ms, duplicate_of, intent_at, completed_at, hash_ms, error)
      VALUES (?, 'intent', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    this.#finish = db.prepare(
      `UPDATE files SET status = @status, committed_at = @at, error = @error,
         live_sha256 = CASE WHEN @status = 'committed' THEN live_sha256 END
       WHERE id = @id`,
    );
    this.#commitRange = db.prepare(
      `UPDATE files SET status = 'committed', committed_at = @at
       WHERE id BETWEEN @from AND @to AND status = 'intent'`,
    );
    this.#openIntents = db.prepare(`SELECT * FROM files WHERE status = 'intent' ORDER BY id`);
    this.#getRow = db.prepare(`SELECT * FROM files WHERE id = ?`);
    this.#quarantined = db.prepare(
      `SELECT * FROM files WHERE kind = 'quarantine' AND status = 'committed' ORDER BY id`,
    );
    this.#countQuarantined = db.prepare(
      `SELECT count(*) AS n FROM files WHERE kind = 'quarantine' AND status = 'committed'`,
    );
    // Newest id first, stopping at the first committed ingest: max(committed_at) would read every
    // row (0.12 s at 1,000,000 rows, at each start). Rows commit in claim order; should an older
    // intent ever be settled after a newer one committed (by the next start's recovery), this
    // gives the newer one's time, too early by that gap, until the next ingest.
    this.#lastIngestAt = db.prepare(
      `SELECT committed_at AS at FROM files WHERE kind = 'ingest' AND status = 'committed'
       ORDER BY id DESC LIMIT 1`,
    );
    this.#quarantinedInPlace = db.prepare(
      `SELECT source FROM files
       WHERE kind = 'quarantine' AND status = 'committed' AND length(dest) = 0`,
    );
    this.#writeRuntime = db.prepare(
      `INSERT INTO runtime (key, value, updated_at) VALUES ('daemon', ?, ?)
       ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
    );
    this.#release = db.prepare(
      `UPDATE files SET status = 'released', committed_at = @at
       WHERE id = @id AND kind = 'quarantine' AND status = 'committed'`,
    );
    this.#readRuntime = db.prepare(`SELECT value, updated_at FROM runtime WHERE key = 'daemon'`);
    this.#rows = db.prepare(`SELECT * FROM files ORDER BY id`);
    // One pass over the table instead of one count per figure.
    this.#totals = db.prepare(`
      SELECT
        count(*) FILTER (WHERE kind = 'ingest' AND status = 'committed') AS ingestedFiles,
        sum(size) FILTER (WHERE kind = 'ingest' AND status = 'committed') AS ingestedBytes,
        max(committed_at) FILTER (WHERE kind = 'ingest' AND status = 'committed') AS lastIngestAt,
        count(*) FILTER (WHERE kind = 'duplicate' AND status = 'committed') AS duplicates,
        sum(size) FILTER (WHERE kind = 'duplicate' AND status = 'committed') AS duplicateBytes,
        count(*) FILTER (WHERE kind = 'quarantine' AND status = 'committed') AS quarantined,
        count(*) FILTER (WHERE status = 'intent') AS inFlight,
        count(*) FILTER (WHERE status = 'aborted') AS aborted,
        count(*) FILTER (WHERE status = 'vanished') AS vanished
      FROM files`);
  }

  claim(
    inputs: readonly ClaimInput[],
    at: number,
    place: (input: ClaimInput, kind: RowKind) => Placement,
  ): ClaimResult[] {
    return this.db
      .transaction(() =>
        inputs.map((input): ClaimResult => {
          const existing = this.#findContent.get(Buffer.from(input.sha256, 'hex'));
          if (existing !== undefined && existing.status === 'intent') return { outcome: 'busy' };
          const kind: RowKind = existing === undefined ? 'ingest' : 'duplicate';
          const placement = place(input, kind);
          const row = this.#insertIntent({
            kind,
            sha256: input.sha256,
            source: input.source,
            dest: placement.dest,
            tmp: placement.tmp,
            manifest: placement.manifest,
            sidecar: input.sidecar,
            device: input.identity.device,
            inode: input.identity.inode,
            size: input.identity.size,
            mtimeMs: input.identity.mtimeMs,
            duplicateOf: existing?.id ?? null,
            intentAt: at,
            completedAt: input.completedAt,
            hashMs: input.hashMs,
            error: null,
          });
          return existing === undefined
            ? { outcome: 'ingest', row }
            : { outcome: 'duplicate', row, original: toRow(existing) };
        }),
      )
      .immediate(); // take the write lock first, so busy_timeout applies to a locked state
  }

  finish(finishes: readonly Finish[], at: number): void {
    if (finishes.length === 0) return;
    this.db
      .transaction(() => {
        // A batch's intents have consecutive ids: commit a run of plain commits in one
        // statement, everything else row by row.
        let runStart = -1;
        let runEnd = -1;
        const flush = () => {
          if (runStart < 0) return;
          this.#commitRange.run({ from: runStart, to: runEnd, at });
          runStart = -1;
        };
        for (const f of finishes) {
          if (f.status === 'committed' && f.error === undefined) {
            if (runStart >= 0 && f.id === runEnd + 1) {
              runEnd = f.id;
              continue;
            }
            flush();
            runStart = f.id;
            runEnd = f.id;
            continue;
          }
          flush();
          this.#finish.run({ id: f.id, status: f.status, at, error: f.error ?? null });
        }
        flush();
      })
      .immediate();
  }

  recordQuarantine(input: QuarantineInput, at: number): FileRow {
    return this.#insertIntent({
      kind: 'quarantine',
      sha256: input.sha256,
      source: input.source,
      dest: input.dest,
      tmp: null,
      manifest: null,
      sidecar: input.sidecar,
      device: input.identity.device,
      inode: input.identity.inode,
      size: input.identity.size,
      mtimeMs: input.identity.mtimeMs,
      duplicateOf: null,
      intentAt: at,
      completedAt: at,
      hashMs: null,
      error: input.error,
    });
  }

  /** Inserts an intent row; returns it as inserted, without reading it back. */
  #insertIntent(fields: Omit<FileRow, 'id' | 'status' | 'committedAt'>): FileRow {
    const bytes = (p: FsPath | null) => (p === null ? null : toBytes(p));
    // Positional parameters: binding seventeen named ones costs more than the insert itself.
    const id = Number(
      this.#insert.run(
        fields.kind,
        fields.sha256,
        fields.kind === 'ingest' ? Buffer.from(fields.sha256, 'hex') : null,
        toBytes(fields.source),
        toBytes(fields.dest),
        bytes(fields.tmp),
        fields.manifest,
        bytes(fields.sidecar),
        fields.device,
        fields.inode,
        fields.size,
        fields.mtimeMs,
        fields.duplicateOf,
        fields.intentAt,
        fields.completedAt,
        fields.hashMs,
        fields.error,
      ).lastInsertRowid,
    );
    return { ...fields, id, status: 'intent', committedAt: null };
  }

  quarantined(): FileRow[] {
    return this.#quarantined.all().map(toRow);
  }

  writeRuntime(snapshot: RuntimeSnapshot, at: number): void {
    // Best effort, and never a wait: a locked state must not stall the daemon for a snapshot.
    this.db.pragma('busy_timeout = 0');
    try {
      this.#writeRuntime.run(JSON.stringify(snapshot), at);
    } finally {
      this.db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    }
  }

  countQuarantined(): number {
    return this.#countQuarantined.get()!.n;
  }

  lastIngestAt(): number | undefined {
    return this.#lastIngestAt.get()?.at ?? undefined;
  }

  quarantinedInPlace(): FsPath[] {
    return this.#quarantinedInPlace.all().map((r) => fromBytes(r.source));
  }

  release(id: number, at: number): void {
    this.#release.run({ id, at });
  }

  openIntents(): FileRow[] {
    return this.#openIntents.all().map(toRow);
  }

  findContent(sha256: string): FileRow | undefined {
    const raw = this.#findContent.get(Buffer.from(sha256, 'hex'));
    return raw === undefined ? undefined : toRow(raw);
  }

  getRow(id: number): FileRow | undefined {
    const raw = this.#getRow.get(id);
    return raw === undefined ? undefined : toRow(raw);
  }

  history(filter: HistoryFilter): IterableIterator<FileRow> {
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
    const rows = this.db
      .prepare<Record<string, unknown>, RawRow>(
        `SELECT * FROM files ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
         ORDER BY id DESC`,
      )
      .iterate(params);
    return map(rows, toRow);
  }

  rows(): IterableIterator<FileRow> {
    return map(this.#rows.iterate(), toRow);
  }

  totals(): StateTotals {
    const t = this.#totals.get()!;
    return {
      ingestedFiles: t.ingestedFiles ?? 0,
      ingestedBytes: t.ingestedBytes ?? 0,
      lastIngestAt: t.lastIngestAt,
      duplicates: t.duplicates ?? 0,
      duplicateBytes: t.duplicateBytes ?? 0,
      quarantined: t.quarantined ?? 0,
      inFlight: t.inFlight ?? 0,
      aborted: t.aborted ?? 0,
      vanished: t.vanished ?? 0,
    };
  }

  readRuntime(): RuntimeRecord | undefined {
    const raw = this.#readRuntime.get();
    if (raw === undefined) return undefined;
    return { snapshot: JSON.parse(raw.value) as RuntimeSnapshot, updatedAt: raw.updated_at };
  }

  close(): void {
    if (!this.db.open) return;
    if (!this.db.readonly && this.db.name !== ':memory:' && this.#snapshot === undefined) {
      try {
        // Fold the WAL back so that a stopped daemon leaves one self-contained file.
        this.db.pragma('wal_checkpoint(TRUNCATE)');
      } catch (error) {
        // Busy, or no room to fold it back: the WAL stays, and the next open reads it.
        if (!hasCode(error, 'SQLITE_BUSY', 'SQLITE_LOCKED', 'SQLITE_FULL')) throw error;
      }
    }
    this.db.close();
    if (this.#snapshot !== undefined) {
      fs.rmSync(path.dirname(this.#snapshot), { recursive: true, force: true });
    }
  }
}
