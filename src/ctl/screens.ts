// The answers of the control API as ctl shows them to people: a status screen like `ingestor
// status`, the stats as a table of windows, files and pending files as tables, and one line per
// action. Fields a screen does not know are not lost: --json shows the API's answer as it is.
import { ago, formatBytes } from '../ops/human-units.js';
import { cell, escapeControls, fields, table } from './format.js';

type Obj = Record<string, unknown>;

const obj = (value: unknown): Obj =>
  typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Obj) : {};
const num = (value: unknown): number | undefined =>
  typeof value === 'number' && Number.isFinite(value) ? value : undefined;
const str = (value: unknown): string => (typeof value === 'string' ? escapeControls(value) : '-');

/** A rate or a count per second, rounded to what people read: `0.03`, `2.5`, `35`, `1204`. */
export function formatRate(value: number): string {
  if (value === 0) return '0';
  if (value >= 100) return String(Math.round(value));
  if (value >= 10) return value.toFixed(1);
  if (value >= 0.01) return value.toFixed(2);
  return '<0.01';
}

/** A duration in milliseconds: `0.4 ms`, `21 ms`, `3.2 s`. */
export function formatMs(ms: number): string {
  if (ms >= 1000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms >= 10) return `${Math.round(ms)} ms`;
  return `${ms.toFixed(1)} ms`;
}

/** A share as a percentage: `0%`, `0.4%`, `12%`. */
export function formatPercent(share: number): string {
  const percent = share * 100;
  if (percent === 0) return '0%';
  if (percent < 10) return `${percent.toFixed(1)}%`;
  return `${Math.round(percent)}%`;
}

const bytesOr = (value: unknown) => {
  const n = num(value);
  return n === undefined ? '-' : formatBytes(n);
};

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** `batchSize` as `batch size`: the limits' names, read aloud. */
const words = (name: string) => name.replace(/[A-Z]/g, (c) => ` ${c.toLowerCase()}`);

/** The limits in one line: `concurrency 16, batch size 256, ...`, each that the daemon gives. */
export function limitsLine(limits: unknown): string {
  const entries = Object.entries(obj(limits));
  if (entries.length === 0) return '-';
  return entries.map(([name, value]) => `${words(name)} ${limitCell(name, value)}`).join(', ');
}

/** The limits in bytes (`maxFileSize`, `maxBytesPerSecond`, `minFreeSpace`) in binary units. */
const BYTE_LIMITS = new Set(['maxBytesPerSecond', 'minFreeSpace', 'maxFileSize']);

function limitCell(name: string, value: unknown): string {
  if (value === null) return 'none';
  if (BYTE_LIMITS.has(name) && typeof value === 'number') return formatBytes(value);
  return cell(value);
}

/** Why the daemon is paused, from `paused` of the status: the operator's (who, since when) or a volume's. */
function pausedLine(paused: Obj): string {
  const reason = str(paused.reason);
  const since = typeof paused.since === 'string' ? ` since ${paused.since}` : '';
  return paused.kind === 'operator' ? `${reason}${since} (ctl resume ends it)` : reason;
}

/**
 * `GET /v1/status` as a screen like `ingestor status`'s: the state, the counts with their sizes,
 * the queue, the limits, the daemon's use of the machine, and the volumes' free space.
 */
export function statusScreen(body: unknown, now = Date.now()): string {
  const s = obj(body);
  const files = obj(s.files);
  const paused = obj(s.paused);
  const uptime = num(s.uptimeSeconds);
  const head = [
    `pid ${cell(s.pid)}`,
    uptime === undefined ? undefined : `up ${ago(uptime * 1000)}`,
    typeof s.version === 'string' ? `version ${s.version}` : undefined,
  ].filter((p) => p !== undefined);
  const lines = [`ingestor: ${str(s.state)} (${head.join(', ')})`];
  for (const pause of Array.isArray(s.pauses) ? s.pauses : [paused]) {
    if (Object.keys(obj(pause)).length > 0) lines.push(`PAUSED       ${pausedLine(obj(pause))}`);
  }
  const ingested = obj(files.ingested);
  const duplicates = obj(files.duplicates);
  const ingestedFiles = num(ingested.files) ?? 0;
  const last = typeof files.lastIngestAt === 'string' ? `, last at ${files.lastIngestAt}` : '';
  lines.push(
    ingestedFiles === 0
      ? 'ingested     nothing yet'
      : `ingested     ${ingestedFiles} files, ${bytesOr(ingested.bytes)}${last}`,
    `duplicates   ${cell(duplicates.files)}${num(duplicates.files) ? ` (${bytesOr(duplicates.bytes)})` : ''}`,
    `quarantined  ${cell(files.quarantined)}`,
    `in flight    ${cell(files.inFlight)}`,
    `rolled back  ${cell(files.aborted)}, vanished ${cell(files.vanished)}`,
  );
  const queue = obj(s.queue);
  lines.push(
    `queue        ${cell(queue.queued)} queued, ${cell(queue.inflight)} in progress, ${cell(queue.pending)} pending, ${cell(queue.held)} held, ${cell(queue.backoff)} backing off (ctl pending says why)`,
    `limits       ${limitsLine(s.limits)}`,
  );
  const r = obj(s.resources);
  const delay = obj(r.eventLoopDelayMs);
  const use = [
    num(r.cpuPercent) === undefined ? undefined : `CPU ${num(r.cpuPercent)!.toFixed(1)}%`,
    `memory ${bytesOr(r.rssBytes)} (heap ${bytesOr(r.heapUsedBytes)})`,
    num(delay.mean) === undefined
      ? undefined
      : `event loop delay ${formatMs(num(delay.mean)!)} mean, ${formatMs(num(delay.p99) ?? 0)} p99`,
    num(r.openFiles) === undefined ? undefined : plural(num(r.openFiles)!, 'open file'),
    num(r.inotifyWatches) === undefined
      ? undefined
      : plural(num(r.inotifyWatches)!, 'inotify watch', 'inotify watches'),
  ].filter((p) => p !== undefined);
  lines.push(`resources    ${use.join(', ')}`);
  if (typeof files.asOf === 'string') {
    const asOf = Date.parse(files.asOf);
    if (!Number.isNaN(asOf) && now - asOf >= 1000) {
      lines.push(`(counts as of ${ago(now - asOf)} ago)`);
    }
  }
  const volumes = (Array.isArray(r.volumes) ? r.volumes : []).map((v) => {
    const volume = obj(v);
    const free = num(volume.freeBytes);
    const total = num(volume.totalBytes);
    return {
      volume: volume.name,
      free: free === undefined ? '-' : formatBytes(free),
      total: total === undefined ? '-' : formatBytes(total),
      used:
        free === undefined || total === undefined || total === 0
          ? '-'
          : formatPercent((total - free) / total),
      path:
        typeof volume.error === 'string' ? `${str(volume.path)} (${volume.error})` : volume.path,
    };
  });
  let text = `${lines.join('\n')}\n`;
  if (volumes.length > 0) {
    text += `\n${table(volumes, ['volume', 'free', 'total', 'used', 'path'])}`;
  }
  return text;
}

/** The failures of a window: `none`, or each class with its count and its rate. */
function failuresCell(w: Obj): string {
  const failures = obj(w.failures);
  const rates = obj(w.failureRate);
  const parts = Object.entries(failures)
    .filter(([, count]) => num(count) !== undefined && num(count)! > 0)
    .map(([kind, count]) => `${kind} ${cell(count)} (${formatPercent(num(rates[kind]) ?? 0)})`);
  return parts.length === 0 ? 'none' : parts.join(', ');
}

/** `GET /v1/stats` as a table, a row per window (1, 5, 60 minutes), rates with their units. */
export function statsScreen(body: unknown): string {
  const windows = Object.entries(obj(obj(body).windows)).map(([name, value]) => {
    const w = obj(value);
    const latency = obj(w.latencyMs);
    const mean = num(latency.mean);
    const p95 = num(latency.p95);
    return {
      window: name,
      'files/s': formatRate(num(w.filesPerSecond) ?? 0),
      'bytes/s': `${formatBytes(Math.round(num(w.bytesPerSecond) ?? 0))}/s`,
      files: cell(w.files),
      bytes: bytesOr(w.bytes),
      duplicates: cell(w.duplicates),
      'latency mean': mean === undefined ? '-' : formatMs(mean),
      p95: p95 === undefined ? '-' : formatMs(p95),
      failures: failuresCell(w),
    };
  });
  return table(windows, [
    'window',
    'files/s',
    'bytes/s',
    'files',
    'bytes',
    'duplicates',
    'latency mean',
    'p95',
    'failures',
  ]);
}

/** A file's row of `ctl ls`: its size for people, and when it was committed (or started). */
export function filesScreen(body: unknown, width: number | undefined): string {
  const files = Array.isArray(obj(body).files) ? (obj(body).files as unknown[]) : [];
  const rows = files.map((f) => {
    const file = obj(f);
    return {
      id: file.id,
      status: file.status,
      size: bytesOr(file.bytes),
      at: file.committedAt ?? file.intentAt,
      source: file.source,
    };
  });
  return table(rows, ['id', 'status', 'size', 'at', 'source'], width);
}

/** `GET /v1/pending` as a table: each file's pending id (what the actions take), and why it waits. */
export function pendingScreen(body: unknown, width: number | undefined): string {
  const files = Array.isArray(obj(body).files) ? (obj(body).files as unknown[]) : [];
  const rows = files.map((f) => {
    const file = obj(f);
    return {
      id: file.id,
      reason: file.reason,
      due: file.dueAt,
      why: file.why,
      source: file.source,
    };
  });
  return table(rows, ['id', 'reason', 'due', 'why', 'source'], width);
}

/** `GET /v1/webhooks` as a table: each message, where it stands, and when it goes (again). */
export function webhooksScreen(body: unknown, width: number | undefined): string {
  const list = Array.isArray(obj(body).deliveries) ? (obj(body).deliveries as unknown[]) : [];
  const rows = list.map((x) => {
    const d = obj(x);
    return {
      id: d.id,
      type: d.type,
      status: d.status,
      tries: d.attempts,
      when: d.status === 'delivered' ? d.deliveredAt : d.nextAt,
      last: d.lastError ?? d.lastStatus,
      endpoint: d.endpoint,
    };
  });
  if (rows.length === 0) return 'no webhook messages\n';
  return table(rows, ['id', 'type', 'status', 'tries', 'when', 'last', 'endpoint'], width);
}

/** `GET /v1/files/:id/history`: a row per step. */
export function historyScreen(body: unknown, width: number | undefined): string {
  const events = Array.isArray(obj(body).events) ? (obj(body).events as Obj[]) : [];
  return table(events, ['at', 'type', 'actor', 'from', 'detail'], width);
}

/** One file as fields, its values on their lines (control characters escaped). */
export function fileScreen(body: unknown, width: number | undefined): string {
  return fields(body, width);
}

/** What an action on one file did, as one line that says what may come next. */
export function actionLine(kind: string, id: string, body: unknown): string {
  const b = obj(body);
  if (kind === 'retry') {
    const r = obj(b.retried);
    const to = typeof r.restoredTo === 'string' ? ` (put back as ${str(r.restoredTo)})` : '';
    return `retried ${id}: ${str(r.source)}${to}\n`;
  }
  const held = obj(kind === 'release' ? b.released : b.held);
  const pid = str(held.id);
  if (kind === 'release') return `released ${id}: ${str(held.source)} may be taken again\n`;
  const verb = kind === 'cancel' ? 'cancelled' : 'held';
  return `${verb} ${id}: ${str(held.source)} is held as ${pid} (ctl release ${pid} lets it be taken again)\n`;
}

/** `POST /v1/pause`, `/v1/resume`, `PUT /v1/limits` as one line each. */
export function operatorLine(kind: 'pause' | 'resume' | 'limits', body: unknown): string {
  const b = obj(body);
  if (kind === 'pause') {
    const p = obj(b.paused);
    return `paused by ${str(p.by)} since ${str(p.since)} (ctl resume ends it)\n`;
  }
  if (kind === 'resume') return "resumed: the operator's pause is over\n";
  return `limits: ${limitsLine(b.limits)}\n`;
}
