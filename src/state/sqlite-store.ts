import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { Database as DatabaseType } from 'better-sqlite3';
import { hasCode } from '../errors.js';
import type { FileRow, FsPath, RowKind } from '../interfaces.js';
import { fromBytes } from '../paths.js';
import { MIGRATIONS } from './schema.js';
import { prepareStateLocation, stateError } from './sqlite-location.js';
import type { IntentFields, RawRow } from './sqlite-rows.js';
import { claimFields, intentValues, quarantineFields, toRow } from './sqlite-rows.js';
import { SqliteHours } from './sqlite-hours.js';
import { SqliteJournal } from './sqlite-journal.js';
import { SqliteOutbox } from './sqlite-outbox.js';
import { historyQuery, prepareStatements } from './sqlite-statements.js';
import type { Statements } from './sqlite-statements.js';
import { Tally } from './tally.js';
import type { RowChange } from './tally.js';
import type {
  ClaimInput,
  ClaimResult,
  Finish,
  OutboxMessage,
  HistoryFilter,
  Placement,
  QuarantineInput,
  RuntimeRecord,
  RuntimeSnapshot,
  StateTotals,
} from './store.js';

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
    // First: a thread that just stopped may still hold the file for a moment.
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    if (options.readonly !== true) {
      db.pragma('journal_mode = WAL');
      // FULL: a commit is on disk when it returns; group commit keeps this cheap.
      db.pragma('synchronous = FULL');
      // 4 MB of page cache, not SQLite's default 16: the same speed on 100,000 small files
      // (8.0-8.1 s against 8.2 s) and 15 MB less resident (210 MB against 225 MB at peak). The
      // content index is read at random either way; the kernel's page cache serves it.
      db.pragma('cache_size = -4000');
      // Checkpoint every 4,000 WAL pages (16 MB) instead of 1,000: a busy index page is then
      // copied back once per checkpoint instead of four times (docs/BENCHMARKS.md: 100,000
      // small files 6.8 s -> 6.0 s). The WAL file is truncated when the daemon stops.
      db.pragma(`wal_autocheckpoint = ${WAL_CHECKPOINT_PAGES}`);
    }
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

/**
 * The SQLite state, synchronous: better-sqlite3 runs each call to its end on the calling
 * thread. The daemon and the commands reach it through the asynchronous `StateStore`
 * (`SqliteStateStore` in sqlite-async.ts); tests of the SQL itself use it directly.
 */
export class SqliteStore {
  readonly db: DatabaseType;
  readonly #sql: Statements;
  readonly #snapshot: string | undefined;
  #journal: SqliteJournal | undefined;
  #outbox: SqliteOutbox | undefined;
  #hours: SqliteHours | undefined;
  /**
   * The totals, kept as rows change once `totals` was first asked (tally.ts), and SQLite's
   * `data_version` when they were counted: it moves when another connection (an `ingestor
   * retry` beside the daemon) commits, and the rows are counted again.
   */
  #tally: Tally | undefined;
  #tallyVersion = -1;

  constructor(db: DatabaseType, snapshot?: string) {
    this.db = db;
    this.#snapshot = snapshot;
    this.#sql = prepareStatements(db);
  }

  /** The journal, holds and settings (prepared at first use: most commands never touch them). */
  get journal(): SqliteJournal {
    return (this.#journal ??= new SqliteJournal(this.db));
  }

  /** The webhooks' outbox (prepared at first use). */
  get outbox(): SqliteOutbox {
    return (this.#outbox ??= new SqliteOutbox(this.db));
  }

  /** Closed hours (prepared at first use, like the journal). */
  get hours(): SqliteHours {
    return (this.#hours ??= new SqliteHours(this.db, this.journal));
  }

  claim(
    inputs: readonly ClaimInput[],
    at: number,
    place: (input: ClaimInput, kind: RowKind) => Placement,
  ): ClaimResult[] {
    const changes: RowChange[] = [];
    const results = this.db
      .transaction(() =>
        inputs.map((input): ClaimResult => {
          const existing = this.#sql.findContent.get(Buffer.from(input.sha256, 'hex'));
          if (existing !== undefined && existing.status === 'intent') return { outcome: 'busy' };
          const kind: RowKind = existing === undefined ? 'ingest' : 'duplicate';
          const placement = place(input, kind);
          const row = this.#insertIntent(
            claimFields(input, kind, placement, existing?.id ?? null, at),
          );
          changes.push({ kind, size: row.size, from: null, to: 'intent', at });
          return existing === undefined
            ? { outcome: 'ingest', row }
            : { outcome: 'duplicate', row, original: toRow(existing) };
        }),
      )
      .immediate(); // take the write lock first, so busy_timeout applies to a locked state
    this.#tally?.apply(changes);
    return results;
  }

  finish(finishes: readonly Finish[], at: number, announce: readonly OutboxMessage[] = []): void {
    if (finishes.length === 0) return;
    // Changes are counted only while a tally is kept, and applied once the transaction is.
    const changes: RowChange[] | undefined = this.#tally === undefined ? undefined : [];
    this.db
      .transaction(() => {
        // A batch's intents have consecutive ids: commit a run of plain commits in one
        // statement, everything else row by row.
        let runStart = -1;
        let runEnd = -1;
        const flush = () => {
          if (runStart < 0) return;
          const range = { from: runStart, to: runEnd, at };
          if (changes === undefined) this.#sql.commitRange.run(range);
          else {
            for (const r of this.#sql.commitRangeCounted.all(range)) {
              changes.push({ kind: r.kind, size: r.size, from: 'intent', to: 'committed', at });
            }
          }
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
          const before = changes === undefined ? undefined : this.#sql.rowState.get(f.id);
          this.#sql.finish.run({ id: f.id, status: f.status, at, error: f.error ?? null });
          if (f.status !== 'committed') this.outbox.dropForFile(f.id);
          if (before !== undefined) {
            changes!.push({
              kind: before.kind,
              size: before.size,
              from: before.status,
              to: f.status,
              at,
            });
          }
        }
        flush();
        if (announce.length > 0) this.outbox.insert(announce, at);
      })
      .immediate();
    if (changes !== undefined) this.#tally?.apply(changes);
  }

  recordQuarantine(
    input: QuarantineInput,
    at: number,
    announce: readonly OutboxMessage[] = [],
  ): FileRow {
    const insert = () => this.#insertIntent(quarantineFields(input, at));
    // The announcement is written with the intent: whoever commits the row (the daemon, or
    // recovery after a kill) makes it due, and a roll-back deletes it.
    const row =
      announce.length === 0
        ? insert()
        : this.db
            .transaction(() => {
              const inserted = insert();
              this.outbox.insertForFile(announce, at, inserted.id);
              return inserted;
            })
            .immediate();
    this.#tally?.apply([{ kind: 'quarantine', size: row.size, from: null, to: 'intent', at }]);
    return row;
  }

  /** Inserts an intent row; returns it as inserted, without reading it back. */
  #insertIntent(fields: IntentFields): FileRow {
    const id = Number(this.#sql.insert.run(...intentValues(fields)).lastInsertRowid);
    return { ...fields, id, status: 'intent', committedAt: null };
  }

  quarantined(): FileRow[] {
    return this.#sql.quarantined.all().map(toRow);
  }

  writeRuntime(snapshot: RuntimeSnapshot, at: number): void {
    // Best effort, and never a wait: a locked state must not stall the daemon for a snapshot.
    this.db.pragma('busy_timeout = 0');
    try {
      this.#sql.writeRuntime.run(JSON.stringify(snapshot), at);
    } finally {
      this.db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    }
  }

  countQuarantined(): number {
    return this.#sql.countQuarantined.get()!.n;
  }

  lastIngestAt(): number | undefined {
    return this.#sql.lastIngestAt.get()?.at ?? undefined;
  }

  quarantinedInPlace(): FsPath[] {
    return this.#sql.quarantinedInPlace.all().map((r) => fromBytes(r.source));
  }

  release(id: number, at: number): void {
    if (this.#sql.release.run({ id, at }).changes === 0) return;
    const size = this.#tally === undefined ? 0 : (this.#sql.rowState.get(id)?.size ?? 0);
    this.#tally?.apply([{ kind: 'quarantine', size, from: 'committed', to: 'released', at }]);
  }

  openIntents(): FileRow[] {
    return this.#sql.openIntents.all().map(toRow);
  }

  findContent(sha256: string): FileRow | undefined {
    const raw = this.#sql.findContent.get(Buffer.from(sha256, 'hex'));
    return raw === undefined ? undefined : toRow(raw);
  }

  getRow(id: number): FileRow | undefined {
    const raw = this.#sql.getRow.get(id);
    return raw === undefined ? undefined : toRow(raw);
  }

  /** Up to `limit` rows matching `filter` with ids below `before`, newest first. */
  historyPage(filter: HistoryFilter, before: number | undefined, limit: number): FileRow[] {
    const { sql, params } = historyQuery(filter, before, limit);
    return this.db.prepare<Record<string, unknown>, RawRow>(sql).all(params).map(toRow);
  }

  /** Up to `limit` rows with ids above `after`, in id order. */
  rowsPage(after: number | undefined, limit: number): FileRow[] {
    return this.#sql.rows.all(after ?? 0, limit).map(toRow);
  }

  /** The totals: counted from the rows once (a scan), then kept as they change (tally.ts). */
  totals(): StateTotals {
    const version = this.db.pragma('data_version', { simple: true }) as number;
    if (this.#tally === undefined || version !== this.#tallyVersion) {
      this.#tally = new Tally(this.#sql.tally.all());
      this.#tallyVersion = version;
    }
    return this.#tally.totals();
  }

  readRuntime(): RuntimeRecord | undefined {
    const raw = this.#sql.readRuntime.get();
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
