// Every file being read, hashed or copied, with a live progress bar.
import { html, PathCell, CancelButton, Panel, TableBox, useStore } from './components.js';
import { counts, inflightList, mayAct } from './store.js';
import * as f from './format.js';

let rowIds = 0;
const idFor = new Map();
/** A stable DOM id for a source path (for aria-describedby). */
function domId(source) {
  let id = idFor.get(source);
  if (id === undefined) {
    rowIds += 1;
    id = `inflight-${rowIds}`;
    idFor.set(source, id);
    if (idFor.size > 2000) idFor.delete(idFor.keys().next().value);
  }
  return id;
}

function timeLeft(file) {
  const left = (file.bytes || 0) - (file.bytesDone || 0);
  if (!(file.bytesPerSecond > 0) || left < 0) return '—';
  return f.duration(left / file.bytesPerSecond);
}

export function InflightTable({ files, compact = false }) {
  const act = !compact && mayAct();
  return html`<table class="table">
    <thead>
      <tr>
        <th scope="col">File</th>
        <th scope="col">Progress</th>
        <th scope="col" class="num">Rate</th>
        <th scope="col" class="num">Time left</th>
        <th scope="col">Step</th>
        ${act ? html`<th scope="col"><span class="visually-hidden">Actions</span></th>` : null}
      </tr>
    </thead>
    <tbody>
      ${files.map((file) => {
        const id = domId(file.source);
        const done = file.bytesDone || 0;
        const total = file.bytes || 0;
        const pct = total > 0 ? (100 * done) / total : 0;
        return html`<tr
          key=${file.source}
          data-testid=${compact ? 'inflight-summary-row' : 'inflight-row'}
          data-source=${file.source}
        >
          <td>
            <${PathCell} id=${id} path=${file.source} />
          </td>
          <td class="progress-cell">
            <progress
              max=${total > 0 ? total : 1}
              value=${total > 0 ? Math.min(done, total) : 0}
              aria-label=${`Progress of ${f.baseName(file.source)}`}
            ></progress>
            <span class="progress-text"
              >${f.bytes(done)} of ${f.bytes(total)} (${f.percent(pct)})</span
            >
          </td>
          <td class="num">${f.rate(file.bytesPerSecond)}</td>
          <td class="num">${timeLeft(file)}</td>
          <td>
            <span class=${`badge ${file.copying ? 'badge-copying' : 'badge-hashing'}`}>
              ${file.copying ? 'copying' : 'hashing'}
            </span>
          </td>
          ${
            act
              ? html`<td class="actions">
                  <${CancelButton} file=${file} describedBy=${id} />
                </td>`
              : null
          }
        </tr>`;
      })}
    </tbody>
  </table>`;
}

export function Inflight() {
  const store = useStore();
  const list = inflightList();
  const c = counts();
  // The files listed, or all of them when the daemon lists only the largest: the count of
  // files in flight (c.inFlight) also counts those waiting for their batch.
  const total = store.stats?.inflightTotal ?? list.length;
  return html`<div class="page">
    <${Panel} title="In flight">
      <p class="muted">
        ${f.count(total ?? list.length)} file${total === 1 ? '' : 's'} being read, hashed, copied or
        placed${typeof c.queued === 'number' ? `; ${f.count(c.queued)} queued` : ''}.
        ${
          !store.inflightFromStats
            ? ' Large files are shown while their progress is reported.'
            : list.length >= 50
              ? ' The 50 largest are shown.'
              : ''
        }
      </p>
      ${
        list.length === 0
          ? html`<p class="empty">Nothing is being read or copied now.</p>`
          : html`<${TableBox} label="Files in flight"><${InflightTable} files=${list} /><//>`
      }
    <//>
  </div>`;
}
