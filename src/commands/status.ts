import { setTimeout as sleep } from 'node:timers/promises';
import type { Clock } from '../clock.js';
import { HOUR_MS, hourLabel, systemClock } from '../clock.js';
import { EXIT, hasCode } from '../errors.js';
import { age, ago, formatBytes } from '../ops/human-units.js';
import type { StatusCommandOptions } from '../options/types.js';
import { lockHolderPid } from '../state/lock.js';
import { asLocation, openState } from '../state/open.js';
import type { StateLocation } from '../state/open.js';
import { readOperatorPause } from '../state/settings.js';
import type { RuntimeRecord, RuntimeSnapshot, StateStore } from '../state/store.js';

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
  /** An operator's pause the state keeps (it holds across restarts), or null. */
  operatorPause: { by: string; since: string } | null;
  /**
   * Closed hours: the first hour to close and the last closed (ISO, `2026-11-24T10:00:00Z`; null
   * before the first), and how many hours after it are over but not closed yet (by this clock).
   */
  hours: { first: string | null; closedThrough: string | null; overNotClosed: number };
  /** The daemons of a shared PostgreSQL state, each with its lease; absent on SQLite. */
  daemons?: {
    nodeId: string;
    host: string;
    pid: number;
    live: boolean;
    leaseUntil: string;
    startedAt: string;
    stoppedAt: string | null;
  }[];
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

/** The pid of the daemon holding the state, if that process is alive. */
function pidAlive(statePath: string): number | undefined {
  const pid = lockHolderPid(statePath);
  if (pid === undefined) return undefined;
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
    const record = await store.readRuntime();
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
  state: string | StateLocation,
  options: StatusOptions = {},
): Promise<StatusReport> {
  const o: Required<StatusOptions> = { ...statusDefaults, ...options };
  const location = asLocation(state);
  const store = await openState(location, { readonly: true, mustExist: true });
  try {
    let daemon = snapshotOf(await store.readRuntime());
    // A shared PostgreSQL state has no lock file: its daemons may be on other hosts, and run
    // when their snapshot is recent.
    const shared = location.stateUrl !== undefined;
    const pid = shared ? undefined : pidAlive(location.statePath);
    // Signal only a daemon that has written a recent snapshot under that pid: it installs its
    // SIGUSR2 handler before its first snapshot (the default action would kill it), and the
    // pid of a crashed daemon, reused since by another process, goes stale with its snapshot.
    const recent = daemon !== null && o.clock() - daemon.updatedAt < RUNNING_WINDOW_MS;
    let running = shared ? recent : pid !== undefined && daemon?.pid === pid && recent;
    let refresh: SnapshotRefresh = 'not-running';
    if (running && !shared) {
      const refreshed = await refreshSnapshot(store, pid!, o);
      refresh = refreshed.refresh;
      if (refreshed.record !== undefined) daemon = snapshotOf(refreshed.record);
      if (refresh === 'not-running') running = false;
    }
    // Counted after the refresh, so that they are at least as recent as the snapshot.
    const t = await store.totals();
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
      operatorPause: await operatorPauseOf(store),
      hours: await hoursOf(store, now),
      ...(shared ? { daemons: await daemonsOf(store) } : {}),
    };
  } finally {
    await store.close();
  }
}

/** The daemons of a shared state, as `status` reports them. */
async function daemonsOf(store: StateStore): Promise<NonNullable<StatusReport['daemons']>> {
  const iso = (ms: number) => new Date(ms).toISOString();
  return ((await store.sharedDaemons()) ?? []).map((d) => ({
    nodeId: d.nodeId,
    host: d.host,
    pid: d.pid,
    live: d.live,
    leaseUntil: iso(d.leaseUntil),
    startedAt: iso(d.startedAt),
    stoppedAt: d.stoppedAt === null ? null : iso(d.stoppedAt),
  }));
}

/** The operator's pause the state keeps (a state from before schema v3 has none). */
async function operatorPauseOf(store: StateStore): Promise<StatusReport['operatorPause']> {
  const pause = await readOperatorPause(store).catch(() => undefined);
  return pause === undefined ? null : { by: pause.by, since: new Date(pause.since).toISOString() };
}

/** Where the closing of hours stands, as `status` reports it. */
async function hoursOf(store: StateStore, now: number): Promise<StatusReport['hours']> {
  const { firstHour, closedThrough } = await store.hourMarks();
  if (firstHour === undefined) return { first: null, closedThrough: null, overNotClosed: 0 };
  const next = closedThrough === undefined ? firstHour : closedThrough + HOUR_MS;
  return {
    first: hourLabel(firstHour),
    closedThrough: closedThrough === undefined ? null : hourLabel(closedThrough),
    overNotClosed: Math.max(0, Math.floor((now - next) / HOUR_MS)),
  };
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
  const p = r.operatorPause;
  const lines = [
    head,
    ...(p === null
      ? []
      : [
          `PAUSED       by an operator (${p.by}) since ${p.since}: nothing is taken until it is resumed (POST /v1/resume, or ingestor ctl resume${r.running ? '' : ', once the daemon runs with --api-port'})`,
        ]),
    r.ingested.files === 0
      ? 'nothing ingested yet'
      : `ingested     ${r.ingested.files} files, ${formatBytes(r.ingested.bytes)}${r.ingested.last === null ? '' : `, last at ${r.ingested.last}`}`,
    `duplicates   ${r.duplicates}${r.duplicates === 0 ? '' : ` (${formatBytes(r.duplicateBytes)})`}`,
    `quarantined  ${r.quarantined}`,
    `in flight    ${r.inFlight}`,
    `rolled back  ${r.aborted}, vanished ${r.vanished}`,
    ...hoursLine(r.hours),
    ...(r.daemons ?? []).map(
      (x) =>
        `daemon       ${x.nodeId} on ${x.host} (pid ${x.pid}): ${x.live ? `live, lease until ${x.leaseUntil}` : x.stoppedAt !== null ? `stopped at ${x.stoppedAt}` : `its lease ran out at ${x.leaseUntil}: its files are taken over`}`,
    ),
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

/** The closed hours' line: the last `_SUCCESS`, and hours over that wait for theirs. */
function hoursLine(h: StatusReport['hours']): string[] {
  if (h.first === null) return [];
  const closed =
    h.closedThrough === null
      ? `none closed yet (the first is ${h.first})`
      : `closed through ${h.closedThrough} (its _SUCCESS written)`;
  const waiting =
    h.overNotClosed === 0
      ? ''
      : `; ${h.overNotClosed} hour${h.overNotClosed === 1 ? '' : 's'} over and not closed yet (files in flight, or no daemon running)`;
  return [`hours        ${closed}${waiting}`];
}

/** `ingestor status`: the report, as text or JSON, on stdout. */
export async function statusCommand(o: StatusCommandOptions): Promise<number> {
  const report = await status(o);
  process.stdout.write(o.json ? `${JSON.stringify(report)}\n` : formatStatus(report));
  return EXIT.ok;
}
