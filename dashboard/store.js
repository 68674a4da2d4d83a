// The page's state: what /v1/status and /v1/whoami said, and what the event stream has said
// since. Events mutate it in place; views are told at most every 250 ms (coalesced), so that
// thousands of events per second cost one render per tick. Everything kept is bounded.
import { getJSON, pendingIdOf } from './api.js';
import { dateTime } from './format.js';

export const SERIES_SECONDS = 3600;
const RENDER_EVERY_MS = 250;
const MAX_INFLIGHT = 500;
const MAX_RECENT_FILES = 50;
const MAX_RECENT_FAILURES = 20;
const MAX_TOUCHED = 1000;

export const store = {
  whoami: null,
  whoamiError: '',
  status: null,
  statusError: '',
  /** The newest `stats` event's data. */
  stats: null,
  connection: 'disconnected',
  /** Bumped on every (re)open of the stream after a disconnection: views refetch. */
  reconnects: 0,
  series: {
    end: null,
    files: new Float64Array(SERIES_SECONDS),
    bytes: new Float64Array(SERIES_SECONDS),
    version: 0,
    loaded: false,
  },
  /** source -> { id, source, bytes, bytesDone, bytesPerSecond, copying, startedAt, seenAt } */
  inflight: new Map(),
  inflightFromStats: false,
  recentFiles: [],
  recentFailures: [],
  /** Bumped when an event says a list changed. */
  changed: { files: 0, pending: 0, failures: 0, inflight: 0 },
  /** 'id:12' or 'src:/path' -> sequence number of the last event about it. */
  touched: new Map(),
  seq: 0,
  toast: { text: '', kind: 'info', n: 0 },
};

// --- Subscriptions, coalesced ---

const listeners = new Set();
let renderTimer = null;

export function subscribe(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

let lastRender = 0;

/**
 * Tells the views, at most once every RENDER_EVERY_MS: at once (the next frame) after a quiet
 * spell, so that the first screen does not wait; else at the end of the spell.
 */
/** Tells the views now, whatever is scheduled: once the first screen's data is in. */
export function flush() {
  clearTimeout(renderTimer);
  renderTimer = null;
  lastRender = performance.now();
  for (const fn of listeners) fn();
}

export function notify() {
  if (renderTimer !== null) return;
  const wait = Math.max(0, lastRender + RENDER_EVERY_MS - performance.now());
  renderTimer = setTimeout(() => {
    renderTimer = null;
    lastRender = performance.now();
    for (const fn of listeners) fn();
  }, wait);
}

let toastTimer = null;
/** Says an action's outcome in the live region; it fades after 20 s. */
export function toast(text, kind = 'info') {
  store.toast = { text, kind, n: store.toast.n + 1 };
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => {
    store.toast = { text: '', kind: 'info', n: store.toast.n + 1 };
    notify();
  }, 20000);
  notify();
}

// --- Fetches ---

export async function loadWhoami() {
  const r = await getJSON('/v1/whoami');
  if (r.ok) {
    store.whoami = r.data;
    store.whoamiError = '';
  } else {
    store.whoamiError = r.message;
  }
  notify();
  return r;
}

let statusInFlight = null;
export function loadStatus() {
  if (statusInFlight) return statusInFlight;
  statusInFlight = getJSON('/v1/status')
    .then((r) => {
      if (r.ok) {
        store.status = r.data;
        store.statusError = '';
      } else {
        store.statusError = r.message;
      }
      notify();
      return r;
    })
    .finally(() => {
      statusInFlight = null;
    });
  return statusInFlight;
}

let statusTimer = null;
let statusLastAt = 0;
/** Refetches the status at most every 2 s (events said it changed). */
export function refreshStatusSoon() {
  if (statusTimer !== null) return;
  const wait = Math.max(200, statusLastAt + 2000 - Date.now());
  statusTimer = setTimeout(() => {
    statusTimer = null;
    statusLastAt = Date.now();
    loadStatus();
  }, wait);
}

export async function loadSeries() {
  const r = await getJSON('/v1/stats/series');
  const s = store.series;
  if (r.ok && r.data && Array.isArray(r.data.files)) {
    const { end, files, bytes } = r.data;
    const liveFiles = s.files.slice();
    const liveBytes = s.bytes.slice();
    const liveEnd = s.end;
    // What the page drew before (a daemon that restarted keeps only what it saw itself): each
    // second the server has nothing for keeps the page's figure.
    const before = liveEnd === null ? null : { end: liveEnd, files: liveFiles, bytes: liveBytes };
    s.files.fill(0);
    s.bytes.fill(0);
    // `end` is the end of the newest second: that second starts 1 s before it (an end given
    // inside the second, e.g. ...999, is taken the same way).
    s.end = Math.ceil(end / 1000) * 1000 - 1000;
    const n = Math.min(files.length, SERIES_SECONDS);
    for (let i = 0; i < n; i++) {
      s.files[SERIES_SECONDS - n + i] = Number(files[files.length - n + i]) || 0;
      s.bytes[SERIES_SECONDS - n + i] = Number(bytes[bytes.length - n + i]) || 0;
    }
    if (before !== null) {
      for (let k = 0; k < SERIES_SECONDS; k++) {
        const i = k - (s.end - before.end) / 1000;
        if (i < 0 || i >= SERIES_SECONDS) continue;
        if (s.files[i] === 0 && s.bytes[i] === 0) {
          s.files[i] = before.files[k];
          s.bytes[i] = before.bytes[k];
        }
      }
    }
    // Seconds the stream gave after the server's end are kept.
    if (liveEnd !== null && liveEnd > s.end) {
      for (let t = s.end + 1000; t <= liveEnd; t += 1000) {
        const k = SERIES_SECONDS - 1 - (liveEnd - t) / 1000;
        putSecond(t, liveFiles[k], liveBytes[k]);
      }
    }
    s.loaded = true;
  } else {
    s.loaded = r.status === 404 ? 'absent' : false;
  }
  s.version += 1;
  notify();
}

function putSecond(at, files, bytes) {
  const s = store.series;
  const sec = Math.floor(at / 1000) * 1000;
  if (s.end === null) s.end = sec;
  if (sec > s.end) {
    const shift = (sec - s.end) / 1000;
    if (shift >= SERIES_SECONDS) {
      s.files.fill(0);
      s.bytes.fill(0);
    } else {
      s.files.copyWithin(0, shift);
      s.bytes.copyWithin(0, shift);
      s.files.fill(0, SERIES_SECONDS - shift);
      s.bytes.fill(0, SERIES_SECONDS - shift);
    }
    s.end = sec;
  }
  const k = SERIES_SECONDS - 1 - (s.end - sec) / 1000;
  if (k < 0) return;
  s.files[k] = Number(files) || 0;
  s.bytes[k] = Number(bytes) || 0;
  s.version += 1;
}

export async function loadInflight() {
  const r = await getJSON('/v1/inflight');
  if (r.ok && r.data && Array.isArray(r.data.files)) {
    replaceInflight(r.data.files);
    notify();
  }
}

// --- Derived views ---

/** The counters, from the newest stats event or else the status. */
export function counts() {
  const c = store.stats && store.stats.counts;
  if (c) return c;
  const st = store.status;
  const live = store.stats || {};
  const files = (st && st.files) || {};
  const queue = (st && st.queue) || {};
  return {
    ingested: files.ingested ? files.ingested.files : undefined,
    ingestedBytes: files.ingested ? files.ingested.bytes : undefined,
    duplicates: files.duplicates ? files.duplicates.files : undefined,
    quarantined: files.quarantined,
    failed: queue.backoff,
    held: queue.held,
    pending: live.pending ?? queue.pending,
    queued: live.queued ?? queue.queued,
    inFlight: live.inflight ?? queue.inflight,
  };
}

/** The daemon's state word and its pauses. */
export function daemonState() {
  const live = store.stats;
  const st = store.status;
  const pauses = (live && live.pauses) || (st && st.pauses) || [];
  let state = (live && live.state) || (st && st.state) || null;
  if (live && !live.state && live.paused === true && state === 'running') state = 'paused';
  if (live && !live.state && live.paused === false && state === 'paused' && pauses.length === 0) {
    state = 'running';
  }
  if (state === 'paused' && pauses.length === 0 && live && live.pausedReason) {
    return { state, pauses: [{ kind: 'volume', reason: live.pausedReason }] };
  }
  return { state, pauses };
}

export function resources() {
  return (store.stats && store.stats.resources) || (store.status && store.status.resources) || null;
}

/** In-flight files, largest first. */
export function inflightList() {
  return [...store.inflight.values()].sort((a, b) => (b.bytes || 0) - (a.bytes || 0));
}

export function mayAct() {
  return Boolean(store.whoami && store.whoami.mayAct);
}

// --- Events ---

function touch(id, source) {
  store.seq += 1;
  if (id !== null && id !== undefined) store.touched.set(`id:${id}`, store.seq);
  if (source) store.touched.set(`src:${source}`, store.seq);
  while (store.touched.size > MAX_TOUCHED) {
    store.touched.delete(store.touched.keys().next().value);
  }
}

function bump(...lists) {
  for (const l of lists) store.changed[l] += 1;
}

function replaceInflight(files) {
  const now = Date.now();
  const next = new Map();
  for (const f of files.slice(0, MAX_INFLIGHT)) {
    const old = store.inflight.get(f.source);
    const entry = { ...f, seenAt: now };
    // A progress event newer than the snapshot keeps its bytes.
    if (old && old.bytes === f.bytes && old.bytesDone > f.bytesDone && now - old.seenAt < 1500) {
      entry.bytesDone = old.bytesDone;
    }
    next.set(f.source, entry);
  }
  // The snapshot holds the largest 50: a file just reported by progress stays a moment.
  if (files.length >= 50) {
    for (const [source, old] of store.inflight) {
      if (!next.has(source) && now - old.seenAt < 1500 && next.size < MAX_INFLIGHT) {
        next.set(source, old);
      }
    }
  }
  store.inflight = next;
}

function dropInflight(source) {
  if (source && store.inflight.delete(source)) bump('inflight');
}

function onStats(d) {
  store.stats = d;
  putSecond(typeof d.at === 'number' ? d.at : Date.now(), d.filesPerSecond, d.bytesPerSecond);
  if (Array.isArray(d.inflightFiles)) {
    store.inflightFromStats = true;
    replaceInflight(d.inflightFiles);
  } else {
    // Without the snapshot: files not heard of for 3 s are no longer in flight.
    const now = Date.now();
    for (const [source, f] of store.inflight) {
      if (now - f.seenAt > 3000) store.inflight.delete(source);
    }
  }
  if (!d.counts) {
    // An older daemon: the counters come from the status, refetched when events change them.
  }
}

function onProgress(d) {
  if (!d || !d.source) return;
  const old = store.inflight.get(d.source);
  const entry = {
    id: old ? old.id : null,
    startedAt: old ? old.startedAt : null,
    ...old,
    source: d.source,
    bytes: d.bytes,
    bytesDone: d.bytesDone,
    bytesPerSecond: d.bytesPerSecond,
    copying: d.copying,
    seenAt: Date.now(),
  };
  store.inflight.set(d.source, entry);
  if (!old && store.inflight.size > MAX_INFLIGHT) {
    store.inflight.delete(store.inflight.keys().next().value);
  }
  if (!entry.id) {
    pendingIdOf(d.source).then(
      (id) => {
        const e = store.inflight.get(d.source);
        if (e && !e.id) e.id = id;
      },
      () => {},
    );
  }
}

function pushRecentFile(d, status) {
  if (typeof d.id !== 'number') return;
  store.recentFiles = [
    {
      id: d.id,
      status,
      source: d.source,
      dest: d.dest ?? null,
      sha256: d.sha256 ?? null,
      bytes: d.bytes,
      committedAt: d.at ?? null,
      receivedAt: Date.now(),
      latencyMs: d.latencyMs ?? null,
      duplicateOf: d.duplicateOf ?? null,
      error: null,
    },
    ...store.recentFiles.filter((f) => f.id !== d.id),
  ].slice(0, MAX_RECENT_FILES);
}

function pushFailure(type, d) {
  store.recentFailures = [{ type, ...d, receivedAt: Date.now() }, ...store.recentFailures].slice(
    0,
    MAX_RECENT_FAILURES,
  );
}

/** Applies one event of the stream. */
export function applyEvent(type, d) {
  switch (type) {
    case 'stats':
      onStats(d);
      break;
    case 'progress':
      onProgress(d);
      break;
    case 'file.ingested':
    case 'file.duplicate':
      pushRecentFile(d, type === 'file.ingested' ? 'ingested' : 'duplicate');
      dropInflight(d.source);
      touch(d.id, d.source);
      bump('files');
      break;
    case 'file.failed':
      pushFailure(type, d);
      dropInflight(d.source);
      touch(d.id, d.source);
      bump('failures', 'pending');
      break;
    case 'file.retrying':
      touch(d.id, d.source);
      bump('failures', 'pending');
      break;
    case 'file.quarantined':
      pushFailure(type, d);
      dropInflight(d.source);
      touch(d.id, d.source);
      bump('failures', 'files', 'pending');
      break;
    case 'file.held':
    case 'file.released':
      touch(d.id, d.source);
      bump('pending', 'failures');
      break;
    case 'file.cancelled':
      dropInflight(d.source);
      touch(d.id, d.source);
      bump('pending', 'failures', 'inflight');
      break;
    case 'file.retried':
      touch(d.id, d.source);
      bump('failures', 'pending', 'files');
      break;
    case 'daemon.paused':
    case 'daemon.resumed':
    case 'daemon.limits':
      loadStatus();
      break;
    case 'stream.gap':
      bump('files', 'pending', 'failures', 'inflight');
      break;
    default:
      return;
  }
  if (type !== 'stats' && type !== 'progress' && !(store.stats && store.stats.counts)) {
    refreshStatusSoon();
  }
  notify();
}

export function setConnection(state) {
  if (store.connection === state) return;
  store.connection = state;
  notify();
}

/** The stream opened again after a disconnection: what happened meanwhile is fetched. */
export function reconnected() {
  store.reconnects += 1;
  // An error said while the daemon was away (an action that could not reach it) is old news.
  if (store.toast.kind === 'error') toast('');
  const startedAt = store.status && store.status.startedAt;
  loadStatus().then(() => {
    const now = store.status && store.status.startedAt;
    if (startedAt && now && now !== startedAt) {
      toast(`The daemon restarted at ${dateTime(now)}: what it did meanwhile is shown.`);
    }
  });
  loadSeries();
  loadInflight();
  notify();
}
