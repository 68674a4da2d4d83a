// Files/s and bytes/s over the last 15 minutes and the last hour, drawn with uPlot (a canvas),
// each with a text summary (latest and peak) for those who cannot see the canvas.
import { useEffect, useRef } from './vendor/hooks.mjs';
import { html, useId } from './components.js';
import { SERIES_SECONDS } from './store.js';
import { bytes as fmtBytes, fileRate, rate } from './format.js';

/** Points of a window: `seconds` long, averaged over `bucket` seconds. */
export function windowOf(series, seconds, bucket) {
  const end = series.end === null ? Math.floor(Date.now() / 1000) * 1000 : series.end;
  const n = Math.floor(seconds / bucket);
  const xs = new Array(n);
  const files = new Array(n);
  const bytes = new Array(n);
  let peakFiles = 0;
  let peakBytes = 0;
  const start = SERIES_SECONDS - seconds;
  for (let i = 0; i < n; i++) {
    let f = 0;
    let b = 0;
    for (let j = 0; j < bucket; j++) {
      const k = start + i * bucket + j;
      f += series.files[k];
      b += series.bytes[k];
    }
    xs[i] = (end - (seconds - (i + 1) * bucket) * 1000) / 1000;
    files[i] = f / bucket;
    bytes[i] = b / bucket;
    // The peak of what is drawn: of the 10 s averages on the hour's chart, as its line shows.
    if (files[i] > peakFiles) peakFiles = files[i];
    if (bytes[i] > peakBytes) peakBytes = bytes[i];
  }
  return {
    xs,
    files,
    bytes,
    peakFiles,
    peakBytes,
    latestFiles: series.files[SERIES_SECONDS - 1],
    latestBytes: series.bytes[SERIES_SECONDS - 1],
  };
}

function cssVar(name, fallback) {
  const v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return v || fallback;
}

function shortBytes(v) {
  return fmtBytes(v).replace(' ', '');
}

function makeOptions(kind, width) {
  const ink = cssVar('--muted', '#555');
  const grid = cssVar('--grid', '#ddd');
  const stroke = cssVar(kind === 'files' ? '--chart-files' : '--chart-bytes', '#2563eb');
  const fill = cssVar(
    kind === 'files' ? '--chart-files-fill' : '--chart-bytes-fill',
    'transparent',
  );
  const axis = {
    stroke: ink,
    grid: { stroke: grid, width: 1 },
    ticks: { stroke: grid, width: 1 },
    font: '11px system-ui, sans-serif',
  };
  return {
    width,
    height: 160,
    legend: { show: false },
    cursor: { drag: { x: false, y: false } },
    scales: {
      x: { time: true },
      y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : kind === 'files' ? 1 : 1000] },
    },
    axes: [
      // 24-hour local times, as the rest of the page writes them.
      {
        ...axis,
        values: [
          [60, '{HH}:{mm}'],
          [1, '{HH}:{mm}:{ss}'],
        ],
      },
      {
        ...axis,
        size: 56,
        values: (_u, vals) =>
          vals.map((v) => (kind === 'files' ? String(+v.toFixed(2)) : shortBytes(v))),
      },
    ],
    series: [
      {},
      {
        label: kind === 'files' ? 'files/s' : 'bytes/s',
        stroke,
        fill,
        width: 1.5,
        points: { show: false },
      },
    ],
  };
}

/**
 * One chart. `points` is windowOf()'s result; `kind` files or bytes; `version` changes when
 * the data does.
 */
export function Chart({ testId, title, kind, points, version, rangeText }) {
  const box = useRef(null);
  const plot = useRef(null);
  const titleId = useId('chart');
  const data = () => [points.xs, kind === 'files' ? points.files : points.bytes];

  useEffect(() => {
    if (typeof uPlot === 'undefined' || !box.current) return undefined;
    let u = null;
    const build = () => {
      if (u) u.destroy();
      const width = Math.max(200, box.current.clientWidth);
      u = new uPlot(makeOptions(kind, width), data(), box.current);
      plot.current = u;
    };
    build();
    const resize = new ResizeObserver(() => {
      if (u && box.current) {
        const width = Math.max(200, box.current.clientWidth);
        if (Math.abs(width - u.width) > 2) u.setSize({ width, height: 160 });
      }
    });
    resize.observe(box.current);
    const scheme = matchMedia('(prefers-color-scheme: dark)');
    const onScheme = () => build();
    scheme.addEventListener('change', onScheme);
    return () => {
      resize.disconnect();
      scheme.removeEventListener('change', onScheme);
      if (u) u.destroy();
      plot.current = null;
    };
  }, [kind]);

  useEffect(() => {
    if (plot.current) plot.current.setData(data());
  }, [version]);

  const fmt = kind === 'files' ? fileRate : rate;
  const latest = kind === 'files' ? points.latestFiles : points.latestBytes;
  const peak = kind === 'files' ? points.peakFiles : points.peakBytes;
  return html`<figure class="chart" data-testid=${testId} aria-labelledby=${titleId}>
    <figcaption id=${titleId} class="chart-title">${title}</figcaption>
    <div class="chart-canvas" ref=${box} aria-hidden="true"></div>
    <p class="chart-summary" data-testid="chart-summary">
      Latest <strong>${fmt(latest)}</strong>, peak <strong>${fmt(peak)}</strong> over ${rangeText}.
    </p>
  </figure>`;
}
