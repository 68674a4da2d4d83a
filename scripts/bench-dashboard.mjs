#!/usr/bin/env node
// The dashboard on a big state: how long its first screen and its history take to render in
// a real browser (Debian's chromium), and what the calls behind them cost, with N rows.
//
//   node scripts/bench-dashboard.mjs                 # 1,000,000 rows
//   node scripts/bench-dashboard.mjs --rows 20000    # quick (the tests run it)
//
// The rows are written straight into the state (a daemon's `--once` makes it first): ingests
// committed over the last 30 days. Prints one table; nothing is asserted.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

const ROOT = path.resolve(import.meta.dirname, '..');
const BIN = path.join(ROOT, 'dist/bin/ingestor.js');
const require = createRequire(path.join(ROOT, 'package.json'));
const { values: opts } = parseArgs({
  options: {
    rows: { type: 'string', default: '1000000' },
    loads: { type: 'string', default: '5' },
    browse: { type: 'string' }, // internal: the browser half, in a process that trusts the CA
    dir: { type: 'string' },
  },
});

if (opts.browse !== undefined) {
  await browse(JSON.parse(opts.browse));
  process.exit(0);
}

const ROWS = Number(opts.rows);
const LOADS = Number(opts.loads);
const work = fs.mkdtempSync(path.join(opts.dir ?? os.tmpdir(), 'ingestor-bench-dashboard-'));
const d = {
  input: path.join(work, 'in'),
  warehouse: path.join(work, 'wh'),
  manifests: path.join(work, 'mf'),
  state: path.join(work, 'state', 'state.db'),
  certs: path.join(work, 'certs'),
};
fs.mkdirSync(d.input);
const base = [
  '--input',
  d.input,
  '--warehouse',
  d.warehouse,
  '--manifests',
  d.manifests,
  '--state-path',
  d.state,
];

function run(args) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ingestor ${args[0]}: ${r.stderr}`);
}

/** Writes `rows` committed ingests into the state, a month of them, in one transaction. */
function fill(rows) {
  const Database = require('better-sqlite3');
  const db = new Database(d.state);
  const insert = db.prepare(`
    INSERT INTO files (kind, status, sha256, live_sha256, source, dest, manifest, device, inode,
      size, mtime_ms, intent_at, committed_at, completed_at, hash_ms)
    VALUES ('ingest', 'committed', ?, ?, ?, ?, ?, 2049, ?, ?, ?, ?, ?, ?, 1)`);
  const start = Date.now() - 30 * 86_400_000;
  const step = (30 * 86_400_000) / rows;
  db.transaction(() => {
    for (let i = 0; i < rows; i += 1) {
      const digest = createHash('sha256').update(String(i)).digest();
      const at = Math.round(start + i * step);
      const name = `feed-${i % 97}/part-${String(i).padStart(7, '0')}.csv`;
      insert.run(
        digest.toString('hex'),
        digest,
        Buffer.from(path.join(d.input, name)),
        Buffer.from(path.join(d.warehouse, 'ingest_date=2026-11-01', name)),
        path.join(d.manifests, 'manifest.jsonl'),
        i + 1,
        4096 + (i % 1000),
        at - 60_000,
        at,
        at,
        at - 5,
      );
    }
  })();
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
}

function get(port, urlPath) {
  const ca = fs.readFileSync(path.join(d.certs, 'ca.crt'));
  const started = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    https
      .get(
        {
          host: '127.0.0.1',
          servername: 'localhost',
          port,
          path: urlPath,
          ca,
          cert: fs.readFileSync(path.join(d.certs, 'admin.crt')),
          key: fs.readFileSync(path.join(d.certs, 'admin.key')),
          agent: false,
        },
        (res) => {
          let body = '';
          res.on('data', (c) => (body += c));
          res.on('end', () =>
            resolve({
              ms: Number(process.hrtime.bigint() - started) / 1e6,
              body: JSON.parse(body),
            }),
          );
        },
      )
      .on('error', reject);
  });
}

/** The median; a load that never showed counts as the slowest (null: not shown). */
const median = (xs) =>
  xs.map((x) => x ?? Infinity).sort((a, b) => a - b)[Math.floor(xs.length / 2)];

console.error(`bench-dashboard: ${ROWS.toLocaleString('en')} rows in ${work}`);
run(['certs', d.certs]);
run([...base, '--once']);
let t = Date.now();
fill(ROWS);
console.error(`bench-dashboard: filled in ${((Date.now() - t) / 1000).toFixed(1)} s`);

const daemon = spawn(
  process.execPath,
  [
    BIN,
    'run',
    ...base,
    '--api-port',
    '0',
    '--tls-cert',
    path.join(d.certs, 'server.crt'),
    '--tls-key',
    path.join(d.certs, 'server.key'),
    '--tls-ca',
    path.join(d.certs, 'ca.crt'),
  ],
  { stdio: ['ignore', 'pipe', 'inherit'] },
);
try {
  t = Date.now();
  const port = await new Promise((resolve, reject) => {
    let out = '';
    daemon.stdout.on('data', (chunk) => {
      out += chunk;
      const line = out.split('\n').find((l) => l.includes('"event":"api-listening"'));
      if (line !== undefined) resolve(JSON.parse(line).port);
    });
    daemon.on('exit', (code) => reject(new Error(`the daemon exited ${code}`)));
  });
  const startMs = Date.now() - t;
  const status = await get(port, '/v1/status');
  const statusWarm = [];
  for (let i = 0; i < LOADS; i += 1) statusWarm.push((await get(port, '/v1/status')).ms);
  const page1 = await get(port, '/v1/files?limit=50');
  let cursor = page1.body.next;
  const deep = [];
  for (let i = 0; i < 20 && cursor !== null; i += 1) {
    const page = await get(port, `/v1/files?limit=50&cursor=${cursor}`);
    deep.push(page.ms);
    cursor = page.body.next;
  }
  const search = await get(port, '/v1/files?limit=50&q=part-0000042');
  const browser = spawnSync(
    process.execPath,
    [
      import.meta.filename,
      '--browse',
      JSON.stringify({
        url: `https://localhost:${port}/`,
        cert: path.join(d.certs, 'admin.crt'),
        key: path.join(d.certs, 'admin.key'),
        rows: ROWS,
        loads: LOADS,
      }),
    ],
    {
      encoding: 'utf8',
      env: { ...process.env, NODE_EXTRA_CA_CERTS: path.join(d.certs, 'ca.crt') },
      stdio: ['ignore', 'pipe', 'inherit'],
      timeout: 300_000,
    },
  );
  if (browser.status !== 0) throw new Error(`the browser half failed (${browser.status})`);
  const b = JSON.parse(browser.stdout.trim().split('\n').at(-1));
  const ms = (x) => (Number.isFinite(x) ? `${Math.round(x)} ms` : 'not shown within 60 s');
  console.log(`
| ${ROWS.toLocaleString('en')} rows | |
| --- | --- |
| daemon start to API listening | ${ms(startMs)} |
| GET /v1/status, first (counts the rows once) | ${ms(status.ms)} |
| GET /v1/status, then (median of ${LOADS}) | ${ms(median(statusWarm))} |
| GET /v1/files, first page of 50 | ${ms(page1.ms)} |
| GET /v1/files, next 20 pages (keyset), median | ${ms(deep.length === 0 ? 0 : median(deep))} |
| GET /v1/files?q= one name (a rare match) | ${ms(search.ms)} |
| browser: overview's counts shown, first load | ${ms(b.overview[0] ?? Infinity)} |
| browser: overview's counts shown, median of ${LOADS} loads | ${ms(median(b.overview))} |
| browser: history's first page shown, median of ${LOADS} loads | ${ms(median(b.history))} |
`);
} finally {
  daemon.kill('SIGTERM');
  await new Promise((resolve) => daemon.once('exit', resolve));
  fs.rmSync(work, { recursive: true, force: true });
}

/**
 * The browser half: loads the page `loads` times, and reads in the page when the overview's
 * ingested count first showed every row, and when the history's first rows showed, in ms
 * since the navigation began (a MutationObserver installed before the page's own scripts).
 */
async function browse({ url, cert, key, rows, loads }) {
  const { chromium } = require('playwright-core');
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox'],
  });
  const origin = new URL(url).origin;
  const times = { overview: [], history: [] };
  try {
    for (const [name, hash, check] of [
      [
        'overview',
        '#/',
        `(/\\d[\\d,]*/.exec(document.querySelector('[data-testid=count-ingested]')?.textContent ?? '') ?? [''])[0].replaceAll(',', '') === '${rows}'`,
      ],
      ['history', '#/history', `document.querySelectorAll('[data-testid=file-row]').length > 0`],
    ]) {
      for (let i = 0; i < loads; i += 1) {
        const context = await browser.newContext({
          clientCertificates: [{ origin, certPath: cert, keyPath: key }],
        });
        await context.addInitScript(`
          const seen = () => { if (window.__shown === undefined && (${check})) window.__shown = performance.now(); };
          new MutationObserver(seen).observe(document, { subtree: true, childList: true, characterData: true });`);
        const page = await context.newPage();
        await page.goto(`${url}${hash}`);
        let shown;
        for (const until = Date.now() + 60_000; shown === undefined && Date.now() < until;) {
          await new Promise((resolve) => setTimeout(resolve, 10));
          shown = await page.evaluate('window.__shown');
        }
        times[name].push(shown ?? null);
        await context.close();
      }
    }
  } finally {
    await browser.close();
  }
  console.log(JSON.stringify(times));
}
