import type pg from 'pg';
import { FencedError, IngestError } from '../../errors.js';
import type { FileRow, FsPath, RowKind } from '../../interfaces.js';
import { fromBytes, pathKey, toBytes } from '../../paths.js';
import { placer } from '../placement.js';
import type { IntentFields, RawRow } from '../sqlite-rows.js';
import { claimFields, quarantineFields, toRow } from '../sqlite-rows.js';
import type {
  Adoption,
  ClaimInput,
  ClosingTurn,
  SharedDaemon,
  ClaimResult,
  ClosedHour,
  Delivery,
  DeliveryAttempt,
  DeliveryFilter,
  DurableEventPage,
  DurableMarkPage,
  Finish,
  HistoryFilter,
  Hold,
  HourMarks,
  JournalEvent,
  NewJournalEvent,
  OutboxMessage,
  PlacementPlan,
  QuarantineInput,
  RuntimeRecord,
  RuntimeSnapshot,
  StateStore,
  StateTotals,
} from '../store.js';
import { paged } from '../store.js';
import { Tally } from '../tally.js';
import type { TallyGroup } from '../tally.js';
import type { Queryable } from './connect.js';
import { inTransaction } from './connect.js';
import { PgHours } from './hours.js';
import { PgJournal } from './journal.js';
import { PgOutbox } from './outbox.js';

/**
 * The open intents a daemon ($1) may settle: its own (`$2 = 'mine-and-orphans'`), those of
 * daemons whose lease ran out, and those written without a node (a state copied from SQLite).
 */
const ADOPTABLE = `status = 'intent' AND (
    ($2 = 'mine-and-orphans' AND node_id = $1)
    OR (node_id = $1 AND taken_over)
    OR node_id IS NULL
    OR (node_id <> $1 AND node_id IN (SELECT node_id FROM nodes WHERE lease_until < now())))`;

/** How long a write waits for another transaction's lock before it fails (and is retried). */
const LOCK_TIMEOUT_MS = 5_000;

/** Who writes: a daemon's node and the fencing token of its lease (none for a command). */
export interface Writer {
  readonly nodeId: string;
  /** The token of the daemon's current lease; its claims carry it and its commits need it. */
  token(): number;
}

/** The columns of an intent, in the order of `INSERT_INTENTS`'s arrays. */
const INTENT_COLUMNS = [
  ['id', 'bigint'],
  ['kind', 'text'],
  ['sha256', 'text'],
  ['live_sha256', 'bytea'],
  ['source', 'bytea'],
  ['dest', 'bytea'],
  ['tmp', 'bytea'],
  ['manifest', 'text'],
  ['sidecar', 'bytea'],
  ['device', 'bigint'],
  ['inode', 'bigint'],
  ['size', 'bigint'],
  ['mtime_ms', 'float8'],
  ['duplicate_of', 'bigint'],
  ['intent_at', 'bigint'],
  ['completed_at', 'bigint'],
  ['hash_ms', 'float8'],
  ['error', 'text'],
  ['node_id', 'text'],
  ['token', 'bigint'],
] as const;

/**
 * Every intent of a claim in one statement. A row that meets a live ingest of its content or an
 * intent at its destination (another daemon's, claimed a moment before) is not inserted: the
 * caller learns which from the ids returned, and reports those files busy.
 */
const INSERT_INTENTS = `
  INSERT INTO files (${INTENT_COLUMNS.map(([c]) => c).join(', ')}, status)
  SELECT *, 'intent' FROM unnest(${INTENT_COLUMNS.map(([, t], i) => `$${i + 1}::${t}[]`).join(', ')})
  ON CONFLICT DO NOTHING
  RETURNING id`;

/** The statement that settles rows: `settled_xid` places them in the event stream. */
const FINISH = `
  UPDATE files SET status = f.status, committed_at = $2, error = f.error,
    live_sha256 = CASE WHEN f.status = 'committed' THEN live_sha256 END,
    manifest = coalesce(f.manifest, files.manifest),
    settled_xid = pg_current_xact_id()
  FROM unnest($1::bigint[], $3::text[], $4::text[], $6::text[]) AS f(id, status, error, manifest)
  WHERE files.id = f.id AND files.status = 'intent' AND ($5::bigint IS NULL OR files.token IS NULL
    OR files.token = $5)
  RETURNING files.id`;

export interface PgStoreOptions {
  readonly pool: pg.Pool;
  /** The daemon writing, with its lease; undefined for a command (status, list, retry...). */
  readonly writer?: Writer;
  /** Called once the store is closed (the pool ended). */
  readonly onClose?: () => Promise<void>;
}

/**
 * The state in PostgreSQL, shared by every daemon that ingests one staging area (issue 14),
 * behind the same asynchronous `StateStore` as SQLite. Each call is one round trip or one
 * transaction; a claim's rows go in with one statement. The exactly-once rule is the same
 * unique index as SQLite's; intents carry their daemon's node and fencing token, and commits
 * name the token, so that a daemon whose intents were taken over commits none of them.
 */
export class PgStateStore implements StateStore {
  readonly #pool: pg.Pool;
  readonly #writer: Writer | undefined;
  readonly #onClose: (() => Promise<void>) | undefined;
  readonly journal: PgJournal;
  readonly outbox: PgOutbox;
  readonly hours: PgHours;
  #closed = false;

  constructor(options: PgStoreOptions) {
    this.#pool = options.pool;
    this.#writer = options.writer;
    this.#onClose = options.onClose;
    this.journal = new PgJournal(this.#pool);
    this.outbox = new PgOutbox(this.#pool);
    this.hours = new PgHours(this.#pool, this.journal, this.outbox, (client) =>
      this.#checkLease(client),
    );
  }

  get pool(): pg.Pool {
    return this.#pool;
  }

  #token(): number | null {
    return this.#writer?.token() ?? null;
  }

  /**
   * Inside a writing transaction: the daemon's lease must be live and its own, or nothing is
   * written. `FOR SHARE` keeps a survivor from taking the lease over until this commits.
   */
  async #checkLease(client: Queryable): Promise<void> {
    // A claim that meets another daemon's uncommitted row (that daemon frozen mid-claim) waits
    // at most this long, then fails and is tried again (a pause), rather than hold the batch.
    await client.query(`SET LOCAL lock_timeout = ${LOCK_TIMEOUT_MS}`);
    if (this.#writer === undefined) return;
    const { rowCount } = await client.query(
      // KEY SHARE: it keeps the row from being taken over (acquire's FOR UPDATE) without
      // holding up this daemon's own renewal (an UPDATE of other columns) meanwhile.
      `SELECT 1 FROM nodes WHERE node_id = $1 AND token = $2 AND lease_until > clock_timestamp()
       FOR KEY SHARE`,
      [this.#writer.nodeId, this.#writer.token()],
    );
    if (rowCount === 0) {
      throw new FencedError(
        `node ${this.#writer.nodeId} no longer holds its lease: another daemon may have taken its files over`,
      );
    }
  }

  async claim(
    inputs: readonly ClaimInput[],
    at: number,
    plan: PlacementPlan,
  ): Promise<ClaimResult[]> {
    if (inputs.length === 0) return [];
    return inTransaction(this.#pool, async (client) => {
      await this.#checkLease(client);
      const digests = [...new Set(inputs.map((i) => i.sha256))];
      const found = await client.query<RawRow>(
        `SELECT * FROM files WHERE live_sha256 = ANY($1::bytea[])`,
        [digests.map((d) => Buffer.from(d, 'hex'))],
      );
      const live = new Map(found.rows.map((r) => [r.sha256, r]));
      // A source another daemon has an open intent for (it died, or froze, between placing the
      // file and committing) waits until a takeover settles that intent: claimed again now, a
      // duplicate could be placed twice (the content index holds only live ingests).
      const held = await client.query<{ source: Buffer }>(
        `SELECT source FROM files WHERE status = 'intent' AND source = ANY($1::bytea[])`,
        [inputs.map((i) => toBytes(i.source))],
      );
      const heldSources = new Set(held.rows.map((r) => pathKey(fromBytes(r.source))));
      const ids = await client.query<{ id: number }>(
        `SELECT nextval('files_id_seq') AS id FROM generate_series(1, $1)`,
        [inputs.length],
      );
      // Names are picked free on disk, but another daemon may have claimed one since (an
      // intent: the unique index refuses it) or placed and committed one this daemon's lstat
      // did not see yet (NFS): such names are given again, until none is held by a row.
      const heldDests = new Set<string>();
      for (let round = 0; ; round += 1) {
        const planned = this.#plan(inputs, at, plan, live, heldSources, ids.rows, heldDests);
        const dests = planned.flatMap((p) =>
          p === 'busy' || toBytes(p.fields.dest).length === 0 ? [] : [toBytes(p.fields.dest)],
        );
        const clash = await client.query<{ dest: Buffer }>(
          `SELECT dest FROM files WHERE dest = ANY($1::bytea[]) AND status IN ('intent', 'committed')`,
          [dests],
        );
        if (clash.rows.length > 0 && round < 4) {
          for (const r of clash.rows) heldDests.add(pathKey(fromBytes(r.dest)));
          continue;
        }
        const clashing = new Set(clash.rows.map((r) => pathKey(fromBytes(r.dest))));
        const rows = planned.flatMap((p) =>
          p === 'busy' || clashing.has(pathKey(p.fields.dest)) ? [] : [p.fields],
        );
        const inserted = new Set((await this.#insertIntents(client, rows)).map((r) => r.id));
        return planned.map((p): ClaimResult => {
          if (p === 'busy' || !inserted.has(p.fields.id)) return { outcome: 'busy' };
          const { id, ...fields } = p.fields;
          const row: FileRow = { ...fields, id, status: 'intent', committedAt: null };
          return p.original === undefined
            ? { outcome: 'ingest', row }
            : { outcome: 'duplicate', row, original: toRow(p.original) };
        });
      }
    });
  }

  /** Each input's intent by `plan` (or busy), with names that `heldDests` does not hold. */
  #plan(
    inputs: readonly ClaimInput[],
    at: number,
    plan: PlacementPlan,
    live: ReadonlyMap<string, RawRow>,
    heldSources: ReadonlySet<string>,
    ids: readonly { id: number }[],
    heldDests: ReadonlySet<string>,
  ): ({ fields: IntentFields & { id: number }; original?: RawRow } | 'busy')[] {
    const place = placer(plan, heldDests);
    const taken = new Set<string>();
    const planned: ({ fields: IntentFields & { id: number }; original?: RawRow } | 'busy')[] = [];
    for (const [i, input] of inputs.entries()) {
      const existing = live.get(input.sha256);
      if (
        (existing !== undefined && existing.status === 'intent') ||
        taken.has(input.sha256) ||
        heldSources.has(pathKey(input.source))
      ) {
        planned.push('busy');
        continue;
      }
      const kind: RowKind = existing === undefined ? 'ingest' : 'duplicate';
      if (kind === 'ingest') taken.add(input.sha256);
      const placement = place(input, kind);
      planned.push({
        fields: {
          id: ids[i]!.id,
          ...claimFields(input, kind, placement, existing?.id ?? null, at),
        },
        ...(existing === undefined ? {} : { original: existing }),
      });
    }
    return planned;
  }

  async #insertIntents(
    q: Queryable,
    rows: readonly (IntentFields & { id: number })[],
  ): Promise<{ id: number }[]> {
    if (rows.length === 0) return [];
    const bytes = (p: FsPath | null) => (p === null ? null : toBytes(p));
    const token = this.#token();
    const columns: unknown[][] = INTENT_COLUMNS.map(() => []);
    for (const r of rows) {
      const values = [
        r.id,
        r.kind,
        r.sha256,
        r.kind === 'ingest' ? Buffer.from(r.sha256, 'hex') : null,
        toBytes(r.source),
        toBytes(r.dest),
        bytes(r.tmp),
        r.manifest,
        bytes(r.sidecar),
        r.device,
        r.inode,
        r.size,
        r.mtimeMs,
        r.duplicateOf,
        r.intentAt,
        r.completedAt,
        r.hashMs,
        r.error,
        this.#writer?.nodeId ?? null,
        token,
      ];
      values.forEach((v, i) => columns[i]!.push(v));
    }
    return (await q.query<{ id: number }>(INSERT_INTENTS, columns)).rows;
  }

  async finish(
    finishes: readonly Finish[],
    at: number,
    announce: readonly OutboxMessage[] = [],
  ): Promise<void> {
    if (finishes.length === 0 && announce.length === 0) return;
    await inTransaction(this.#pool, async (client) => {
      await this.#checkLease(client);
      const token = this.#token();
      const settled = await client.query<{ id: number }>(FINISH, [
        finishes.map((f) => f.id),
        at,
        finishes.map((f) => f.status),
        finishes.map((f) => f.error ?? null),
        token,
        finishes.map((f) => f.manifest ?? null),
      ]);
      if (settled.rowCount !== finishes.length) {
        const done = new Set(settled.rows.map((r) => r.id));
        const missing = finishes.filter((f) => !done.has(f.id)).map((f) => f.id);
        // Rows another daemon took over carry its token: nothing of this batch is written,
        // and the caller learns it lost them. Rows settled already under this token (a finish
        // said twice) are left as they are, as SQLite would.
        const { rows } = await client.query<{ id: number }>(
          `SELECT id FROM files WHERE id = ANY($1::bigint[]) AND token IS DISTINCT FROM $2`,
          [missing, token],
        );
        if (token !== null && rows.length > 0) {
          throw new FencedError(
            `rows ${rows.map((r) => r.id).join(', ')} were taken over by another daemon: this daemon's commit of them is refused`,
          );
        }
      }
      const rolledBack = finishes.filter((f) => f.status !== 'committed').map((f) => f.id);
      for (const id of rolledBack) await this.outbox.dropForFile(client, id);
      if (announce.length > 0) await this.outbox.insert(client, announce, at);
    });
  }

  async recordQuarantine(
    input: QuarantineInput,
    at: number,
    announce: readonly OutboxMessage[] = [],
  ): Promise<FileRow> {
    return inTransaction(this.#pool, async (client) => {
      await this.#checkLease(client);
      const { rows } = await client.query<{ id: number }>(`SELECT nextval('files_id_seq') AS id`);
      const fields: IntentFields & { id: number } = {
        id: rows[0]!.id,
        ...quarantineFields(input, at),
      };
      const inserted = await this.#insertIntents(client, [fields]);
      if (inserted.length === 0) {
        throw new IngestError(
          'INGEST_ERR_STATE',
          `quarantine of ${JSON.stringify(String(input.source))} not recorded: another intent names ${JSON.stringify(String(input.dest))}`,
        );
      }
      if (announce.length > 0) await this.outbox.insertForFile(client, announce, at, fields.id);
      const { id, ...rest } = fields;
      return { ...rest, id, status: 'intent', committedAt: null };
    });
  }

  async #rows(sql: string, params: unknown[] = []): Promise<FileRow[]> {
    return (await this.#pool.query<RawRow>(sql, params)).rows.map(toRow);
  }

  async quarantined(): Promise<FileRow[]> {
    return this.#rows(
      `SELECT * FROM files WHERE kind = 'quarantine' AND status = 'committed' ORDER BY id`,
    );
  }

  async writeRuntime(snapshot: RuntimeSnapshot, at: number): Promise<void> {
    await this.#pool.query(
      `INSERT INTO runtime (node_id, value, updated_at) VALUES ($1, $2, $3)
       ON CONFLICT (node_id) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
      [this.#writer?.nodeId ?? 'daemon', JSON.stringify(snapshot), at],
    );
  }

  async quarantinedInPlace(): Promise<FsPath[]> {
    const { rows } = await this.#pool.query<{ source: Buffer }>(
      `SELECT source FROM files
       WHERE kind = 'quarantine' AND status = 'committed' AND length(dest) = 0`,
    );
    return rows.map((r) => fromBytes(r.source));
  }

  async countQuarantined(): Promise<number> {
    const { rows } = await this.#pool.query<{ n: number }>(
      `SELECT count(*)::bigint AS n FROM files WHERE kind = 'quarantine' AND status = 'committed'`,
    );
    return rows[0]!.n;
  }

  async lastIngestAt(): Promise<number | undefined> {
    const { rows } = await this.#pool.query<{ at: number | null }>(
      `SELECT committed_at AS at FROM files WHERE kind = 'ingest' AND status = 'committed'
       ORDER BY id DESC LIMIT 1`,
    );
    return rows[0]?.at ?? undefined;
  }

  async release(id: number, at: number): Promise<void> {
    await this.#pool.query(
      `UPDATE files SET status = 'released', committed_at = $2
       WHERE id = $1 AND kind = 'quarantine' AND status = 'committed'`,
      [id, at],
    );
  }

  async openIntents(): Promise<FileRow[]> {
    if (this.#writer === undefined) {
      return this.#rows(`SELECT * FROM files WHERE status = 'intent' ORDER BY id`);
    }
    return this.#rows(`SELECT * FROM files WHERE ${ADOPTABLE} ORDER BY id`, [
      this.#writer.nodeId,
      'mine-and-orphans',
    ]);
  }

  async adoptIntents(which: Adoption): Promise<FileRow[]> {
    const writer = this.#writer;
    if (writer === undefined) {
      // A command (no lease) settles nothing: it only reads.
      return which === 'orphans' ? [] : this.openIntents();
    }
    return inTransaction(this.#pool, async (client) => {
      await this.#checkLease(client);
      const { rows } = await client.query<RawRow>(
        // Rows of other daemons are marked taken over: a pass that fails after this commit
        // leaves them to the next pass, not to this daemon's next start.
        `UPDATE files SET token = $3, taken_over = taken_over OR node_id IS DISTINCT FROM $1,
           node_id = $1
         WHERE ${ADOPTABLE} RETURNING *`,
        [writer.nodeId, which, writer.token()],
      );
      return rows.map(toRow).sort((a, b) => a.id - b.id);
    });
  }

  async findContent(sha256: string): Promise<FileRow | undefined> {
    const rows = await this.#rows(`SELECT * FROM files WHERE live_sha256 = $1`, [
      Buffer.from(sha256, 'hex'),
    ]);
    return rows[0];
  }

  async getRow(id: number): Promise<FileRow | undefined> {
    return (await this.#rows(`SELECT * FROM files WHERE id = $1`, [id]))[0];
  }

  history(filter: HistoryFilter): AsyncIterable<FileRow> {
    return paged(async (before, limit) => {
      const { sql, params } = historyQuery(filter, before, limit);
      return this.#rows(sql, params);
    });
  }

  rows(): AsyncIterable<FileRow> {
    return paged(async (after, limit) =>
      this.#rows(`SELECT * FROM files WHERE id > $1 ORDER BY id LIMIT $2`, [after ?? 0, limit]),
    );
  }

  /** Counted at each call: several daemons change the rows, and none of them keeps a tally. */
  async totals(): Promise<StateTotals> {
    const { rows } = await this.#pool.query<TallyGroup>(
      `SELECT kind, status, count(*)::bigint AS files, coalesce(sum(size), 0)::bigint AS bytes,
         max(committed_at) AS last
       FROM files GROUP BY kind, status`,
    );
    return new Tally(rows).totals();
  }

  async readRuntime(): Promise<RuntimeRecord | undefined> {
    const { rows } = await this.#pool.query<{ value: string; updated_at: number }>(
      `SELECT value, updated_at FROM runtime
       WHERE ($1::text IS NULL OR node_id = $1) ORDER BY updated_at DESC LIMIT 1`,
      [this.#writer?.nodeId ?? null],
    );
    const raw = rows[0];
    if (raw === undefined) return undefined;
    return { snapshot: JSON.parse(raw.value) as RuntimeSnapshot, updatedAt: raw.updated_at };
  }

  recordEvents(events: readonly NewJournalEvent[], at: number): Promise<number[]> {
    return this.journal.recordEvents(events, at);
  }

  fileEvents(
    fileId: number,
    source: FsPath,
    until: number,
    limit: number,
  ): Promise<JournalEvent[]> {
    return this.journal.fileEvents(fileId, source, until, limit);
  }

  eventsAfter(
    cursor: string | undefined,
    limit: number,
    until?: string,
  ): Promise<DurableEventPage> {
    return this.journal.eventsAfter(cursor, limit, until);
  }

  eventMarksAfter(cursor: string | undefined, limit: number): Promise<DurableMarkPage> {
    return this.journal.eventMarksAfter(cursor, limit);
  }

  eventsCursor(): Promise<string> {
    return this.journal.eventsCursor();
  }

  async pruneEvents(before: number, limit: number): Promise<number> {
    // Webhook messages delivered or given up are history too, kept as long.
    return (
      (await this.journal.pruneEvents(before, limit)) + (await this.outbox.prune(before, limit))
    );
  }

  holds(): Promise<Hold[]> {
    return this.journal.holds();
  }

  hold(hold: Hold, event: NewJournalEvent): Promise<void> {
    return this.journal.hold(hold, event);
  }

  releaseHold(source: FsPath, event: NewJournalEvent, at: number): Promise<boolean> {
    return this.journal.releaseHold(source, event, at);
  }

  readSetting(key: string): Promise<string | undefined> {
    return this.journal.readSetting(key);
  }

  writeSetting(
    key: string,
    value: string | null,
    event: NewJournalEvent,
    at: number,
  ): Promise<void> {
    return this.journal.writeSetting(key, value, event, at);
  }

  announce(messages: readonly OutboxMessage[], at: number): Promise<void> {
    return this.outbox.announce(messages, at);
  }

  dueDeliveries(
    now: number,
    endpoints: readonly string[],
    limit: number,
    busy: readonly number[],
  ): Promise<Delivery[]> {
    return this.outbox.dueDeliveries(now, endpoints, limit, busy);
  }

  nextDeliveryAt(
    endpoints: readonly string[],
    busy: readonly number[],
  ): Promise<number | undefined> {
    return this.outbox.nextDeliveryAt(endpoints, busy);
  }

  deliveryAttempted(id: number, attempt: DeliveryAttempt): Promise<void> {
    return this.outbox.deliveryAttempted(id, attempt);
  }

  deliveries(filter: DeliveryFilter): Promise<Delivery[]> {
    return this.outbox.deliveries(filter);
  }

  redeliver(id: number, at: number): Promise<Delivery | undefined> {
    return this.outbox.redeliver(id, at);
  }

  pendingDeliveries(): Promise<Map<string, number>> {
    return this.outbox.pendingByEndpoint();
  }

  beginHours(hour: number, at: number): Promise<HourMarks> {
    return this.hours.beginHours(hour, at);
  }

  hourMarks(): Promise<HourMarks> {
    return this.hours.hourMarks();
  }

  earliestOpenLineAt(): Promise<number | undefined> {
    return this.hours.earliestOpenLineAt();
  }

  closeHour(closed: ClosedHour, announce?: readonly OutboxMessage[]): Promise<void> {
    return this.hours.closeHour(closed, announce);
  }

  closedHours(): Promise<ClosedHour[]> {
    return this.hours.closedHours();
  }

  async sharedDaemons(): Promise<SharedDaemon[]> {
    const { rows } = await this.#pool.query<{
      node_id: string;
      host: string;
      pid: number;
      started_at: number;
      lease_until_ms: number;
      live: boolean;
      stopped_at: number | null;
    }>(
      `SELECT node_id, host, pid, started_at, stopped_at,
         (extract(epoch FROM lease_until) * 1000)::bigint AS lease_until_ms,
         lease_until > now() AS live
       FROM nodes ORDER BY node_id`,
    );
    return rows.map((r) => ({
      nodeId: r.node_id,
      host: r.host,
      pid: r.pid,
      startedAt: r.started_at,
      leaseUntil: r.lease_until_ms,
      live: r.live && r.stopped_at === null,
      stoppedAt: r.stopped_at,
    }));
  }

  async closingTurn(): Promise<ClosingTurn> {
    const { rows } = await this.#pool.query<{ node_id: string; holds_hour_from: number | null }>(
      `SELECT node_id, holds_hour_from FROM nodes
       WHERE lease_until > now() AND stopped_at IS NULL ORDER BY node_id`,
    );
    const me = this.#writer?.nodeId;
    const others = rows.filter((r) => r.node_id !== me);
    // A daemon that has not said what it holds yet holds everything.
    const held = others.map((r) => r.holds_hour_from ?? 0);
    return {
      closer: me !== undefined && rows[0]?.node_id === me,
      othersHoldFrom: held.length === 0 ? undefined : Math.min(...held),
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      // Giving the lease back needs the database: one that does not answer (a stop during an
      // outage) leaves the lease to run out, and the stop goes on.
      await this.#onClose?.();
    } catch {
      // The lease runs out by itself.
    } finally {
      await this.#pool.end();
    }
  }
}

/** The query of `history` for PostgreSQL: its WHERE clause built from the filter, newest first. */
export function historyQuery(
  filter: HistoryFilter,
  before: number | undefined,
  limit: number,
): { sql: string; params: unknown[] } {
  const where: string[] = [];
  const params: unknown[] = [];
  const param = (value: unknown) => {
    params.push(value);
    return `$${params.length}`;
  };
  if (filter.kind !== undefined) where.push(`kind = ${param(filter.kind)}`);
  if (filter.status !== undefined) where.push(`status = ${param(filter.status)}`);
  if (filter.since !== undefined) where.push(`intent_at >= ${param(filter.since)}`);
  if (filter.sha256Prefix !== undefined) {
    if (!/^[0-9a-f]{1,64}$/.test(filter.sha256Prefix)) {
      throw new TypeError(`sha256Prefix must be lowercase hex, got ${filter.sha256Prefix}`);
    }
    // left(), not LIKE: hex has no wildcards, and a prefix compare cannot be fooled by case.
    const prefix = param(filter.sha256Prefix);
    where.push(`left(sha256, length(${prefix})) = ${prefix}`);
  }
  if (filter.sourceContains !== undefined) {
    // position() over bytes: paths are stored as bytes, and LIKE would read % and _.
    where.push(`position(${param(Buffer.from(filter.sourceContains, 'utf8'))} in source) > 0`);
  }
  if (filter.idAtLeast !== undefined) where.push(`id >= ${param(filter.idAtLeast)}`);
  const below = [before, filter.idBelow].filter((b) => b !== undefined);
  if (below.length > 0) where.push(`id < ${param(Math.min(...below))}`);
  const sql = `SELECT * FROM files ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
    ORDER BY id DESC LIMIT ${param(limit)}`;
  return { sql, params };
}
