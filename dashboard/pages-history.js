// Recent ingests, newest first, searchable; keyset pages ("Older").
import { getJSON } from './api.js';
import { html, Badge, Notice, Panel, TableBox, useLoader, useStore, When } from './components.js';
import * as f from './format.js';

export const STATUSES = [
  'ingested',
  'duplicate',
  'quarantined',
  'released',
  'in-flight',
  'aborted',
  'vanished',
];

function query(params, extra = {}) {
  const q = new URLSearchParams();
  for (const key of ['q', 'sha256', 'status', 'cursor']) {
    const v = key in extra ? extra[key] : params.get(key);
    if (v) q.set(key, v);
  }
  return q.toString();
}

function matches(file, params) {
  const q = params.get('q');
  const sha = params.get('sha256');
  const status = params.get('status');
  if (q && !(file.source || '').includes(q)) return false;
  if (sha && !(file.sha256 || '').startsWith(sha.toLowerCase())) return false;
  if (status && file.status !== status) return false;
  return true;
}

export function FilesTable({ files, label }) {
  return html`<${TableBox} label=${label}>
    <table class="table">
      <thead>
        <tr>
          <th scope="col" class="num">ID</th>
          <th scope="col">File</th>
          <th scope="col">Status</th>
          <th scope="col" class="num">Size</th>
          <th scope="col">SHA-256</th>
          <th scope="col">When</th>
        </tr>
      </thead>
      <tbody>
        ${files.map(
          (file) =>
            html`<tr key=${file.id} data-testid="file-row" data-id=${file.id}>
              <td class="num">${file.id}</td>
              <td>
                <a href=${`#/files/${file.id}`} class="path">
                  <span class="path-name">${f.baseName(file.source)}</span>${' '}
                  <span class="path-full">${file.source}</span>
                </a>
              </td>
              <td><${Badge} kind=${file.status}>${file.status}<//></td>
              <td class="num">${f.bytes(file.bytes)}</td>
              <td>
                <code title=${file.sha256 || ''}
                  >${file.sha256 ? file.sha256.slice(0, 12) : '—'}</code
                >
              </td>
              <td><${When} time=${file.committedAt || file.intentAt || file.receivedAt} /></td>
            </tr>`,
        )}
      </tbody>
    </table>
  <//>`;
}

export function History({ params, navigate }) {
  const store = useStore();
  const qs = query(params);
  const first = !params.get('cursor');
  const { result, loading } = useLoader(
    () => getJSON(`/v1/files?${qs}${qs ? '&' : ''}limit=50`),
    `${qs}#${store.reconnects}`,
    first ? store.changed.files : 0,
  );
  const data = result && result.ok ? result.data : null;
  let files = data ? data.files : [];
  if (data && first) {
    const top = files.length > 0 ? files[0].id : 0;
    const fresh = store.recentFiles.filter((r) => r.id > top && matches(r, params));
    if (fresh.length > 0) {
      const seen = new Set(fresh.map((r) => r.id));
      files = [...fresh, ...files.filter((r) => !seen.has(r.id))].slice(0, 50);
    }
  }
  const submit = (event) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const next = new URLSearchParams();
    for (const key of ['q', 'sha256', 'status']) {
      const v = String(form.get(key) || '').trim();
      if (v) next.set(key, v);
    }
    const s = next.toString();
    navigate(s ? `#/history?${s}` : '#/history');
  };
  return html`<div class="page">
    <${Panel} title="History">
      <form
        class="filters"
        role="search"
        aria-label="Search the history"
        onSubmit=${submit}
        key=${qs}
      >
        <label
          >Name
          <input
            name="q"
            type="search"
            value=${params.get('q') || ''}
            placeholder="part of the path"
        /></label>
        <label>
          SHA-256
          <input
            name="sha256"
            type="search"
            value=${params.get('sha256') || ''}
            placeholder="6+ hex digits"
            spellcheck="false"
            autocomplete="off"
          />
        </label>
        <label>
          Status
          <select name="status" value=${params.get('status') || ''}>
            <option value="">Any</option>
            ${STATUSES.map((s) => html`<option value=${s}>${s}</option>`)}
          </select>
        </label>
        <button type="submit" class="btn primary">Search</button>
        ${qs ? html`<a class="btn" href="#/history">Clear</a>` : null}
      </form>
      ${result && !result.ok ? html`<${Notice} kind="error">${result.message}<//>` : null}
      ${!data && loading ? html`<p class="muted">Loading…</p>` : null}
      ${
        data && files.length === 0
          ? html`<p class="empty">
              No files ${data.next ? 'on this page (the search goes on: see older)' : 'match'}.
            </p>`
          : null
      }
      ${files.length > 0 ? html`<${FilesTable} files=${files} label="Files" />` : null}
      <nav class="pager" aria-label="Pages">
        ${!first ? html`<a class="btn" href=${`#/history?${query(params, { cursor: '' })}`}>Newest</a>` : null}
        ${
          data && data.next
            ? html`<a class="btn" href=${`#/history?${query(params, { cursor: data.next })}`}
                >Older</a
              >`
            : null
        }
      </nav>
    <//>
  </div>`;
}
