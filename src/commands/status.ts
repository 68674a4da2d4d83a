import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import picomatch from 'picomatch';
import type { Clock } from '../clock.js';
import { systemClock } from '../clock.js';
import { UsageError, hasCode } from '../errors.js';
import { isNoDest } from '../ingest/naming.js';
import type { FileRow, RowKind, RowStatus } from '../interfaces.js';
import { baseName, displayPath } from '../paths.js';
import { openSqliteState } from '../state/sqlite-store.js';
import type { HistoryFilter, RuntimeRecord, RuntimeSnapshot, StateStore } from '../state/store.js';

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

/**
 * Whether `status` got a snapshot taken after it asked (SIGUSR2): `live`; or shows an older
 * one because it may not signal the daemon (`no-permission`: another user's), the daemon did
 * not answer in time (`no-answer`: busy, or its state volume is full), or no daemon runs.
 */
export type SnapshotRefresh = 'live' | 'no-permission' | 'no-answer' | 'not-running';

export interface StatusReport {
  running: boolean;
  daemon: (RuntimeSnapshot & { updatedAt: number }) | null;
  /** How the daemon snapshot was obtained. */
  refresh: SnapshotRefresh;
  /** Age of the daemon snapshot when the report was made (ms), or null without one. */
  snapshotAgeMs: number | null;
  ingested: { files: number; bytes: number; last: string | null };
  duplicates: number;
  /** Bytes of the committed duplicates (moved to the duplicates directory, or deleted). */
  duplicateBytes: number;
  quarantined: number;
  inFlight: number;
  aborted: number;
  vanished: number;
}

export interface StatusOptions {
  /** Default: the system clock (the daemon stamps its snapshots with the same clock). */
  clock?: Clock;
  /** How long to wait for the daemon's fresh snapshot after asking. Default: 1000 ms. */
  refreshTimeoutMs?: number;
  /** Sends the refresh signal. Default: `process.kill` (tests replace it). */
  kill?: (pid: number, signal: NodeJS.Signals) => void;
}

const statusDefaults = {
  clock: systemClock,
  refreshTimeoutMs: 1000,
  kill: (pid: number, signal: NodeJS.Signals) => {
    process.kill(pid, signal);
  },
} satisfies Required<StatusOptions>;

/** A daemon whose snapshot is older than this is taken for dead (it writes one every 5 s). */
const RUNNING_WINDOW_MS = 30_000;

/** How often `status` looks for the snapshot it asked for. */
const REFRESH_POLL_MS = 20;

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

function snapshotOf(record: RuntimeRecord | undefined): StatusReport['daemon'] {
  if (record === undefined) return null;
  return { ...record.snapshot, updatedAt: record.updatedAt };
}

/**
 * Asks the daemon for a fresh snapshot (SIGUSR2 makes it write one at once) and waits up to
 * `refreshTimeoutMs` for a snapshot stamped no earlier than the signal. The snapshot lives in the
 * state, which no event announces to another process, so this polls: one single-row read
 * every 20 ms, for a second at most.
 */
async function refreshSnapshot(
  store: StateStore,
  pid: number,
  o: Required<StatusOptions>,
): Promise<{ refresh: SnapshotRefresh; record?: RuntimeRecord }> {
  const asked = o.clock();
  try {
    o.kill(pid, 'SIGUSR2');
  } catch (error) {
    if (hasCode(error, 'EPERM')) return { refresh: 'no-permission' };
    if (hasCode(error, 'ESRCH')) return { refresh: 'not-running' }; // it stopped meanwhile
    throw error;
  }
  for (let waited = 0; ; waited += REFRESH_POLL_MS) {
    const record = store.readRuntime();
    if (record !== undefined && record.updatedAt >= asked) return { refresh: 'live', record };
    if (waited >= o.refreshTimeoutMs) return { refresh: 'no-answer' };
    await sleep(REFRESH_POLL_MS);
  }
}

/**
 * Reads the state without disturbing a running daemon (read-only, or a snapshot). When the
 * daemon runs, asks it for a live snapshot of what only it knows (pending files, queue).
 */
export async function status(
  statePath: string,
  options: StatusOptions = {},
): Promise<StatusReport> {
  const o: Required<StatusOptions> = { ...statusDefaults, ...options };
  requireStateFile(statePath);
  const store = openSqliteState(statePath, { readonly: true });
  try {
    let daemon = snapshotOf(store.readRuntime());
    const pid = pidAlive(statePath);
    // Signal only a daemon that has written a recent snapshot under that pid: it installs its
    // SIGUSR2 handler before its first snapshot (the default action would kill it), and the
    // pid of a crashed daemon, reused since by another process, goes stale with its snapshot.
    let running =
      pid !== undefined && daemon?.pid === pid && o.clock() - daemon.updatedAt < RUNNING_WINDOW_MS;
    let refresh: SnapshotRefresh = 'not-running';
    if (running) {
      const refreshed = await refreshSnapshot(store, pid!, o);
      refresh = refreshed.refresh;
      if (refreshed.record !== undefined) daemon = snapshotOf(refreshed.record);
      if (refresh === 'not-running') running = false;
    }
    // Counted after the refresh, so that they are at least as recent as the snapshot.
    const t = store.totals();
    const now = o.clock();
    return {
      running,
      daemon,
      refresh,
      snapshotAgeMs: daemon === null ? null : Math.max(0, now - daemon.updatedAt),
      ingested: {
        files: t.ingestedFiles,
        bytes: t.ingestedBytes,
        last: t.lastIngestAt === null ? null : new Date(t.lastIngestAt).toISOString(),
      },
      duplicates: t.duplicates,
      duplicateBytes: t.duplicateBytes,
      quarantined: t.quarantined,
      inFlight: t.inFlight,
      aborted: t.aborted,
      vanished: t.vanished,
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

/** An age with a tenth of a second while it is short (`4.2 s`), else as `ago` (`5m`). */
function age(ms: number): string {
  return ms < 60_000 ? `${(Math.max(0, ms) / 1000).toFixed(1)} s` : ago(ms);
}

const BYTE_UNITS = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'] as const;

/** A size for people: `512 B`, `1.2 GiB` (binary units, one decimal). */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  let value = bytes / 1024;
  let unit = 0;
  // Round first, so that 1023.96 KiB is shown as 1.0 MiB rather than 1024.0 KiB.
  while (Math.round(value * 10) / 10 >= 1024 && unit < BYTE_UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(1)} ${BYTE_UNITS[unit]!}`;
}

const NOT_REFRESHED: Record<SnapshotRefresh, string> = {
  live: '',
  'no-permission': ', not refreshed: no permission to signal the daemon',
  'no-answer': ', not refreshed: the daemon did not answer in time',
  'not-running': '',
};

export function formatStatus(r: StatusReport, now = Date.now()): string {
  const d = r.daemon;
  const head = r.running
    ? `ingestor: running (pid ${d!.pid}, up ${ago(now - d!.startedAt)})${d!.paused === null ? '' : `, PAUSED: ${d!.paused}`}`
    : `ingestor: not running${d === null ? '' : ` (last seen ${ago(now - d.updatedAt)} ago)`}`;
  const lines = [
    head,
    r.ingested.files === 0
      ? 'nothing ingested yet'
      : `ingested     ${r.ingested.files} files, ${formatBytes(r.ingested.bytes)}${r.ingested.last === null ? '' : `, last at ${r.ingested.last}`}`,
    `duplicates   ${r.duplicates}${r.duplicates === 0 ? '' : ` (${formatBytes(r.duplicateBytes)})`}`,
    `quarantined  ${r.quarantined}`,
    `in flight    ${r.inFlight}`,
    `rolled back  ${r.aborted}, vanished ${r.vanished}`,
  ];
  if (d !== null) {
    const notes: string[] = [];
    if (r.refresh !== 'live') {
      notes.push(`as of ${age(now - d.updatedAt)} ago${NOT_REFRESHED[r.refresh]}`);
    }
    if (d.oldestPending !== null) {
      const { path, since, reason } = d.oldestPending;
      const why = typeof reason === 'string' && reason !== '' ? ` (${reason})` : '';
      notes.push(`oldest: ${path}, waiting ${ago(now - since)}${why}`);
    }
    const note = notes.length === 0 ? '' : ` (${notes.join('; ')})`;
    lines.push(
      `pending      ${d.pending}${note}; queue ${d.queueDepth}, in progress ${d.inflight}`,
    );
    for (const v of d.writersUnseen ?? []) {
      lines.push(
        `writers      not seen in ${v.dir} and its volume (${v.code}: ${v.reason}): the stability window alone decides there; use --mode sidecar for writers on other hosts`,
      );
    }
  }
  return `${lines.join('\n')}\n`;
}

export interface ListOptions {
  status?: string;
  /** Only rows from this instant (ms) on. */
  since?: number;
  /**
   * Only sources matching this glob (`--path`): from `/`, the whole path; with another `/`, any
   * trailing part of whole names; and always the bare name.
   */
  path?: string;
  /** Only this content (`--sha256`): 64 hex digits, or a prefix of at least 6. */
  sha256?: string;
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
  /** For a duplicate: the ingested file with the same content (null if its row is gone). */
  duplicateOf: { id: number; source: string; dest: string | null } | null;
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

/** The shortest `--sha256` prefix: shorter ones match too many files to name one. */
export const SHA256_PREFIX_MIN = 6;

/** Parses `--sha256`: a whole SHA-256 or a prefix of at least 6 hex digits, any case. */
export function parseSha256(raw: string): string {
  if (!new RegExp(`^[0-9a-fA-F]{${SHA256_PREFIX_MIN},64}$`).test(raw)) {
    throw new UsageError(
      `--sha256 must be a SHA-256 (64 hex digits) or a prefix of at least ${SHA256_PREFIX_MIN}, got ${JSON.stringify(raw)}`,
    );
  }
  return raw.toLowerCase();
}

/** Validates the status name and turns the options into the store's filter. */
function historyFilter(options: ListOptions): HistoryFilter {
  const filter: HistoryFilter = {};
  if (options.status !== undefined) {
    const named = LIST_STATUSES[options.status];
    if (named === undefined) {
      throw new UsageError(
        `--status must be one of ${Object.keys(LIST_STATUSES).join(', ')}, got ${JSON.stringify(options.status)}`,
      );
    }
    filter.status = named.status;
    if (named.kind !== null) filter.kind = named.kind;
  }
  if (options.since !== undefined) filter.since = options.since;
  if (options.sha256 !== undefined) filter.sha256Prefix = parseSha256(options.sha256);
  return filter;
}

/**
 * `--path`, matched as `--exclude` matches as far as a row allows: the state keeps absolute
 * sources and `list` does not know the input. A glob from `/` is matched against the whole
 * source path; any other glob with a `/` against every trailing part of it made of whole names
 * (`orders/*.csv` finds `/in/orders/a.csv` and `/in/2026/orders/a.csv`; a leading `./` is
 * dropped); every glob also against the bare name (`*.csv`).
 */
function pathMatcher(glob: string | undefined): ((row: FileRow) => boolean) | undefined {
  if (glob === undefined) return undefined;
  if (glob === '') throw new UsageError('--path must be a glob, got ""');
  const relative = glob.includes('/') && !glob.startsWith('/');
  const matches = picomatch(relative ? `**/${glob.replace(/^(\.\/)+/, '')}` : glob, { dot: true });
  return (row) => {
    const source = displayPath(row.source);
    return matches(source) || matches(displayPath(baseName(row.source)));
  };
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** The history of files, newest first. */
export function list(statePath: string, options: ListOptions): ListedFile[] {
  const filter = historyFilter(options);
  const matches = pathMatcher(options.path);
  requireStateFile(statePath);
  const store = openSqliteState(statePath, { readonly: true });
  try {
    const rows: FileRow[] = [];
    if (options.limit > 0) {
      for (const row of store.history(filter)) {
        if (matches !== undefined && !matches(row)) continue;
        rows.push(row);
        if (rows.length >= options.limit) break;
      }
    }
    const originals = new Map<number, FileRow | undefined>();
    const originalOf = (id: number) => {
      if (!originals.has(id)) originals.set(id, store.getRow(id));
      return originals.get(id);
    };
    return rows.map((r): ListedFile => {
      const original = r.duplicateOf === null ? undefined : originalOf(r.duplicateOf);
      return {
        id: r.id,
        status: NAMES[`${r.kind}/${r.status}`] ?? (r.status === 'intent' ? 'in-flight' : r.status),
        source: displayPath(r.source),
        dest: isNoDest(r.dest) ? null : displayPath(r.dest),
        sha256: r.sha256 === '' ? null : r.sha256,
        bytes: r.size,
        completedAt: iso(r.completedAt),
        intentAt: iso(r.intentAt)!,
        committedAt: iso(r.committedAt),
        hashMs: r.hashMs === null ? null : Math.round(r.hashMs * 10) / 10,
        latencyMs:
          r.committedAt !== null && r.completedAt !== null ? r.committedAt - r.completedAt : null,
        error: r.error,
        duplicateOf:
          original === undefined
            ? null
            : {
                id: original.id,
                source: displayPath(original.source),
                dest: isNoDest(original.dest) ? null : displayPath(original.dest),
              },
      };
    });
  } finally {
    store.close();
  }
}

/** What `list` says when nothing matches: the filters it applied, or that the state is empty. */
export function describeNoMatch(options: ListOptions): string {
  const filters = [
    options.status === undefined ? undefined : `status=${options.status}`,
    options.since === undefined ? undefined : `since=${new Date(options.since).toISOString()}`,
    options.path === undefined ? undefined : `path=${options.path}`,
    options.sha256 === undefined ? undefined : `sha256=${options.sha256}`,
  ].filter((f) => f !== undefined);
  return filters.length === 0 ? 'no files recorded yet' : `no files match (${filters.join(', ')})`;
}

export function formatListed(f: ListedFile): string {
  const original =
    f.duplicateOf === null
      ? ''
      : `same as #${f.duplicateOf.id} ${f.duplicateOf.source}${f.duplicateOf.dest === null ? '' : ` -> ${f.duplicateOf.dest}`}`;
  const parts = [
    `#${f.id}`.padEnd(7),
    f.status.padEnd(11),
    f.committedAt ?? f.intentAt,
    f.source,
    f.dest === null ? '' : `-> ${f.dest}`,
    f.sha256 === null ? '' : `sha256 ${f.sha256.slice(0, 12)}`,
    formatBytes(f.bytes),
    f.latencyMs === null ? '' : `${f.latencyMs} ms`,
    original,
    f.error === null ? '' : `error: ${f.error}`,
  ];
  return parts.filter((p) => p !== '').join('  ');
}
