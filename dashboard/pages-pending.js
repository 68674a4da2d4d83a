// Files seen and not taken yet, and why: stabilizing, waiting, backing off, held.
import { getJSON } from './api.js';
import {
  html,
  PathCell,
  ActionButton,
  Badge,
  Notice,
  Panel,
  TableBox,
  useLoader,
  useStore,
  When,
} from './components.js';
import { useRef } from './vendor/hooks.mjs';
import { counts, daemonState, mayAct } from './store.js';
import * as f from './format.js';

const REASONS = ['held', 'backoff', 'stabilizing', 'waiting'];

/** The actions that fit a pending file. */
export function pendingActions(file, describedBy, onDone) {
  const path = (action) => `/v1/files/${encodeURIComponent(file.id)}/${action}`;
  const buttons = [];
  if (file.reason === 'backoff') {
    buttons.push(
      html`<${ActionButton}
        key="retry"
        label="Retry"
        path=${path('retry')}
        describedBy=${describedBy}
        onDone=${onDone}
        success=${`Retrying ${file.source} now.`}
      />`,
    );
  }
  if (file.reason === 'held') {
    buttons.push(
      html`<${ActionButton}
        key="release"
        label="Release"
        path=${path('release')}
        describedBy=${describedBy}
        onDone=${onDone}
        success=${`Released ${file.source}: it is taken at the next scan.`}
      />`,
    );
  } else {
    buttons.push(
      html`<${ActionButton}
        key="hold"
        label="Hold"
        path=${path('hold')}
        describedBy=${describedBy}
        onDone=${onDone}
        success=${`Held ${file.source} until released.`}
      />`,
    );
  }
  return buttons;
}

export function Pending({ params, navigate }) {
  const store = useStore();
  const c = counts();
  const reason = REASONS.includes(params.get('reason')) ? params.get('reason') : '';
  // Refetched when an event says the list changed: its counts, a pause, or, while files are
  // stabilizing or waiting (their "stable for 3 of 5 s" moves with time), each stats event
  // (every second; the loader fetches at most every 2 s).
  const moving = useRef(false);
  const paused = daemonState().pauses.length;
  const signal = `${store.changed.pending}/${c.pending}/${c.held}/${c.failed}/${paused}/${moving.current ? store.stats?.at : ''}`;
  const { result, loading, reload } = useLoader(
    () => getJSON('/v1/pending?limit=1000'),
    store.reconnects,
    signal,
  );
  const act = mayAct();
  const data = result && result.ok ? result.data : null;
  const files = data ? data.files.filter((p) => reason === '' || p.reason === reason) : [];
  moving.current = data !== null && data.files.some((p) => p.reason !== 'held');
  const onDone = (r) => r.ok && reload();
  const setReason = (event) => {
    const value = event.currentTarget.value;
    navigate(value ? `#/pending?reason=${value}` : '#/pending');
  };
  return html`<div class="page">
    <${Panel} title="Pending">
      <form class="filters" onSubmit=${(e) => e.preventDefault()}>
        <label>
          Reason
          <select value=${reason} onChange=${setReason}>
            <option value="">All</option>
            <option value="held">Held</option>
            <option value="backoff">Backing off</option>
            <option value="stabilizing">Stabilizing</option>
            <option value="waiting">Waiting</option>
          </select>
        </label>
      </form>
      ${result && !result.ok ? html`<${Notice} kind="error">${result.message}<//>` : null}
      ${
        data
          ? html`<p class="muted">
              ${f.count(data.total)} pending in
              all${data.truncated ? ` (the first ${f.count(data.files.length)} listed)` : ''}.
              ${data.pausedBy ? ` Paused by ${data.pausedBy}: new files are not listed while the pause lasts.` : ''}
            </p>`
          : loading
            ? html`<p class="muted">Loading…</p>`
            : null
      }
      ${
        data && files.length === 0
          ? html`<p class="empty">
              No files ${reason ? `with the reason “${reason}”` : 'waiting'}.
            </p>`
          : null
      }
      ${
        files.length > 0
          ? html`<${TableBox} label="Pending files">
              <table class="table">
                <thead>
                  <tr>
                    <th scope="col">File</th>
                    <th scope="col">Reason</th>
                    <th scope="col">Why</th>
                    <th scope="col">Due</th>
                    ${act ? html`<th scope="col"><span class="visually-hidden">Actions</span></th>` : null}
                  </tr>
                </thead>
                <tbody>
                  ${files.map((p) => {
                    const nameId = `pending-${p.id}`;
                    return html`<tr
                      key=${p.id}
                      data-testid="pending-row"
                      data-id=${p.id}
                      data-source=${p.source}
                    >
                      <td>
                        <${PathCell} id=${nameId} path=${p.source} />
                      </td>
                      <td><${Badge} kind=${p.reason}>${p.reason}<//></td>
                      <td class="why">${p.why}</td>
                      <td>${p.dueAt ? html`<${When} time=${p.dueAt} />` : 'until released'}</td>
                      ${act ? html`<td class="actions">${pendingActions(p, nameId, onDone)}</td>` : null}
                    </tr>`;
                  })}
                </tbody>
              </table>
            <//>`
          : null
      }
    <//>
  </div>`;
}
