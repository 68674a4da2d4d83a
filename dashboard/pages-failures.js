// What failed: quarantined files, and files failing and backing off (or held), with their
// errors; retry one or many.
import { useState } from './vendor/hooks.mjs';
import { getJSON } from './api.js';
import {
  html,
  PathCell,
  ActionButton,
  CancelButton,
  Badge,
  ConfirmDialog,
  Notice,
  Panel,
  TableBox,
  runAction,
  useLoader,
  useStore,
  When,
} from './components.js';
import { counts, mayAct } from './store.js';
import { pendingActions } from './pages-pending.js';
import * as f from './format.js';

async function loadFailures() {
  const [quarantined, pending] = await Promise.all([
    getJSON('/v1/files?status=quarantined&limit=100'),
    getJSON('/v1/pending?limit=1000'),
  ]);
  return { ok: true, quarantined, pending };
}

function attemptOf(why) {
  const m = /\(attempt (\d+)\)/.exec(why || '');
  return m ? Number(m[1]) : null;
}

function RetryAll({ onDone }) {
  const [open, setOpen] = useState(false);
  const [status, setStatus] = useState('');
  const [q, setQ] = useState('');
  const [since, setSince] = useState('');
  const [answer, setAnswer] = useState(null);
  const confirm = async () => {
    const body = {};
    if (status) body.status = status;
    if (q.trim()) body.q = q.trim();
    if (since.trim()) body.since = since.trim();
    const r = await runAction({
      path: '/v1/retry',
      body,
      success: (d) =>
        `Retried ${f.count(d.retried)} file${d.retried === 1 ? '' : 's'}; ${f.count(d.failed)} could not be retried.`,
    });
    if (r.ok) setAnswer(r.data);
    onDone(r);
  };
  return html`<div class="retry-all">
    <button type="button" class="btn primary" onClick=${() => setOpen(true)}>Retry all</button>
    <${ConfirmDialog}
      open=${open}
      title="Retry all failed files?"
      onClose=${() => setOpen(false)}
      onConfirm=${confirm}
    >
      <p>Every file that matches is put back and tried again. Leave a field empty to match all.</p>
      <div class="dialog-fields">
        <label>
          Status
          <select value=${status} onChange=${(e) => setStatus(e.currentTarget.value)}>
            <option value="">Quarantined and failed</option>
            <option value="quarantined">Quarantined</option>
            <option value="failed">Failed (backing off)</option>
          </select>
        </label>
        <label>
          Name filter
          <input
            type="text"
            value=${q}
            onInput=${(e) => setQ(e.currentTarget.value)}
            placeholder="part of the path"
          />
        </label>
        <label>
          Since
          <input
            type="text"
            value=${since}
            onInput=${(e) => setSince(e.currentTarget.value)}
            placeholder="e.g. 2h, 7d or an ISO time"
          />
        </label>
      </div>
    <//>
    ${
      answer
        ? html`<div class="retry-answer" data-testid="retry-answer">
            <p>
              Retried <strong>${f.count(answer.retried)}</strong>, failed${' '}
              <strong>${f.count(answer.failed)}</strong>.
            </p>
            ${
              answer.failures && answer.failures.length > 0
                ? html`<ul>
                    ${answer.failures.map(
                      (x) =>
                        html`<li key=${x.id}>
                          <a href=${`#/files/${x.id}`}>${x.source}</a>:
                          <span class="error-text">${x.reason}</span>
                        </li>`,
                    )}
                  </ul>`
                : null
            }
          </div>`
        : null
    }
  </div>`;
}

function QuarantinedTable({ files, act, onDone, store }) {
  return html`<${TableBox} label="Quarantined files">
    <table class="table">
      <thead>
        <tr>
          <th scope="col">File</th>
          <th scope="col">Error</th>
          <th scope="col">Quarantined</th>
          <th scope="col">History</th>
          ${act ? html`<th scope="col"><span class="visually-hidden">Actions</span></th>` : null}
        </tr>
      </thead>
      <tbody>
        ${files.map((file) => {
          const nameId = `failure-${file.id}`;
          const inflight = store.inflight.get(file.source);
          return html`<tr
            key=${file.id}
            data-testid="failure-row"
            data-id=${file.id}
            data-source=${file.source}
          >
            <td>
              <${PathCell} id=${nameId} path=${file.source} />
            </td>
            <td class="error-cell">
              <span class="error-text">${file.error || '—'}</span>
              ${file.dest ? html`<span class="path-full">kept at ${file.dest}</span>` : null}
            </td>
            <td><${When} time=${file.committedAt || file.intentAt} /></td>
            <td>
              <a href=${`#/files/${file.id}`}
                >History<span class="visually-hidden"> of ${f.baseName(file.source)}</span></a
              >
            </td>
            ${
              act
                ? html`<td class="actions">
                    <${ActionButton}
                      label="Retry"
                      path=${`/v1/files/${file.id}/retry`}
                      describedBy=${nameId}
                      onDone=${onDone}
                      success=${(d) => `Retried ${file.source}${d && d.retried && d.retried.restoredTo ? `: put back as ${d.retried.restoredTo}` : ''}.`}
                    />
                    <${CancelButton} file=${inflight} describedBy=${nameId} onDone=${onDone} />
                  </td>`
                : null
            }
          </tr>`;
        })}
      </tbody>
    </table>
  <//>`;
}

function lastFailureOf(store, source) {
  return store.recentFailures.find((e) => e.source === source && e.type === 'file.failed');
}

function WaitingTable({ files, act, onDone, store }) {
  return html`<${TableBox} label="Files failing and backing off, or held">
    <table class="table">
      <thead>
        <tr>
          <th scope="col">File</th>
          <th scope="col">State</th>
          <th scope="col">Error</th>
          <th scope="col" class="num">Attempt</th>
          <th scope="col">Next try</th>
          ${act ? html`<th scope="col"><span class="visually-hidden">Actions</span></th>` : null}
        </tr>
      </thead>
      <tbody>
        ${files.map((p) => {
          const nameId = `failure-${p.id}`;
          const last = lastFailureOf(store, p.source);
          const inflight = store.inflight.get(p.source);
          return html`<tr
            key=${p.id}
            data-testid="failure-row"
            data-id=${p.id}
            data-source=${p.source}
          >
            <td>
              <${PathCell} id=${nameId} path=${p.source} />
            </td>
            <td>
              <${Badge} kind=${p.reason}>${p.reason === 'backoff' ? 'backing off' : p.reason}<//>
            </td>
            <td class="error-cell">
              ${last ? html`<span class="error-text">${last.code ? `${last.code}: ` : ''}${last.error || ''}</span>` : null}
              <span class=${last ? 'path-full' : p.reason === 'held' ? 'why' : 'error-text'}
                >${p.why}</span
              >
            </td>
            <td class="num">${f.count(attemptOf(p.why) ?? (last ? last.attempt : null))}</td>
            <td>${p.dueAt ? html`<${When} time=${p.dueAt} />` : 'until released'}</td>
            ${
              act
                ? html`<td class="actions">
                    ${pendingActions(p, nameId, onDone)}
                    <${CancelButton} file=${inflight} describedBy=${nameId} onDone=${onDone} />
                  </td>`
                : null
            }
          </tr>`;
        })}
      </tbody>
    </table>
  <//>`;
}

export function Failures() {
  const store = useStore();
  const c = counts();
  const { result, reload, loading } = useLoader(
    loadFailures,
    store.reconnects,
    `${store.changed.failures}/${c.failed}/${c.quarantined}/${c.held}`,
  );
  const act = mayAct();
  const onDone = (r) => r.ok && reload();
  const q = result && result.quarantined;
  const p = result && result.pending;
  const quarantined = q && q.ok ? q.data.files : [];
  const waiting =
    p && p.ok ? p.data.files.filter((x) => x.reason === 'backoff' || x.reason === 'held') : [];
  return html`<div class="page">
    <${Panel} title="Quarantined" actions=${act ? html`<${RetryAll} onDone=${onDone} />` : null}>
      ${q && !q.ok ? html`<${Notice} kind="error">${q.message}<//>` : null}
      ${!result && loading ? html`<p class="muted">Loading…</p>` : null}
      ${q && q.ok && quarantined.length === 0 ? html`<p class="empty">No file is quarantined.</p>` : null}
      ${
        quarantined.length > 0
          ? html`<p class="muted">
                ${`${f.count(c.quarantined ?? quarantined.length)} quarantined${q.data.next ? `; the newest ${quarantined.length} are listed` : ''}.`}
              </p>
              <${QuarantinedTable}
                files=${quarantined}
                act=${act}
                onDone=${onDone}
                store=${store}
              />`
          : null
      }
    <//>
    <${Panel} title="Failing and backing off, or held">
      ${p && !p.ok ? html`<${Notice} kind="error">${p.message}<//>` : null}
      ${
        p && p.ok && waiting.length === 0
          ? html`<p class="empty">No file is failing or held.</p>`
          : null
      }
      ${
        waiting.length > 0
          ? html`<${WaitingTable} files=${waiting} act=${act} onDone=${onDone} store=${store} />`
          : null
      }
    <//>
  </div>`;
}
