// One file: its row, its manifest line, its history; updated when an event is about it.
import { useRef } from './vendor/hooks.mjs';
import { getJSON } from './api.js';
import { html, ActionButton, Badge, Notice, useLoader, useStore } from './components.js';
import { mayAct } from './store.js';
import { pendingActions } from './pages-pending.js';
import * as f from './format.js';

async function loadFile(id) {
  const [file, manifest, history, pending] = await Promise.all([
    getJSON(`/v1/files/${id}`),
    getJSON(`/v1/files/${id}/manifest`),
    getJSON(`/v1/files/${id}/history`),
    getJSON('/v1/pending?limit=1000'),
  ]);
  return { ok: true, file, manifest, history, pending };
}

function detailText(detail) {
  if (!detail || typeof detail !== 'object') return '';
  return Object.entries(detail)
    .filter(([, v]) => v !== null && v !== undefined && v !== '')
    .map(([k, v]) => {
      if (k === 'bytes' && typeof v === 'number') return `${k}: ${f.bytes(v)}`;
      if (typeof v === 'object') {
        if (v && 'id' in v) return `${k}: file ${v.id}${v.source ? ` (${v.source})` : ''}`;
        return `${k}: ${JSON.stringify(v)}`;
      }
      return `${k}: ${v}`;
    })
    .join(' · ');
}

function Row({ label, children }) {
  return html`<div>
    <dt>${label}</dt>
    <dd>${children}</dd>
  </div>`;
}

function FileFacts({ file }) {
  return html`<dl class="facts facts-wide">
    <${Row} label="Status"><${Badge} kind=${file.status}>${file.status}<//><//>
    <${Row} label="ID">${file.id}<//>
    <${Row} label="Source"><code class="break">${f.text(f.shown(file.source))}</code><//>
    <${Row} label="Warehouse path"><code class="break">${f.text(f.shown(file.dest))}</code><//>
    <${Row} label="SHA-256"><code class="break">${f.text(file.sha256)}</code><//>
    <${Row} label="Size"
      >${f.bytes(file.bytes)}${typeof file.bytes === 'number' ? ` (${f.count(file.bytes)} bytes)` : ''}<//
    >
    <${Row} label="Complete">${f.dateTime(file.completedAt)}<//>
    <${Row} label="Claimed">${f.dateTime(file.intentAt)}<//>
    <${Row} label="Committed">${f.dateTime(file.committedAt)}<//>
    <${Row} label="Hashing">${f.ms(file.hashMs)}<//>
    <${Row} label="Latency">${f.ms(file.latencyMs)}<//>
    ${
      file.duplicateOf
        ? html`<${Row} label="Duplicate of">
            <a href=${`#/files/${file.duplicateOf.id}`}
              >file ${file.duplicateOf.id}: ${file.duplicateOf.source}</a
            >
          <//>`
        : null
    }
    ${file.error ? html`<${Row} label="Error"><span class="error-text">${file.error}</span><//>` : null}
  </dl>`;
}

function ManifestLine({ r }) {
  if (!r) return html`<p class="muted">Loading…</p>`;
  if (!r.ok) {
    return r.status === 404
      ? html`<p class="muted">—</p>`
      : html`<${Notice} kind="error">${r.message}<//>`;
  }
  const m = r.data;
  if (!m || m.line === null || m.line === undefined) {
    return html`<p class="muted">No manifest line for this file.</p>`;
  }
  return html`<p class="muted">
      <code class="break">${f.text(m.manifest)}</code
      >${m.lineNumber ? `, line ${f.count(m.lineNumber)}` : ''}
    </p>
    <pre class="json" tabindex="0" aria-label="Manifest line as JSON">
${JSON.stringify(m.line, null, 2)}</pre>`;
}

function HistoryList({ r }) {
  if (!r) return html`<p class="muted">Loading…</p>`;
  if (!r.ok) return html`<${Notice} kind="error">${r.message}<//>`;
  const events = r.data.events || [];
  if (events.length === 0) return html`<p class="muted">No events.</p>`;
  return html`<ol class="timeline">
    ${events.map(
      (e, i) =>
        html`<li key=${i} data-testid="history-event" class=${`ev ev-${e.type}`}>
          <span class="ev-time"><time datetime=${f.isoTime(e.at)}>${f.dateTime(e.at)}</time></span>
          ${' '}<span class="ev-type"><${Badge} kind=${e.type}>${e.type}<//></span> ${' '}<span
            class="ev-actor"
            >${
              e.actor
                ? html`by <strong>${e.actor}</strong>`
                : // A step read from the row (claimed, moved, released) says no one: an
                  // operator's part in it is the journal's event beside it (retried by ...).
                  e.from === 'journal'
                  ? 'by the daemon'
                  : ''
            }</span
          >
          ${' '}<span class="ev-detail">${detailText(e.detail)}</span>
        </li>`,
    )}
  </ol>`;
}

export function FilePage({ id }) {
  const store = useStore();
  const valid = /^[1-9][0-9]*$/.test(id);
  const source0 = useRef(null);
  const { result, reload } = useLoader(
    () => (valid ? loadFile(id) : Promise.resolve(null)),
    `${id}#${store.reconnects}`,
    signalFor(store, id, source0.current),
  );
  if (!valid) {
    return html`<div class="page">
      <h2>No such file</h2>
      <${Notice} kind="error">“${id}” is not a file id.<//>
    </div>`;
  }
  const fileR = result && result.file;
  const file = fileR && fileR.ok ? fileR.data : null;
  if (file) source0.current = file.source;
  const name = file ? f.baseName(file.source) : `File ${id}`;
  const act = mayAct() && file;
  return html`<div class="page page-file">
    <div class="page-head">
      <h2 id="file-title">${name}</h2>
      ${
        act && file.status === 'quarantined'
          ? html`<div class="panel-actions">
              <${ActionButton}
                label="Retry"
                path=${`/v1/files/${file.id}/retry`}
                describedBy="file-title"
                success=${(d) => `Retried ${file.source}${d && d.retried && d.retried.restoredTo ? `: put back as ${d.retried.restoredTo}` : ''}.`}
                onDone=${(r) => r.ok && reload()}
              />
            </div>`
          : null
      }
    </div>
    ${fileR && !fileR.ok ? html`<${Notice} kind="error">${fileR.message}<//>` : null}
    ${act ? html`<${Waiting} result=${result} file=${file} store=${store} reload=${reload} />` : null}
    ${
      file && file.error
        ? html`<p class="error-banner" role="note"><strong>Error:</strong> ${file.error}</p>`
        : null
    }
    <section class="panel" aria-labelledby="sec-file">
      <h3 id="sec-file">File</h3>
      ${file ? html`<${FileFacts} file=${file} />` : html`<p class="muted">${result ? '—' : 'Loading…'}</p>`}
    </section>
    <section class="panel" aria-labelledby="sec-manifest">
      <h3 id="sec-manifest">Manifest line</h3>
      <${ManifestLine} r=${result && result.manifest} />
    </section>
    <section class="panel" aria-labelledby="sec-history">
      <h3 id="sec-history">History</h3>
      <${HistoryList} r=${result && result.history} />
    </section>
  </div>`;
}

function signalFor(store, id, source) {
  const a = store.touched.get(`id:${id}`) || 0;
  const b = source ? store.touched.get(`src:${source}`) || 0 : 0;
  return Math.max(a, b);
}

/** A file waiting or in flight under this file's name now, and what can be done with it. */
function Waiting({ result, file, store, reload }) {
  const p = result && result.pending;
  const waiting = p && p.ok ? p.data.files.find((x) => x.source === file.source) : undefined;
  const inflight = store.inflight.get(file.source);
  if (!waiting && !(inflight && inflight.id)) return null;
  const onDone = (r) => r.ok && reload();
  return html`<div class="notice waiting-now">
    ${
      waiting
        ? html`<span>
              A file under this name is <${Badge} kind=${waiting.reason}>${waiting.reason}<//>${' '}
              ${waiting.why}
            </span>
            <span class="panel-actions">${pendingActions(waiting, 'file-title', onDone)}</span>`
        : html`<span>A file under this name is in flight now.</span>
            <span class="panel-actions">
              <${ActionButton}
                label="Cancel"
                path=${`/v1/files/${encodeURIComponent(inflight.id)}/cancel`}
                describedBy="file-title"
                onDone=${onDone}
                success=${`Cancelled ${file.source}: it is held until released.`}
              />
            </span>`
    }
  </div>`;
}
