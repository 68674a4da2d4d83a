import fs from 'node:fs';
import { UsageError, hasCode } from './errors.js';
import type { RowKind, RowStatus } from './interfaces.js';
import { displayPath, fromBytes } from './paths.js';
import { openSqliteState } from './state/sqlite-store.js';

/** The statuses `list --status` accepts, as operators name them. */
export const LIST_STATUSES = {
  __proto__: null,
  ingested: { kind: 'ingest', status: 'committed' },
  duplicate: { kind: 'duplicate', status: 'committed' },
  quarantined: { kind: 'quarantine', status: 'committed' },
  'in-flight': { kind: null, status: 'intent' },
  aborted: { kind: null, status: 'aborted' },
  vanished: { kind: null, status: 'vanished' },
  released: { kind: 'quarantine', status: 'released' },
} as unknown as Readonly<Record<string, { kind: RowKind | null; status: RowStatus }>>;

export interface DaemonSnapshot {
  pid: number;
  startedAt: number;
  queueDepth: number;
  inflight: number;
  pending: number;
  paused: string | null;
  oldestPending: { path: string; since: number } | null;
}

export interface StatusReport {
  running: boolean;
  daemon: (DaemonSnapshot & { updatedAt: number }) | null;
  ingested: { files: number; bytes: number; last: string | null };
  duplicates: number;
  quarantined: number;
  inFlight: number;
  aborted: number;
  vanished: number;
}

/** Commands that read an existing state refuse a path where there is none, naming it. */
export function requireStateFile(statePath: string): void {
  if (!fs.existsSync(statePath)) {
    throw new UsageError(
      `--state-path ${JSON.stringify(statePath)} does not exist (give the daemon's --state-path, or its --manifests for the default)`,
    );
  }
}

function pidAlive(statePath: string): number | undefined {
  let text: string;
  try {
    text = fs.readFileSync(`${statePath}.pid`, 'utf8');
  } catch (error) {
    if (hasCode(error, 'ENOENT')) return undefined;
    throw error;
  }
  const pid = Number(text.trim());
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    process.kill(pid, 0);
    return pid;
  } catch (error) {
    if (hasCode(error, 'ESRCH')) return undefined;
    if (hasCode(error, 'EPERM')) return pid; // alive, someone else's
    throw error;
  }
}

/** Reads the state without disturbing a running daemon (read-only, or a snapshot). */
export function status(statePath: string, now = Date.now()): StatusReport {
  requireStateFile(statePath);
  const store = openSqliteState(statePath, { readonly: true });
  try {
    const count = (where: string) =>
      (store.db.prepare(`SELECT count(*) AS n FROM files WHERE ${where}`).get() as { n: number }).n;
    const ingested = store.db
      .prepare(
        `SELECT count(*) AS files, coalesce(sum(size), 0) AS bytes, max(committed_at) AS last
         FROM files WHERE kind = 'ingest' AND status = 'committed'`,
      )
      .get() as { files: number; bytes: number; last: number | null };
    const runtime = store.db
      .prepare(`SELECT value, updated_at FROM runtime WHERE key = 'daemon'`)
      .get() as { value: string; updated_at: number } | undefined;
    const pid = pidAlive(statePath);
    const snapshot =
      runtime === undefined
        ? null
        : { ...(JSON.parse(runtime.value) as DaemonSnapshot), updatedAt: runtime.updated_at };
    return {
      running: pid !== undefined && snapshot?.pid === pid && now - snapshot.updatedAt < 30_000,
      daemon: snapshot,
      ingested: {
        files: ingested.files,
        bytes: ingested.bytes,
        last: ingested.last === null ? null : new Date(ingested.last).toISOString(),
      },
      duplicates: count(`kind = 'duplicate' AND status = 'committed'`),
      quarantined: count(`kind = 'quarantine' AND status = 'committed'`),
      inFlight: count(`status = 'intent'`),
      aborted: count(`status = 'aborted'`),
      vanished: count(`status = 'vanished'`),
    };
  } finally {
    store.close();
  }
}

function ago(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  if (s < 172_800) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86_400)}d`;
}

export function formatStatus(r: StatusReport, now = Date.now()): string {
  const d = r.daemon;
  const head = r.running
    ? `ingestor: running (pid ${d!.pid}, up ${ago(now - d!.startedAt)})${d!.paused === null ? '' : `, PAUSED: ${d!.paused}`}`
    : `ingestor: not running${d === null ? '' : ` (last seen ${ago(now - d.updatedAt)} ago)`}`;
  const lines = [
    head,
    `ingested     ${r.ingested.files} files, ${r.ingested.bytes} bytes${r.ingested.last === null ? '' : `, last at ${r.ingested.last}`}`,
    `duplicates   ${r.duplicates}`,
    `quarantined  ${r.quarantined}`,
    `in flight    ${r.inFlight}`,
    `rolled back  ${r.aborted}, vanished ${r.vanished}`,
  ];
  if (d !== null) {
    const oldest =
      d.oldestPending === null
        ? ''
        : ` (oldest: ${d.oldestPending.path}, waiting ${ago(now - d.oldestPending.since)})`;
    lines.push(
      `pending      ${d.pending}${oldest}; queue ${d.queueDepth}, in progress ${d.inflight} [as of ${ago(now - d.updatedAt)} ago]`,
    );
  }
  return `${lines.join('\n')}\n`;
}

export interface ListOptions {
  status?: string;
  /** Only rows from this instant (ms) on. */
  since?: number;
  limit: number;
}

export interface ListedFile {
  id: number;
  status: string;
  source: string;
  dest: string | null;
  sha256: string | null;
  bytes: number;
  completedAt: string | null;
  intentAt: string;
  committedAt: string | null;
  hashMs: number | null;
  latencyMs: number | null;
  error: string | null;
}

const NAMES: Record<string, string> = {
  'ingest/committed': 'ingested',
  'duplicate/committed': 'duplicate',
  'quarantine/committed': 'quarantined',
  'quarantine/released': 'released',
};

/** Parses `--since`: an ISO date/time, or an age like 30s, 15m, 2h, 7d. */
export function parseSince(raw: string, now = Date.now()): number {
  const age = /^(\d+(?:\.\d+)?)([smhd])$/.exec(raw);
  if (age !== null) {
    const unit = { s: 1e3, m: 6e4, h: 3.6e6, d: 8.64e7 }[age[2] as 's' | 'm' | 'h' | 'd'];
    return now - Number(age[1]) * unit;
  }
  const at = Date.parse(raw);
  if (Number.isNaN(at)) {
    throw new UsageError(
      `--since must be an ISO date/time or an age like 15m, 2h, 7d, got ${JSON.stringify(raw)}`,
    );
  }
  return at;
}

/** The history of files, newest first. */
export function list(statePath: string, options: ListOptions): ListedFile[] {
  requireStateFile(statePath);
  const where: string[] = [];
  const params: Record<string, unknown> = { limit: options.limit };
  if (options.status !== undefined) {
    const filter = LIST_STATUSES[options.status];
    if (filter === undefined) {
      throw new UsageError(
        `--status must be one of ${Object.keys(LIST_STATUSES).join(', ')}, got ${JSON.stringify(options.status)}`,
      );
    }
    where.push('status = @status');
    params.status = filter.status;
    if (filter.kind !== null) {
      where.push('kind = @kind');
      params.kind = filter.kind;
    }
  }
  if (options.since !== undefined) {
    where.push('intent_at >= @since');
    params.since = options.since;
  }
  const store = openSqliteState(statePath, { readonly: true });
  try {
    const rows = store.db
      .prepare(
        `SELECT * FROM files ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
         ORDER BY id DESC LIMIT @limit`,
      )
      .all(params) as Record<string, unknown>[];
    const iso = (v: unknown) => (typeof v === 'number' ? new Date(v).toISOString() : null);
    return rows.map((r) => {
      const dest = displayPath(fromBytes(r.dest as Buffer));
      const committedAt = r.committed_at as number | null;
      const completedAt = r.completed_at as number | null;
      return {
        id: r.id as number,
        status:
          NAMES[`${String(r.kind)}/${String(r.status)}`] ??
          (r.status === 'intent' ? 'in-flight' : String(r.status)),
        source: displayPath(fromBytes(r.source as Buffer)),
        dest: dest === '' ? null : dest,
        sha256: r.sha256 === '' ? null : (r.sha256 as string),
        bytes: r.size as number,
        completedAt: iso(completedAt),
        intentAt: iso(r.intent_at)!,
        committedAt: iso(committedAt),
        hashMs: r.hash_ms === null ? null : Math.round((r.hash_ms as number) * 10) / 10,
        latencyMs: committedAt !== null && completedAt !== null ? committedAt - completedAt : null,
        error: r.error as string | null,
      };
    });
  } finally {
    store.close();
  }
}

export function formatListed(f: ListedFile): string {
  const parts = [
    `#${f.id}`.padEnd(7),
    f.status.padEnd(11),
    f.committedAt ?? f.intentAt,
    f.source,
    f.dest === null ? '' : `-> ${f.dest}`,
    f.sha256 === null ? '' : `sha256 ${f.sha256.slice(0, 12)}`,
    `${f.bytes} B`,
    f.latencyMs === null ? '' : `${f.latencyMs} ms`,
    f.error === null ? '' : `error: ${f.error}`,
  ];
  return parts.filter((p) => p !== '').join('  ');
}
