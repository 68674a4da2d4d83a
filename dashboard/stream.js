// The one EventSource of the page. The browser reconnects by itself after a network error,
// with Last-Event-ID; when the stream ends CLOSED (an HTTP error, e.g. a 503 while the daemon
// stops), a new one is made after 2 s, given the last id seen as ?lastEventId=.
import { applyEvent, reconnected, setConnection } from './store.js';

export const STREAM_TYPES = [
  'file.ingested',
  'file.duplicate',
  'file.failed',
  'file.retrying',
  'file.quarantined',
  'file.held',
  'file.released',
  'file.cancelled',
  'file.retried',
  'daemon.paused',
  'daemon.resumed',
  'daemon.limits',
  'progress',
  'stats',
];

const REOPEN_MS = 2000;

let source = null;
let lastEventId = '';
let disconnected = false;
/** Cleared when the server refuses ?lastEventId= (a daemon that does not take it yet). */
let sendIdParam = true;

function url(withId) {
  let u = `/v1/events?types=${STREAM_TYPES.join(',')}`;
  if (withId && lastEventId !== '') u += `&lastEventId=${encodeURIComponent(lastEventId)}`;
  return u;
}

function handler(type) {
  return (event) => {
    if (event.lastEventId) lastEventId = event.lastEventId;
    let data;
    try {
      data = JSON.parse(event.data);
    } catch {
      return;
    }
    applyEvent(type, data);
  };
}

/** Whether the server takes ?lastEventId= (asked once, when a new stream failed to open). */
async function idParamRefused(u) {
  const abort = new AbortController();
  try {
    const r = await fetch(u, { signal: abort.signal, headers: { accept: 'text/event-stream' } });
    if (r.status !== 400) return false;
    const body = await r.json().catch(() => null);
    return Boolean(body && /lastEventId/i.test(body.message || ''));
  } catch {
    return false;
  } finally {
    abort.abort();
  }
}

function open() {
  const withId = sendIdParam && lastEventId !== '';
  const u = url(withId);
  const es = new EventSource(u);
  source = es;
  let opened = false;
  es.onopen = () => {
    opened = true;
    setConnection('live');
    if (disconnected) reconnected();
    disconnected = false;
  };
  es.onerror = () => {
    if (source !== es) return;
    disconnected = true;
    setConnection('disconnected');
    // A stream made with ?lastEventId= would be reopened by the browser with that same old
    // id in its URL: it is replaced by a new one with the newest id instead.
    if (es.readyState === EventSource.CLOSED || withId) {
      es.close();
      source = null;
      setTimeout(async () => {
        if (!opened && withId && (await idParamRefused(u))) sendIdParam = false;
        open();
      }, REOPEN_MS);
    }
  };
  for (const type of [...STREAM_TYPES, 'stream.gap']) {
    es.addEventListener(type, handler(type));
  }
}

export function startStream() {
  if (source === null) open();
}
