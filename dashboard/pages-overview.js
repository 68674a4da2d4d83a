// The first screen: healthy? what is it doing? what failed?
import { getJSON } from './api.js';
import { Chart, windowOf } from './charts.js';
import { html, Panel, useLoader, useStore, When, Notice, TableBox } from './components.js';
import { counts, inflightList, resources, store } from './store.js';
import * as f from './format.js';
import { InflightTable } from './pages-inflight.js';

const COUNTERS = [
  ['ingested', 'Ingested', 'ingested', '#/history?status=ingested'],
  ['duplicates', 'Duplicates', 'duplicates', '#/history?status=duplicate'],
  ['failed', 'Failed', 'failed', '#/failures'],
  ['quarantined', 'Quarantined', 'quarantined', '#/failures'],
  ['held', 'Held', 'held', '#/pending?reason=held'],
  ['pending', 'Pending', 'pending', '#/pending'],
  ['inflight', 'In flight', 'inFlight', '#/inflight'],
];

const WARN_KINDS = new Set(['failed', 'quarantined']);

function Counters({ c }) {
  return html`<ul class="counters" aria-label="Counters">
    ${COUNTERS.map(([id, label, key, href]) => {
      const n = c[key];
      const warn = WARN_KINDS.has(id) && typeof n === 'number' && n > 0;
      return html`<li key=${id}>
        <a
          class=${`counter${warn ? ' counter-warn' : ''}`}
          href=${href}
          data-testid=${`count-${id}`}
        >
          <span class="counter-value">${f.count(n)}</span>${' '}
          <span class="counter-label">${label}</span>${' '}
          ${
            id === 'ingested' && typeof c.ingestedBytes === 'number'
              ? html`<span class="counter-sub">${f.bytes(c.ingestedBytes)}</span>`
              : null
          }
        </a>
      </li>`;
    })}
  </ul>`;
}

/** The charts: [test id, what, over the hour (else 15 minutes)]. */
const CHARTS = [
  ['chart-files', 'files', false],
  ['chart-bytes', 'bytes', false],
  ['chart-files-1h', 'files', true],
  ['chart-bytes-1h', 'bytes', true],
];

function Charts({ series }) {
  const quarter = windowOf(series, 900, 1);
  const hour = windowOf(series, 3600, 10);
  const v = series.version;
  return html`<${Panel} title="Throughput">
    ${
      series.loaded === 'absent'
        ? html`<${Notice}
            >The daemon keeps no series yet: the charts start now, from the live stream.<//
          >`
        : null
    }
    <div class="charts">
      ${CHARTS.map(
        ([testId, kind, hourly]) =>
          html`<${Chart}
            key=${testId}
            testId=${testId}
            title=${`${kind === 'files' ? 'Files' : 'Bytes'} per second, ${hourly ? 'last hour (10 s averages)' : 'last 15 minutes'}`}
            kind=${kind}
            points=${hourly ? hour : quarter}
            version=${v}
            rangeText=${hourly ? 'the last hour' : '15 minutes'}
          />`,
      )}
    </div>
  <//>`;
}

function Volume({ v }) {
  if (v.error) {
    return html`<li class="volume">
      <span class="volume-name">${v.name}</span>
      <span class="volume-path">${v.path}</span>
      <span class="text-danger volume-error">Cannot be read: ${v.error}</span>
    </li>`;
  }
  const free = v.totalBytes > 0 ? v.freeBytes / v.totalBytes : 0;
  const label = `Free space on ${v.name} (${v.path})`;
  return html`<li class="volume">
    <span class="volume-name">${v.name}</span>
    <span class="volume-path">${v.path}</span>
    <meter
      min="0"
      max="1"
      low="0.05"
      high="0.1"
      optimum="1"
      value=${free}
      aria-label=${label}
      title=${`${f.percent(free * 100)} free`}
    ></meter>
    <span class=${free < 0.05 ? 'text-danger' : free < 0.1 ? 'text-warn' : ''}>
      ${f.bytes(v.freeBytes)} free of ${f.bytes(v.totalBytes)} (${f.percent(free * 100)})
    </span>
  </li>`;
}

export function Resources({ r, c }) {
  if (!r) return html`<${Panel} title="Resources"><p class="muted">—</p><//>`;
  // The limits in force (an operator's PUT /v1/limits reloads the status: daemon.limits).
  const limits = store.status && store.status.limits;
  const delay = r.eventLoopDelayMs;
  return html`<${Panel} title="Resources">
    <dl class="facts">
      <div>
        <dt>CPU</dt>
        <dd>${f.percent(r.cpuPercent)}</dd>
      </div>
      <div>
        <dt>RSS</dt>
        <dd>${f.bytes(r.rssBytes)}</dd>
      </div>
      <div>
        <dt>Heap</dt>
        <dd>${f.bytes(r.heapUsedBytes)}</dd>
      </div>
      <div>
        <dt>Event-loop delay</dt>
        <dd>
          ${delay ? `${f.ms(delay.mean)} mean, ${f.ms(delay.p99)} p99, ${f.ms(delay.max)} max` : '—'}
        </dd>
      </div>
      <div>
        <dt>Queue depth</dt>
        <dd>
          ${f.count(c.queued)} queued, ${f.count(c.pending)} pending, ${f.count(c.held)} held,
          ${f.count(c.failed)} backing off
        </dd>
      </div>
      ${
        limits
          ? html`<div>
              <dt>Limits</dt>
              <dd>
                concurrency ${f.count(limits.concurrency)}, batches of ${f.count(limits.batchSize)},
                ${f.count(limits.maxRetries)} retries, stable for
                ${f.count(limits.stabilitySeconds)} s, scans every
                ${f.count(limits.scanIntervalSeconds)} s${limitsMore(limits)}
              </dd>
            </div>`
          : null
      }
      <div>
        <dt>Open files</dt>
        <dd>${f.count(r.openFiles)}</dd>
      </div>
      <div>
        <dt>inotify watches</dt>
        <dd>${f.count(r.inotifyWatches)}</dd>
      </div>
    </dl>
    <h3>Free space</h3>
    <ul class="volumes">
      ${(r.volumes || []).map((v) => html`<${Volume} key=${v.name + v.path} v=${v} />`)}
    </ul>
  <//>`;
}

function LatestFailures({ store }) {
  const { result } = useLoader(
    () => getJSON('/v1/files?status=quarantined&limit=5'),
    store.reconnects,
    store.changed.failures,
  );
  const quarantined = result && result.ok ? result.data.files : [];
  const retrying = store.recentFailures.filter((e) => e.type === 'file.failed').slice(0, 5);
  const none = quarantined.length === 0 && retrying.length === 0;
  return html`<${Panel}
    title="Latest failures"
    actions=${html`<a href="#/failures">All failures</a>`}
  >
    ${
      result && !result.ok && result.status !== 404
        ? html`<${Notice} kind="error">${result.message}<//>`
        : null
    }
    ${
      none
        ? html`<p class="muted">No failures.</p>`
        : html`<ul class="failure-list">
            ${retrying.map(
              (e, i) =>
                html`<li key=${`r${i}`}>
                  <span class="badge badge-backoff"
                    >${e.class === 'quarantine' ? 'failed' : 'retrying'}</span
                  >
                  <span class="path-name">${f.baseName(e.source)}</span>
                  <span class="error-text">${e.code ? `${e.code}: ` : ''}${e.error || ''}</span>
                  <${When} time=${e.at || e.receivedAt} />
                </li>`,
            )}
            ${quarantined.map(
              (file) =>
                html`<li key=${`q${file.id}`}>
                  <span class="badge badge-quarantined">quarantined</span>
                  <a href=${`#/files/${file.id}`} class="path-name">${f.baseName(file.source)}</a>
                  <span class="error-text">${file.error || '—'}</span>
                  <${When} time=${file.committedAt || file.intentAt} />
                </li>`,
            )}
          </ul>`
    }
  <//>`;
}

export function Overview() {
  const store = useStore();
  const c = counts();
  const list = inflightList();
  return html`<div class="page page-overview">
    <${Counters} c=${c} />
    <${Charts} series=${store.series} />
    <div class="columns">
      <${Panel}
        title="In flight"
        actions=${html`<a href="#/inflight">All ${f.count(c.inFlight ?? list.length)} in flight</a>`}
      >
        ${
          list.length === 0
            ? html`<p class="muted">Nothing is being read or copied.</p>`
            : html`<${TableBox} label="Files in flight (largest 5)">
                <${InflightTable} files=${list.slice(0, 5)} compact=${true} />
              <//>`
        }
      <//>
      <${LatestFailures} store=${store} />
    </div>
    <${Resources} r=${resources()} c=${c} />
  </div>`;
}

/** The limits set beyond the defaults: the byte rate, the free-space floor, the file size, the stall timeout. */
function limitsMore(limits) {
  const parts = [];
  if (limits.maxBytesPerSecond != null)
    parts.push(`reads at most ${f.rate(limits.maxBytesPerSecond)}`);
  if (limits.minFreeSpace != null) {
    const floor =
      typeof limits.minFreeSpace === 'string' ? limits.minFreeSpace : f.bytes(limits.minFreeSpace);
    parts.push(`keeps ${floor} free`);
  }
  if (limits.maxFileSize != null) parts.push(`files up to ${f.bytes(limits.maxFileSize)}`);
  if (limits.readStallTimeoutSeconds != null) {
    parts.push(
      `reads abandoned after ${f.count(limits.readStallTimeoutSeconds)} s without progress`,
    );
  }
  return parts.length === 0 ? '' : `, ${parts.join(', ')}`;
}
