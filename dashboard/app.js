// The dashboard: header (state, connection, user, pause), sections by hash route, the live
// region for actions' outcomes. Everything live comes from the one event stream.
import { render } from './vendor/preact.mjs';
import { useEffect, useRef, useState } from './vendor/hooks.mjs';
import { html, ConfirmDialog, runAction, useStore } from './components.js';
import {
  daemonState,
  loadInflight,
  loadSeries,
  flush,
  loadStatus,
  loadWhoami,
  mayAct,
  notify,
  store,
} from './store.js';
import { startStream } from './stream.js';
import { Overview } from './pages-overview.js';
import { Inflight } from './pages-inflight.js';
import { Pending } from './pages-pending.js';
import { History } from './pages-history.js';
import { FilePage } from './pages-file.js';
import { Failures } from './pages-failures.js';
import * as f from './format.js';

const SECTIONS = [
  ['/', 'Overview'],
  ['/inflight', 'In flight'],
  ['/pending', 'Pending'],
  ['/history', 'History'],
  ['/failures', 'Failures'],
];

function parseHash() {
  const hash = location.hash.startsWith('#/') ? location.hash.slice(1) : '/';
  const q = hash.indexOf('?');
  const path = (q < 0 ? hash : hash.slice(0, q)).replace(/\/+$/, '') || '/';
  const params = new URLSearchParams(q < 0 ? '' : hash.slice(q + 1));
  return { path, params };
}

function navigate(hash) {
  if (location.hash !== hash) location.hash = hash;
}

function useRoute() {
  const [route, setRoute] = useState(parseHash);
  useEffect(() => {
    const on = () => {
      if (location.hash !== '' && !location.hash.startsWith('#/')) return;
      setRoute(parseHash());
    };
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return route;
}

function commonName(subject) {
  const m = /(?:^|[,/]\s*)CN\s*=\s*([^,/]+)/.exec(subject || '');
  return m ? m[1].trim() : subject || '—';
}

function pauseText(p) {
  if (p.kind === 'operator') {
    const who = p.by ? commonName(p.by) : 'an operator';
    const since = p.since ? ` since ${f.dateTime(p.since)} (${f.ago(p.since)})` : '';
    return `by ${who}${since}`;
  }
  return `volume: ${p.reason || 'output volume full or failing'}`;
}

/** Up 3 min, version, pid: a restart shows (the start time changes). */
function DaemonFacts() {
  const st = store.status;
  if (!st || !st.startedAt) return null;
  return html`<span class="daemon-facts" data-testid="daemon-facts">
    up since ${f.dateTime(st.startedAt)} · v${st.version} · pid ${st.pid}
  </span>`;
}

function StateBadge() {
  const known = daemonState();
  const { pauses } = known;
  // Away, the last state is not the state now: it is said as what it was.
  const away = store.connection !== 'live' && known.state !== null;
  const state = away ? 'unknown' : known.state;
  const word = state || 'unknown';
  return html`<div class="state-box">
    <span class=${`state state-${word}`} data-testid="daemon-state">
      <span class="state-dot" aria-hidden="true"></span>
      <span class="visually-hidden">Daemon state: </span>${word}
    </span>
    ${
      word === 'paused' && pauses.length > 0
        ? html`<span class="state-why">${pauses.map(pauseText).join('; ')}</span>`
        : null
    }
    ${
      away
        ? html`<span class="state-why"
            >the daemon cannot be reached (last seen ${known.state}); figures below are as they
            were</span
          >`
        : html`<${DaemonFacts} />`
    }
  </div>`;
}

function Connection({ state }) {
  const live = state === 'live';
  return html`<span
    class=${`conn conn-${live ? 'live' : 'down'}`}
    data-testid="connection"
    data-state=${live ? 'live' : 'disconnected'}
    role="status"
  >
    <span class="conn-dot" aria-hidden="true"></span
    >${live ? 'Live' : 'Disconnected — reconnecting…'}
  </span>`;
}

function PauseControl() {
  const [open, setOpen] = useState(false);
  const { state, pauses } = daemonState();
  const operatorPaused = pauses.some((p) => p.kind === 'operator');
  if (!mayAct() || state === null || store.connection !== 'live') return null;
  const resume = operatorPaused;
  const label = resume ? 'Resume ingestion' : 'Pause ingestion';
  const confirm = async () => {
    const r = await runAction({
      path: resume ? '/v1/resume' : '/v1/pause',
      success: resume
        ? 'Ingestion resumed.'
        : 'Ingestion paused: nothing new is taken until resumed.',
    });
    loadStatus();
    return r;
  };
  return html`<div class="pause-control">
    <button
      type="button"
      class=${`btn ${resume ? 'primary' : 'warn'}`}
      onClick=${() => setOpen(true)}
    >
      ${label}
    </button>
    <${ConfirmDialog}
      open=${open}
      title=${resume ? 'Resume ingestion?' : 'Pause ingestion?'}
      onClose=${() => setOpen(false)}
      onConfirm=${confirm}
    >
      <p>
        ${
          resume
            ? 'The daemon takes new files again.'
            : 'Nothing new is handed to the workers, hashed or claimed until an operator resumes; files already hashed finish. The pause outlasts a restart.'
        }
      </p>
    <//>
  </div>`;
}

function User() {
  const w = store.whoami;
  if (!w) return null;
  return html`<span class="user" title=${w.subject}>
    <span class="visually-hidden">Signed in as </span>
    <span class="user-cn">${commonName(w.subject)}</span>
    <span class=${`badge badge-role-${w.role}`}>${w.role}</span>
    ${w.mayAct ? null : html`<span class="badge badge-readonly" data-testid="read-only">read-only</span>`}
  </span>`;
}

function Toast() {
  const t = store.toast;
  return html`<div
    class=${`toast toast-${t.kind}${t.text ? ' toast-shown' : ''}`}
    data-testid="toast"
    role="status"
    aria-live="polite"
  >
    ${t.text}
  </div>`;
}

function Page({ route }) {
  const { path, params } = route;
  if (path === '/') return html`<${Overview} />`;
  if (path === '/inflight') return html`<${Inflight} />`;
  if (path === '/pending') return html`<${Pending} params=${params} navigate=${navigate} />`;
  if (path === '/history') return html`<${History} params=${params} navigate=${navigate} />`;
  if (path === '/failures') return html`<${Failures} />`;
  const m = /^\/files\/([^/]+)$/.exec(path);
  if (m) return html`<${FilePage} key=${m[1]} id=${decodeURIComponent(m[1])} />`;
  return html`<div class="page">
    <h2>Not found</h2>
    <p>No section “${path}”. <a href="#/">Overview</a></p>
  </div>`;
}

function sectionOf(path) {
  if (path.startsWith('/files/')) return '/history';
  return path;
}

function App() {
  useStore();
  const route = useRoute();
  const main = useRef(null);
  const firstPath = useRef(route.path);
  const { state } = daemonState();

  useEffect(() => {
    const word = state || 'connecting';
    const conn = store.connection === 'live' ? '' : ' (disconnected)';
    const section = SECTIONS.find(([p]) => p === sectionOf(route.path));
    document.title = `Ingestor — ${section ? `${section[1]} — ` : ''}${word}${conn}`;
  });

  useEffect(() => {
    if (firstPath.current === route.path) return;
    firstPath.current = null;
    if (main.current) main.current.focus({ preventScroll: false });
    scrollTo(0, 0);
  }, [route.path]);

  const skip = (event) => {
    event.preventDefault();
    if (main.current) main.current.focus();
  };
  const current = sectionOf(route.path);
  return html`
    <a class="skip" href="#main" onClick=${skip}>Skip to content</a>
    <header class="top">
      <div class="brand">
        <img src="/assets/icon.svg" alt="" width="24" height="24" />
        <h1>Ingestor</h1>
      </div>
      <${StateBadge} />
      <div class="top-right">
        <${Connection} state=${store.connection} />
        <${User} />
        <${PauseControl} />
      </div>
    </header>
    <nav class="sections" aria-label="Sections">
      <ul>
        ${SECTIONS.map(
          ([path, label]) =>
            html`<li key=${path}>
              <a href=${`#${path}`} aria-current=${current === path ? 'page' : undefined}
                >${label}</a
              >
            </li>`,
        )}
      </ul>
    </nav>
    <main id="main" tabindex="-1" ref=${main} class=${store.connection === 'live' ? '' : 'stale'}>
      ${store.whoamiError ? html`<p class="notice notice-error">${store.whoamiError}</p>` : null}
      ${
        store.statusError && !store.status
          ? html`<p class="notice notice-error">${store.statusError}</p>`
          : null
      }
      <${Page} route=${route} />
    </main>
    <${Toast} />
  `;
}

async function start() {
  const root = document.getElementById('app');
  root.textContent = '';
  render(html`<${App} />`, root);
  // Both at once: the first screen waits for one round trip, not two.
  const [who] = await Promise.all([loadWhoami(), loadStatus()]);
  flush();
  // A certificate without a role gets 403 on every call: nothing to stream.
  if (who.status === 403) return;
  startStream();
  loadSeries();
  loadInflight();
  notify();
}

start();
