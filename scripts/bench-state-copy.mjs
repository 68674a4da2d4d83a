#!/usr/bin/env node
// `ingestor state copy` on a large SQLite state: rows per second, and the copy's peak RSS
// (GNU time's %M). docs/BENCHMARKS.md quotes it.
//
//   npm run build && node scripts/bench-state-copy.mjs                 # 1,000,000 file rows
//   node scripts/bench-state-copy.mjs --files 100000 --runs 3
//   node scripts/bench-state-copy.mjs --to postgres://u@host/empty_db  # a server of your own
//
// Without --to it starts a PostgreSQL cluster of its own (as root: initdb and pg_ctl run as
// postgres; fsync on, the server's defaults otherwise) and removes it at the end. The SQLite
// state is written directly (the current schema, then rows in one transaction): 90% ingests,
// 8% duplicates, 2% quarantines, paths of 40 to 60 bytes, plus journal events and webhook
// messages, one for every 100 files each.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';

const ROOT = path.resolve(import.meta.dirname, '..');
const BIN = path.join(ROOT, 'dist/bin/ingestor.js');
const { MIGRATIONS } = await import(path.join(ROOT, 'dist/src/state/schema.js'));

const { values: opts } = parseArgs({
  options: {
    files: { type: 'string', default: '1000000' },
    runs: { type: 'string', default: '1' },
    to: { type: 'string' },
    dir: { type: 'string', default: path.join(os.tmpdir(), 'ingestor-bench-copy') },
  },
});
const FILES = Number(opts.files);
const RUNS = Number(opts.runs);

function sh(cmd, args, options = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 26, ...options });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr || r.stdout}`);
  return r;
}

/** The SQLite state: FILES file rows, FILES / 100 events and webhook messages. */
function makeState(file) {
  fs.rmSync(path.dirname(file), { recursive: true, force: true });
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = OFF');
  const started = performance.now();
  db.transaction(() => {
    for (const migration of MIGRATIONS) db.exec(migration);
    db.pragma(`user_version = ${MIGRATIONS.length}`);
    const insert = db.prepare(
      `INSERT INTO files (id, kind, status, sha256, live_sha256, source, dest, tmp, manifest,
         sidecar, device, inode, size, mtime_ms, duplicate_of, intent_at, committed_at,
         completed_at, hash_ms, error)
       VALUES (?, ?, 'committed', ?, ?, ?, ?, NULL, ?, NULL, 2049, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    const t0 = Date.UTC(2026, 0, 1);
    for (let id = 1; id <= FILES; id += 1) {
      const kind = id % 50 === 0 ? 'quarantine' : id % 12 === 0 ? 'duplicate' : 'ingest';
      const digest = createHash('sha256')
        .update(kind === 'duplicate' ? `content ${id - 1}` : `content ${id}`)
        .digest();
      const at = t0 + id * 2500;
      const day = new Date(at).toISOString().slice(0, 10);
      const name = `orders-${String(id).padStart(8, '0')}.csv`;
      insert.run(
        id,
        kind,
        digest.toString('hex'),
        kind === 'ingest' ? digest : null,
        Buffer.from(`/data/staging/region-${id % 7}/${name}`),
        Buffer.from(
          kind === 'quarantine'
            ? `/data/warehouse/_quarantine/${name}`
            : kind === 'duplicate'
              ? `/data/warehouse/_duplicates/${day}/${name}`
              : `/data/warehouse/ingest_date=${day}/${name}`,
        ),
        kind === 'ingest'
          ? `/data/manifests/${day.replaceAll('-', '/')}/${String(new Date(at).getUTCHours()).padStart(2, '0')}/manifest.jsonl`
          : null,
        10_000_000 + id,
        4096 + (id % 100_000),
        at - 60_000 + 0.123,
        kind === 'duplicate' ? id - 1 : null,
        at,
        at + 15,
        at - 5000,
        0.05 + (id % 10) / 100,
        kind === 'quarantine' ? `EIO: i/o error, read` : null,
      );
    }
    const event = db.prepare(
      `INSERT INTO events (file_id, source, at, type, actor, detail) VALUES (?, NULL, ?, 'failed', NULL, ?)`,
    );
    const message = db.prepare(
      `INSERT INTO webhook_outbox (msg_id, endpoint, type, body, created_at, attempts, next_at,
         status, last_status, last_error, delivered_at, file_id)
       VALUES (?, 'https://hooks.example/ingest', 'file.quarantined', ?, ?, 1, NULL, 'delivered',
         204, NULL, ?, ?)`,
    );
    for (let id = 50; id <= FILES; id += 100) {
      event.run(id, t0 + id * 2500, '{"code":"EIO","attempt":1}');
      message.run(`msg_${id}`, JSON.stringify({ id, source: `/data/staging/x/${id}` }), t0, t0, id);
    }
    db.prepare(`INSERT INTO settings (key, value, at) VALUES ('closing-hours-from', ?, ?)`).run(
      String(t0),
      t0,
    );
  })();
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
  return (performance.now() - started) / 1000;
}

async function freePort() {
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A cluster of the benchmark's own; returns its URL and how to remove it. */
async function startCluster(dir) {
  sh('bash', [path.join(ROOT, 'scripts/ensure-tools.sh'), 'initdb'], { stdio: 'inherit' });
  const version = fs
    .readdirSync('/usr/lib/postgresql')
    .filter((v) => fs.existsSync(`/usr/lib/postgresql/${v}/bin/initdb`))
    .sort((a, b) => Number(b) - Number(a))[0];
  const bin = `/usr/lib/postgresql/${version}/bin`;
  const data = path.join(dir, 'pg');
  fs.mkdirSync(dir, { recursive: true });
  fs.rmSync(data, { recursive: true, force: true });
  fs.mkdirSync(data);
  sh('chown', ['-R', 'postgres:postgres', data]);
  const as = (...args) => sh('runuser', ['-u', 'postgres', '--', ...args]);
  as(`${bin}/initdb`, '-D', data, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--no-locale');
  const port = await freePort();
  as(
    `${bin}/pg_ctl`,
    '-D',
    data,
    '-o',
    `-k ${data} -c listen_addresses=127.0.0.1 -p ${port} -c fsync=on`,
    '-l',
    path.join(data, 'log'),
    '-w',
    'start',
  );
  const psql = (sql, db = 'postgres') =>
    as(`${bin}/psql`, '-h', data, '-p', String(port), '-U', 'postgres', '-d', db, '-Atc', sql)
      .stdout;
  return {
    version,
    url: (db) => `postgres://postgres@127.0.0.1:${port}/${db}`,
    psql,
    remove: () => {
      spawnSync('runuser', [
        '-u',
        'postgres',
        '--',
        `${bin}/pg_ctl`,
        '-D',
        data,
        '-m',
        'immediate',
        'stop',
      ]);
      fs.rmSync(data, { recursive: true, force: true });
    },
  };
}

const state = path.join(opts.dir, 'state', 'ingestor.db');
console.log(`writing a SQLite state of ${FILES.toLocaleString('en-US')} file rows...`);
const made = makeState(state);
const size = fs.statSync(state).size;
console.log(`  ${made.toFixed(1)} s, ${(size / 2 ** 20).toFixed(0)} MiB`);

const cluster = opts.to === undefined ? await startCluster(opts.dir) : undefined;
if (cluster !== undefined) console.log(`PostgreSQL ${cluster.version}, a cluster of its own`);
try {
  for (let run = 1; run <= RUNS; run += 1) {
    let url = opts.to;
    if (cluster !== undefined) {
      cluster.psql(`CREATE DATABASE copy_${run}`);
      url = cluster.url(`copy_${run}`);
    }
    const args = [BIN, 'state', 'copy', '--from', state, '--to', url];
    const r = spawnSync('/usr/bin/time', ['-f', '%M %e', process.execPath, ...args], {
      encoding: 'utf8',
    });
    if (r.status !== 0) throw new Error(`state copy failed: ${r.stderr}`);
    const [rssKb, wall] = r.stderr.trim().split('\n').at(-1).split(' ').map(Number);
    const seconds = Number(/in (\d+\.\d) s$/.exec(r.stdout.trim())[1]);
    console.log(r.stdout.trim());
    console.log(
      `run ${run}: ${Math.round(FILES / seconds).toLocaleString('en-US')} file rows/s (${seconds.toFixed(1)} s copying, ${wall.toFixed(1)} s wall), peak RSS ${(rssKb / 1024).toFixed(0)} MB`,
    );
    if (cluster !== undefined) {
      const n = Number(cluster.psql('SELECT count(*) FROM files', `copy_${run}`));
      if (n !== FILES) throw new Error(`${n} file rows in PostgreSQL, not ${FILES}`);
    }
  }
} finally {
  cluster?.remove();
}
