#!/usr/bin/env node
// Crash torture: runs the real daemon over thousands of files while a concurrent writer adds
// complete files, slow copies, .tmp renames and resent duplicates, and kills the daemon with
// SIGKILL at random instants (and, one time in four, at a named pipeline step) many times. Then
// it lets the daemon finish and checks with `ingestor verify --rehash` and against the writer's
// own ledger: each distinct content in the warehouse once with one manifest line, every other
// copy in the duplicates area, nothing left in the input, nothing lost.
//
// With --full-outputs the manifests (and with --cross-fs the warehouse) are small tmpfs volumes
// that a filler fills to the last byte and frees again at random instants, so that kills land
// on paused ingestion, batches held with their files moved but not recorded, copies cut short,
// and starts that find the volume full.
//
// With --api every daemon serves the control API, and a client streams its durable file events
// (`GET /v1/events`) all along, reconnecting with `Last-Event-ID` after each kill: at the end
// it must have received every committed file's event exactly once.
//
// With --postgres the state is a PostgreSQL cluster of the run's own (started as root through
// `runuser -u postgres`), and with --daemons N that many daemons share the input, the warehouse,
// the manifests and the state, each with its node id and a 3 s lease: the kills hit one of them
// at a time while the others go on, take the dead one's files over and settle its intents.
//
//   node scripts/torture.mjs [--kills N] [--cross-fs] [--full-outputs] [--api] [--seed N]
//                            [--rate FILES_PER_S] [--postgres] [--daemons N] [--keep]
//
// Prints one summary line (JSON) and exits 0 when no problem was found, 1 otherwise.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
// The pipeline's named step boundaries, from the build (the script drives the built binary).
import { CRASH_POINTS } from '../dist/src/crash.js';
import { startPostgres } from './lib/postgres.mjs';

const { values: opts } = parseArgs({
  options: {
    kills: { type: 'string', default: '20' },
    'cross-fs': { type: 'boolean', default: false },
    'full-outputs': { type: 'boolean', default: false },
    api: { type: 'boolean', default: false },
    seed: { type: 'string', default: String(Date.now() % 100000) },
    rate: { type: 'string', default: '40' },
    keep: { type: 'boolean', default: false },
    postgres: { type: 'boolean', default: false },
    daemons: { type: 'string', default: '1' },
  },
});
const POSTGRES = opts.postgres;
const DAEMONS = Number(opts.daemons);
if (!Number.isInteger(DAEMONS) || DAEMONS < 1) throw new Error('--daemons must be at least 1');
if (DAEMONS > 1 && !POSTGRES) throw new Error('--daemons N needs --postgres (a shared state)');
if (POSTGRES && opts.api) throw new Error('--api streams from a SQLite state: not with --postgres');
const KILLS = Number(opts.kills);
const RATE = Number(opts.rate);
const BIN = path.resolve(import.meta.dirname, '../dist/bin/ingestor.js');

// A small deterministic PRNG (mulberry32), so a failing seed can be replayed.
let state = Number(opts.seed) >>> 0;
function random() {
  state = (state + 0x6d2b79f5) >>> 0;
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = (list) => list[Math.floor(random() * list.length)];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const sha = (b) => createHash('sha256').update(b).digest('hex');

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ingestor-torture-'));
const input = path.join(root, 'in');
let manifests = path.join(root, 'mf');
let warehouse = path.join(root, 'wh');
fs.mkdirSync(input);
const mounts = [];
process.on('exit', () => {
  for (const dir of mounts) spawnSync('umount', ['-l', dir]);
});
function mountTmpfs(name, size) {
  const dir = path.join(root, name);
  fs.mkdirSync(dir);
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir]);
  if (r.status !== 0) throw new Error(`cannot mount tmpfs (needs root): ${r.stderr}`);
  mounts.push(dir);
  return dir;
}
const FULL = opts['full-outputs'];
if (opts['cross-fs']) warehouse = path.join(mountTmpfs('tmpfs', FULL ? '1g' : '4g'), 'wh');
if (FULL) manifests = path.join(mountTmpfs('mf-volume', '16m'), 'mf');
// The volumes the filler fills: the manifests always, the warehouse when it is its own. The
// state stays on the root filesystem then (its WAL alone may reach 16 MB before a checkpoint).
const fillable = FULL ? mounts.slice() : [];
const stateFile = FULL
  ? path.join(root, 'state', 'ingestor.db')
  : path.join(manifests, 'ingestor.db');
const pgUrl = POSTGRES ? startPostgres({ keep: opts.keep }).url : undefined;
const stateFlag = POSTGRES ? ['--state-url', pgUrl] : FULL ? ['--state-path', stateFile] : [];
/** Where the daemon writes, as `verify` must be told too. */
const outputs = ['--warehouse', warehouse, '--manifests', manifests, ...stateFlag];
const args = [
  '--input',
  input,
  ...outputs,
  '--stability-seconds',
  '1',
  '--scan-interval',
  '1',
  '--log-level',
  'warn',
];

// ---- the control API and a client that streams through every kill ---------------------------
const API = opts.api;
const tls = path.join(root, 'tls');
let apiPort = 0;
if (API) {
  const made = spawnSync(process.execPath, [BIN, 'certs', tls], { encoding: 'utf8' });
  if (made.status !== 0) throw new Error(`ingestor certs: ${made.stderr}`);
  apiPort = await new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
  args.push(
    ...['--api-port', String(apiPort), '--tls-cert', path.join(tls, 'server.crt')],
    ...['--tls-key', path.join(tls, 'server.key'), '--tls-ca', path.join(tls, 'ca.crt')],
  );
}
/** Each file event the client received (`type id`), with how many times. */
const streamed = new Map();
let streaming = API;
let reconnects = 0;
/**
 * Streams the durable file events, reconnecting with the last id after each kill. It starts
 * from the state's first place: SQLite's cursor `MC4w` (base64url of "0.0"), so that it
 * misses nothing from before its first connection either.
 */
async function streamClient() {
  let last = 'MC4w';
  const read = (key) => fs.readFileSync(path.join(tls, key));
  const credentials = { ca: read('ca.crt'), cert: read('user.crt'), key: read('user.key') };
  while (streaming) {
    await new Promise((resolve) => {
      const req = https.get(
        {
          host: '127.0.0.1',
          port: apiPort,
          path: '/v1/events?types=file.ingested,file.duplicate,file.quarantined',
          headers: { 'last-event-id': last },
          ...credentials,
        },
        (res) => {
          if (res.statusCode !== 200) {
            res.resume();
            res.on('end', resolve);
            return;
          }
          reconnects += 1;
          let buffer = '';
          res.setEncoding('utf8');
          res.on('data', (chunk) => {
            buffer += chunk;
            for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
              const block = buffer.slice(0, end).split('\n');
              buffer = buffer.slice(end + 2);
              const field = (name) =>
                block.find((l) => l.startsWith(`${name}: `))?.slice(name.length + 2);
              const type = field('event');
              const data = field('data');
              if (type !== undefined && type.startsWith('file.') && data !== undefined) {
                const key = `${type} ${JSON.parse(data).id}`;
                streamed.set(key, (streamed.get(key) ?? 0) + 1);
              }
              // Only a whole event moves the place: one cut short comes again.
              last = field('id') ?? last;
            }
          });
          res.on('end', resolve);
          res.on('error', resolve);
        },
      );
      req.on('error', resolve);
    });
    await sleep(50);
  }
}

// ---- the writer -----------------------------------------------------------------------------
const ledger = new Map(); // sha -> number of names written with that content
const contents = []; // earlier contents, for resends
let written = 0;
let writing = true;

function makeContent() {
  const r = random();
  // Mixed sizes: a few empty, most small, a few of several MiB (which take the copy path's
  // multi-chunk code and are often mid-copy when a kill comes).
  const size =
    r < 0.05
      ? 0
      : r < 0.96
        ? Math.floor(random() * 64 * 1024)
        : Math.floor(random() * 4 * 1024 * 1024);
  const buf = Buffer.alloc(size);
  for (let i = 0; i + 4 <= size; i += 4096) buf.writeUInt32LE(Math.floor(random() * 2 ** 32), i);
  if (size >= 8) buf.writeDoubleLE(random(), 0);
  return buf;
}

function record(buf) {
  const h = sha(buf);
  ledger.set(h, (ledger.get(h) ?? 0) + 1);
  written += 1;
}

async function writeOne(n) {
  const dir = random() < 0.3 ? path.join(input, `d${n % 7}`) : input;
  fs.mkdirSync(dir, { recursive: true });
  const name = path.join(dir, `f${n}.dat`);
  const kind = random();
  if (kind < 0.15 && contents.length > 0) {
    const buf = pick(contents); // a resend of earlier content under a new name
    fs.writeFileSync(name, buf);
    record(buf);
  } else if (kind < 0.3) {
    // A slow copy: chunks with pauses far shorter than the 1 s window, through one descriptor.
    const buf = makeContent();
    const fd = fs.openSync(name, 'w');
    const chunk = Math.max(1, Math.ceil(buf.length / 4));
    for (let at = 0; at < buf.length; at += chunk) {
      fs.writeSync(fd, buf, at, Math.min(chunk, buf.length - at));
      await sleep(20 + random() * 60);
    }
    fs.closeSync(fd);
    record(buf);
    contents.push(buf);
  } else if (kind < 0.45) {
    const buf = makeContent(); // written as .tmp, renamed when done
    fs.writeFileSync(`${name}.tmp`, buf);
    await sleep(random() * 100);
    fs.renameSync(`${name}.tmp`, name);
    record(buf);
    contents.push(buf);
  } else {
    const buf = makeContent();
    fs.writeFileSync(name, buf);
    record(buf);
    contents.push(buf);
  }
  if (contents.length > 200) contents.splice(0, 100);
}

// ---- the filler -------------------------------------------------------------------------------
let fills = 0;
const fillerPath = (dir) => path.join(dir, '.filler');
function freeVolumes() {
  for (const dir of fillable) fs.rmSync(fillerPath(dir), { force: true });
}
/** Takes every free byte of one volume (fallocate: at once), holds it a while, frees it. */
async function filler() {
  while (writing) {
    await sleep(300 + random() * 2500);
    if (!writing) break;
    const dir = pick(fillable);
    const { bavail, bsize } = fs.statfsSync(dir);
    const free = bavail * bsize;
    spawnSync('fallocate', ['-l', String(free), fillerPath(dir)]);
    fills += 1;
    await sleep(200 + random() * 2000);
    fs.rmSync(fillerPath(dir), { force: true });
  }
}

async function writer() {
  let n = 0;
  const inFlight = new Set();
  while (writing) {
    const p = writeOne(n++).finally(() => inFlight.delete(p));
    inFlight.add(p);
    if (inFlight.size >= 8) await Promise.race(inFlight);
    await sleep(1000 / RATE);
  }
  await Promise.all(inFlight);
}

// ---- the killer -----------------------------------------------------------------------------
// Whatever happens to the harness, it never leaves a daemon behind.
const live = new Set();
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

// What the daemons said about full volumes (their warn and error lines), counted.
const seen = { paused: 0, held: 0, startedPaused: 0, unrecorded: 0 };
function count(line) {
  if (line.includes('"event":"paused"')) seen.paused += 1;
  if (/"held":[1-9]/.test(line)) seen.held += 1;
  if (line.includes('recovery cannot finish now')) seen.startedPaused += 1;
  if (line.includes('could not be recorded')) seen.unrecorded += 1;
}

/** How many times the daemon of each slot came back as a new node. */
const renamed = [];

/** The arguments of daemon number `slot` (its node id and a short lease with several). */
function argsOf(slot) {
  const node = `n${slot}${renamed[slot] === undefined ? '' : `-${renamed[slot]}`}`;
  return POSTGRES ? [...args, '--node-id', node, '--lease-seconds', '3'] : args;
}

function startDaemon(env = {}, slot = 0) {
  const child = spawn(process.execPath, [BIN, ...argsOf(slot)], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  child.once('close', () => live.delete(child));
  let stdout = '';
  child.stdout.on('data', (b) => {
    const lines = (stdout + b).split('\n');
    stdout = lines.pop();
    lines.forEach(count);
  });
  let stderr = '';
  child.stderr.on('data', (b) => (stderr += b));
  const exited = new Promise((resolve) =>
    child.once('close', (code, signal) => resolve({ code, signal, stderr })),
  );
  return { child, exited };
}

const started = Date.now();
let kills = 0;
let namedKills = 0;
const writerDone = writer();
const clientDone = API ? streamClient() : Promise.resolve();
const fillerDone = FULL ? filler() : Promise.resolve();
const problems = [];
/** One time in four, a daemon dies at a named pipeline step (its 1st to 3rd time there). */
const crashEnv = () =>
  random() < 0.25
    ? { INGEST_TEST_CRASH_AT: `${pick(CRASH_POINTS)}:${1 + Math.floor(random() * 3)}` }
    : {};
if (DAEMONS === 1) {
  while (kills < KILLS) {
    const env = crashEnv();
    const { child, exited } = startDaemon(env);
    const timer = sleep(100 + random() * 1500).then(() => child.kill('SIGKILL'));
    const result = await Promise.race([exited, timer.then(() => exited)]);
    if (result.signal === 'SIGKILL') {
      kills += 1;
      if (env.INGEST_TEST_CRASH_AT !== undefined) namedKills += 1;
    } else if (result.code !== 0) {
      problems.push(`daemon exited ${result.code}: ${result.stderr.trim().split('\n').at(-1)}`);
      break;
    }
  }
} else {
  // Several daemons: all run; every so often one of them is killed (or has died at its named
  // step) and is started again, while the others go on and take its files over.
  const slots = Array.from({ length: DAEMONS }, (_, i) => ({
    ...startDaemon(crashEnv(), i),
    named: false,
  }));
  while (kills < KILLS && problems.length === 0) {
    await sleep(200 + random() * 1500);
    const i = Math.floor(random() * DAEMONS);
    slots[i].child.kill('SIGKILL');
    const result = await slots[i].exited;
    if (result.signal === 'SIGKILL') kills += 1;
    else if (result.code !== 0) {
      problems.push(
        `daemon n${i} exited ${result.code} ${result.signal}: ${result.stderr.trim().split('\n').slice(-5).join(' | ')}`,
      );
    }
    const env = crashEnv();
    if (env.INGEST_TEST_CRASH_AT !== undefined) namedKills += 1;
    // Half the time the killed daemon comes back as another node: its intents are then left to
    // the others, which take them over once its lease runs out (3 s).
    if (random() < 0.5) renamed[i] = (renamed[i] ?? 0) + 1;
    slots[i] = { ...startDaemon(env, i), named: env.INGEST_TEST_CRASH_AT !== undefined };
  }
  for (const slot of slots) slot.child.kill('SIGKILL');
  await Promise.all(slots.map((s) => s.exited));
}
writing = false;
await writerDone;
await fillerDone;
freeVolumes();

// ---- let it finish, then check ----------------------------------------------------------------
const walk = (d) =>
  fs.existsSync(d)
    ? fs
        .readdirSync(d, { withFileTypes: true })
        .flatMap((e) => (e.isDirectory() ? walk(path.join(d, e.name)) : [path.join(d, e.name)]))
    : [];
const ingestible = () =>
  walk(input).filter((f) => !path.basename(f).startsWith('.') && !f.endsWith('.tmp'));
const finals = Array.from({ length: DAEMONS }, (_, i) => startDaemon({}, i));
const deadline = Date.now() + 120_000;
while (ingestible().length > 0 && Date.now() < deadline) await sleep(200);
// With several daemons, intents of the killed ones are taken over once their 3 s leases ran out.
await sleep(POSTGRES ? 5000 : 1500);
if (API) {
  // The client has every committed file's event, each once (the final daemon is still up).
  const db = new Database(stateFile, { readonly: true });
  const committed = db
    .prepare(
      `SELECT id, kind FROM files WHERE status = 'committed' OR (kind = 'quarantine' AND status = 'released')`,
    )
    .all();
  db.close();
  const TYPES = {
    ingest: 'file.ingested',
    duplicate: 'file.duplicate',
    quarantine: 'file.quarantined',
  };
  const expected = new Set(committed.map((r) => `${TYPES[r.kind]} ${r.id}`));
  const until = Date.now() + 10_000;
  while ([...expected].some((k) => !streamed.has(k)) && Date.now() < until) await sleep(100);
  streaming = false;
  const missed = [...expected].filter((k) => !streamed.has(k));
  if (missed.length > 0)
    problems.push(`the stream missed ${missed.length} events, e.g. ${missed[0]}`);
  const twice = [...streamed].filter(([, n]) => n > 1);
  if (twice.length > 0)
    problems.push(`the stream sent ${twice.length} events more than once, e.g. ${twice[0][0]}`);
  const unknown = [...streamed.keys()].filter((k) => !expected.has(k));
  if (unknown.length > 0)
    problems.push(
      `the stream sent ${unknown.length} events of no committed row, e.g. ${unknown[0]}`,
    );
}
for (const f of finals) f.child.kill('SIGTERM');
for (const f of finals) {
  const final = await f.exited;
  if (final.code !== 0)
    problems.push(`final daemon exited ${final.code} ${final.signal}: ${final.stderr}`);
}
await clientDone;
const left = ingestible();
if (left.length > 0) problems.push(`${left.length} files left in the input, e.g. ${left[0]}`);

const verify = spawnSync(process.execPath, [BIN, 'verify', ...outputs, '--rehash', '--json'], {
  encoding: 'utf8',
});
let report;
try {
  report = JSON.parse(verify.stdout);
} catch (error) {
  problems.push(`verify printed no report (${verify.status}): ${verify.stderr} ${String(error)}`);
}
if (report !== undefined && report.problems.length > 0) {
  problems.push(
    ...report.problems.slice(0, 20).map((p) => `verify: ${p.kind} ${p.where}: ${p.detail}`),
  );
}

const lines = walk(manifests)
  .filter((f) => /(^|\/)manifest(\.[^/]+)?\.jsonl$/.test(f))
  .flatMap((f) =>
    fs
      .readFileSync(f, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l)),
  );
const inManifest = new Set(lines.map((l) => l.sha256));
for (const h of ledger.keys())
  if (!inManifest.has(h)) problems.push(`content ${h} was written but never ingested (lost)`);
for (const h of inManifest)
  if (!ledger.has(h)) problems.push(`content ${h} ingested but never written whole`);
const partitionFiles = walk(warehouse).filter((f) =>
  path.relative(warehouse, f).startsWith('ingest_date='),
);
const duplicateFiles = walk(path.join(warehouse, '_duplicates'));
for (const f of duplicateFiles) {
  if (!ledger.has(sha(fs.readFileSync(f))))
    problems.push(`duplicates area holds unknown content: ${f}`);
}
if (partitionFiles.length + duplicateFiles.length !== written) {
  problems.push(
    `${written} files written, but ${partitionFiles.length} in partitions + ${duplicateFiles.length} duplicates`,
  );
}

const summary = {
  ok: problems.length === 0,
  kills,
  namedKills,
  crossFs: opts['cross-fs'],
  ...(POSTGRES ? { postgres: true, daemons: DAEMONS } : {}),
  fullOutputs: FULL,
  ...(API ? { api: { port: apiPort, connections: reconnects, events: streamed.size } } : {}),
  fills,
  ...(FULL ? { seen } : {}),
  seed: Number(opts.seed),
  filesWritten: written,
  distinctContents: ledger.size,
  manifestLines: lines.length,
  partitionFiles: partitionFiles.length,
  duplicates: duplicateFiles.length,
  problems: problems.length,
  seconds: Math.round((Date.now() - started) / 1000),
};
console.log(JSON.stringify(summary));
for (const p of problems.slice(0, 30)) console.error(`torture: ${p}`);
for (const dir of mounts.splice(0)) spawnSync('umount', [dir]);
if (!opts.keep) fs.rmSync(root, { recursive: true, force: true });
else console.error(`torture: kept ${root}`);
process.exit(problems.length === 0 ? 0 : 1);
