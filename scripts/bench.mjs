#!/usr/bin/env node
// Benchmarks, side by side with the peers, on the same freshly generated files, in one run.
//
//   node scripts/bench.mjs            # full: 100,000 files, 1 GiB, 1,000,000 files (long)
//   node scripts/bench.mjs --quick    # small sizes, to check the script works (tests run it)
//   node scripts/bench.mjs --cases 1,2,3 --runs 5
//
// Prints one table (median of --runs for cases 1-3) and writes bench-out/results.json.
// Peers come from Debian's packages (rclone, coreutils); scripts/ensure-tools.sh installs them.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startPostgres } from './lib/postgres.mjs';

const { values: opts } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    runs: { type: 'string' },
    cases: { type: 'string', default: '1,2,3,4,5,6,7,8' },
    dir: { type: 'string', default: path.join(os.tmpdir(), 'ingestor-bench') },
  },
});
const QUICK = opts.quick;
const RUNS = Number(opts.runs ?? (QUICK ? 1 : 3));
const CASES = new Set(opts.cases.split(',').map(Number));
const SIZES = QUICK
  ? {
      smallFiles: 2000,
      naiveFiles: 100,
      bigBytes: 64 << 20,
      millionFiles: 20_000,
      tinyFiles: 4000,
      idleSeconds: 5,
    }
  : {
      smallFiles: 100_000,
      naiveFiles: 2000,
      bigBytes: 1 << 30,
      millionFiles: 1_000_000,
      tinyFiles: 200_000,
      // Long enough for several full scans (spaced at 40 times their own duration, at most 60 s apart).
      idleSeconds: 240,
    };
const ROOT = path.resolve(import.meta.dirname, '..');
const BIN = path.join(ROOT, 'dist/bin/ingestor.js');
const WORK = opts.dir;

const tools = spawnSync('bash', [path.join(ROOT, 'scripts/ensure-tools.sh'), 'rclone', 'curl'], {
  stdio: 'inherit',
});
if (tools.status !== 0) process.exit(1);

const sh = (cmd) => {
  const r = spawnSync('bash', ['-c', cmd], { encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`${cmd}: ${r.stderr}`);
  return r.stdout;
};
const rm = (p) => fs.rmSync(p, { recursive: true, force: true });
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const seconds = (fn) => {
  const t = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t) / 1e9;
};
const dropCaches = () => sh('sync');

/** `n` files of 4 KiB with distinct contents, all older than any stability window. */
function makeSmallFiles(dir, n, bytes = 4096) {
  fs.mkdirSync(dir, { recursive: true });
  const buf = Buffer.alloc(bytes, 0x61);
  for (let i = 0; i < n; i += 1) {
    buf.writeUInt32LE(i, 0);
    buf.writeUInt32LE(Math.floor(Math.random() * 2 ** 32), 4);
    fs.writeFileSync(path.join(dir, `f${i}.csv`), buf);
  }
  sh(`find '${dir}' -type f -exec touch -d '10 minutes ago' {} +`);
}

function makeBigFile(file, bytes) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  sh(`head -c ${bytes} /dev/urandom > '${file}' && touch -d '10 minutes ago' '${file}'`);
}

/** The three directory flags every run of the daemon takes. */
const dirArgs = (input, warehouse, manifests) => [
  '--input',
  input,
  '--warehouse',
  warehouse,
  '--manifests',
  manifests,
];

/** The environment without NODE_OPTIONS: the daemon runs as a user starts it. */
function withoutNodeOptions() {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  return env;
}

/** One `--once` run; its log goes to a file, as a journal or a log file would take it. */
function ingestOnce(input, warehouse, manifests, { logLevel = 'warn', extra = [] } = {}) {
  const log = fs.openSync(path.join(WORK, 'ingestor.log'), 'w');
  try {
    const r = spawnSync(
      process.execPath,
      [
        BIN,
        ...dirArgs(input, warehouse, manifests),
        '--once',
        '--log-level',
        logLevel,
        '--stability-seconds',
        '1',
        ...extra,
      ],
      { encoding: 'utf8', env: withoutNodeOptions(), stdio: ['ignore', log, 'pipe'] },
    );
    if (r.status !== 0) throw new Error(`ingestor failed: ${r.stderr}`);
  } finally {
    fs.closeSync(log);
  }
}

const rows = [];
const results = {};
const row = (caseName, what, value, unit, peer) => {
  rows.push({ caseName, what, value, unit, peer });
};

function mountTmpfs(dir, size) {
  fs.mkdirSync(dir, { recursive: true });
  sh(`mountpoint -q '${dir}' || mount -t tmpfs -o size=${size} tmpfs '${dir}'`);
}

rm(WORK);
fs.mkdirSync(WORK, { recursive: true });
const tmpfs = path.join(WORK, 'tmpfs');
process.on('exit', () => spawnSync('umount', ['-l', tmpfs]));

/** A TCP port no one listens on now. */
function freePort() {
  const script =
    "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})";
  return Number(sh(`'${process.execPath}' -e "${script}"`).trim());
}

/**
 * The control API's flags on `port`, with certificates from `ingestor certs`, and a client that
 * streams every event (`curl -N /v1/events`, retried until the API listens, until the daemon
 * ends its stream) counting the lines it receives into `counted`.
 */
function apiWithClient(port, counted) {
  const certs = path.join(WORK, 'certs');
  if (!fs.existsSync(certs)) sh(`'${process.execPath}' '${BIN}' certs '${certs}' > /dev/null`);
  const c = (name) => path.join(certs, name);
  const curl = `curl -sfN --cacert '${c('ca.crt')}' --cert '${c('admin.crt')}' --key '${c('admin.key')}' https://127.0.0.1:${port}/v1/events`;
  const client = spawn(
    'bash',
    ['-c', `for i in $(seq 500); do ${curl} && break; sleep 0.01; done | wc -l > '${counted}'`],
    { stdio: 'ignore' },
  );
  const args = [
    '--api-port',
    String(port),
    '--tls-cert',
    c('server.crt'),
    '--tls-key',
    c('server.key'),
    '--tls-ca',
    c('ca.crt'),
  ];
  return { args, client };
}

// ---- Case 1: small-file backlog, same filesystem ---------------------------------------------
if (CASES.has(1)) {
  const source = path.join(WORK, 'c1-source');
  makeSmallFiles(source, SIZES.smallFiles);
  const runCopy = () => {
    const input = path.join(WORK, 'c1-in');
    rm(input);
    sh(`cp -a '${source}' '${input}'`);
    dropCaches();
    return input;
  };
  const ours = [];
  const oursInfo = [];
  const oursApi = [];
  const streamed = [];
  const rclone = [];
  for (let r = 0; r < RUNS; r += 1) {
    let input = runCopy();
    const out = path.join(WORK, 'c1-out');
    rm(out);
    ours.push(
      SIZES.smallFiles /
        seconds(() => ingestOnce(input, path.join(out, 'wh'), path.join(out, 'mf'))),
    );
    // The default level: one log line per file, written to a file.
    input = runCopy();
    rm(out);
    oursInfo.push(
      SIZES.smallFiles /
        seconds(() =>
          ingestOnce(input, path.join(out, 'wh'), path.join(out, 'mf'), { logLevel: 'info' }),
        ),
    );
    // The control API on, and one client streaming every event meanwhile.
    input = runCopy();
    rm(out);
    const counted = path.join(WORK, 'c1-events');
    const { args, client } = apiWithClient(freePort(), counted);
    const exited = new Promise((resolve) => client.on('exit', resolve));
    oursApi.push(
      SIZES.smallFiles /
        seconds(() =>
          ingestOnce(input, path.join(out, 'wh'), path.join(out, 'mf'), { extra: args }),
        ),
    );
    await exited;
    streamed.push(Number(fs.readFileSync(counted, 'utf8').trim()));
    input = runCopy();
    rm(out);
    // The destination exists, as a cron job's would: otherwise rclone's local backend moves
    // the whole directory with one rename, which says nothing about per-file speed.
    fs.mkdirSync(path.join(out, 'dst'), { recursive: true });
    fs.writeFileSync(path.join(out, 'dst', '.keep'), '');
    const rcloneMove = `rclone move --config /dev/null --min-age 1s '${input}' '${out}/dst' 2>/dev/null`;
    rclone.push(SIZES.smallFiles / seconds(() => sh(rcloneMove)));
  }
  // The naive loop is about 100x slower: measured on a subset.
  const naiveIn = path.join(WORK, 'c1-naive');
  rm(naiveIn);
  makeSmallFiles(naiveIn, SIZES.naiveFiles);
  const naiveOut = path.join(WORK, 'c1-naive-out');
  rm(naiveOut);
  fs.mkdirSync(naiveOut);
  const naive =
    SIZES.naiveFiles /
    seconds(() =>
      sh(
        `cd '${naiveIn}' && for f in *; do h=$(sha256sum "$f"); mv "$f" '${naiveOut}/'; echo "$h" >> '${naiveOut}/manifest.txt'; done`,
      ),
    );
  const o = median(ours);
  const oi = median(oursInfo);
  const oa = median(oursApi);
  const p = median(rclone);
  results.case1 = {
    files: SIZES.smallFiles,
    ingestorFilesPerSecond: o,
    ingestorInfoFilesPerSecond: oi,
    rcloneFilesPerSecond: p,
    naiveFilesPerSecond: naive,
    runs: ours,
    infoRuns: oursInfo,
    apiStreamingFilesPerSecond: oa,
    apiRuns: oursApi,
    linesStreamed: streamed,
    rcloneRuns: rclone,
  };
  row(
    '1',
    `${SIZES.smallFiles} x 4 KiB, same fs, --once, --log-level warn`,
    o.toFixed(0),
    'files/s',
    `rclone move ${p.toFixed(0)} files/s (ratio ${(o / p).toFixed(2)}x); naive sha256sum+mv loop ${naive.toFixed(0)} files/s (${(o / naive).toFixed(0)}x)`,
  );
  row(
    '1',
    `the same at --log-level info (a line per file, to a file)`,
    oi.toFixed(0),
    'files/s',
    `ratio ${(oi / p).toFixed(2)}x rclone move; ${(oi / o).toFixed(2)}x the warn level`,
  );
  row(
    '1',
    `the same with the control API on and one client streaming every event (curl -N /v1/events)`,
    oa.toFixed(0),
    'files/s',
    `${(oa / o).toFixed(2)}x the API off (target at least 0.90x); the client read ${median(streamed)} lines`,
  );
  rm(path.join(WORK, 'c1-in'));
  rm(path.join(WORK, 'c1-out'));
}

// ---- Case 2: one big file, same filesystem ---------------------------------------------------
function nodeSha256Seconds(file) {
  return seconds(() => {
    const hash = createHash('sha256');
    const fd = fs.openSync(file, 'r');
    const buf = Buffer.allocUnsafe(1 << 20);
    let n;
    while ((n = fs.readSync(fd, buf, 0, buf.length, null)) > 0) hash.update(buf.subarray(0, n));
    fs.closeSync(fd);
    hash.digest();
  });
}

if (CASES.has(2)) {
  const big = path.join(WORK, 'c2', 'in', 'big.bin');
  makeBigFile(big, SIZES.bigBytes);
  const ours = [];
  const inside = [];
  const sha = [];
  const node = [];
  for (let r = 0; r < RUNS; r += 1) {
    sha.push(seconds(() => sh(`sha256sum '${big}' > /dev/null`)));
    node.push(nodeSha256Seconds(big));
    const out = path.join(WORK, 'c2', 'out');
    rm(out);
    const mf = path.join(out, 'mf');
    ours.push(seconds(() => ingestOnce(path.dirname(big), path.join(out, 'wh'), mf)));
    // The hashing alone, as the daemon timed it (state column hash_ms), without process start.
    const listed = sh(`'${process.execPath}' '${BIN}' list --manifests '${mf}' --json --limit 1`);
    inside.push(JSON.parse(listed).hashMs / 1000);
    // Put it back for the next run (a rename: the page cache stays warm for everyone).
    const placed = sh(`find '${out}/wh' -name big.bin`).trim();
    fs.renameSync(placed, big);
  }
  const o = median(ours);
  const h = median(inside);
  const n = median(node);
  results.case2 = {
    bytes: SIZES.bigBytes,
    ingestorSeconds: o,
    ingestorHashSeconds: h,
    sha256sumSeconds: median(sha),
    nodeSha256Seconds: n,
  };
  row(
    '2',
    `${SIZES.bigBytes >> 20} MiB file, same fs`,
    o.toFixed(2),
    's',
    `hashing inside the daemon ${h.toFixed(2)} s vs Node's single-stream SHA-256 ${n.toFixed(2)} s (ratio ${(h / n).toFixed(2)}x; end to end with process start ${(o / n).toFixed(2)}x); sha256sum ${median(sha).toFixed(2)} s`,
  );
}

// ---- Case 3: one big file to another filesystem (tmpfs) --------------------------------------
if (CASES.has(3)) {
  mountTmpfs(tmpfs, `${Math.ceil((SIZES.bigBytes * 3) / (1 << 20)) + 64}m`);
  const big = path.join(WORK, 'c3', 'in', 'big.bin');
  makeBigFile(big, SIZES.bigBytes);
  const keep = path.join(WORK, 'c3', 'keep.bin');
  fs.linkSync(big, keep);
  const ours = [];
  const inside = [];
  const node = [];
  const cp = [];
  const rclone = [];
  for (let r = 0; r < RUNS; r += 1) {
    node.push(nodeSha256Seconds(big));
    const relink = () => {
      if (!fs.existsSync(big)) fs.linkSync(keep, big);
    };
    rm(path.join(tmpfs, 'cp.bin'));
    cp.push(seconds(() => sh(`cp '${big}' '${tmpfs}/cp.bin' && sync -f '${tmpfs}/cp.bin'`)));
    rm(path.join(tmpfs, 'cp.bin'));
    rm(path.join(tmpfs, 'wh'));
    relink();
    const mf = path.join(WORK, 'c3', 'mf');
    ours.push(seconds(() => ingestOnce(path.dirname(big), path.join(tmpfs, 'wh'), mf)));
    // Hashing and copying (one pass, with the copy's fsync), as the daemon timed it.
    const listed = sh(`'${process.execPath}' '${BIN}' list --manifests '${mf}' --json --limit 1`);
    inside.push(JSON.parse(listed).hashMs / 1000);
    rm(path.join(tmpfs, 'wh'));
    rm(path.join(WORK, 'c3', 'mf'));
    relink();
    fs.mkdirSync(path.join(tmpfs, 'rc'), { recursive: true });
    const rcloneMove = `rclone move --config /dev/null --min-age 1s '${path.dirname(big)}' '${tmpfs}/rc' 2>/dev/null`;
    rclone.push(seconds(() => sh(rcloneMove)));
    rm(path.join(tmpfs, 'rc'));
    relink();
  }
  const o = median(ours);
  const c = median(cp);
  const h = median(inside);
  const n = median(node);
  results.case3 = {
    bytes: SIZES.bigBytes,
    ingestorSeconds: o,
    ingestorCopySeconds: h,
    nodeSha256Seconds: n,
    cpSeconds: c,
    rcloneSeconds: median(rclone),
    runs: { ingestor: ours, inside, cp },
  };
  row(
    '3',
    `${SIZES.bigBytes >> 20} MiB file to tmpfs`,
    o.toFixed(2),
    's',
    `cp ${c.toFixed(2)} s (ratio ${(o / c).toFixed(2)}x end to end, ${(h / c).toFixed(2)}x for the copy itself); hash+copy inside the daemon ${h.toFixed(2)} s vs Node's single-stream SHA-256 alone ${n.toFixed(2)} s; rclone move ${median(rclone).toFixed(2)} s`,
  );
  sh(`umount '${tmpfs}'`);
}

// ---- Cases 4-6: a million files ----------------------------------------------------------------
/** Runs the daemon, returning its pid, a promise of its exit, and its log lines as they come. */
function daemon(args) {
  const child = spawn(process.execPath, [BIN, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    // Started as a user would, with no NODE_OPTIONS: the daemon sets its own heap limits.
    env: withoutNodeOptions(),
  });
  const lines = [];
  let rest = '';
  child.stdout.on('data', (b) => {
    const parts = (rest + b).split('\n');
    rest = parts.pop();
    for (const l of parts) lines.push({ at: Date.now(), line: l });
  });
  const exited = new Promise((resolve) => child.on('close', resolve));
  return { child, lines, exited };
}
const peakRss = (pid) =>
  Number(/VmHWM:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) * 1024;
/** The daemon's peak RSS (VmHWM), read until it exits. */
async function peakUntilExit(run) {
  let peak = 0;
  const sampler = setInterval(() => {
    try {
      peak = Math.max(peak, peakRss(run.child.pid));
    } catch {
      // exited
    }
  }, 200);
  await run.exited;
  clearInterval(sampler);
  return peak;
}
const cpuSeconds = (pid) => {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100; // utime + stime, in clock ticks of 1/100 s
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function waitReady(port, child) {
  for (;;) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/healthz`)).status === 200) return;
    } catch {
      // not listening yet
    }
    if (child.exitCode !== null) throw new Error('daemon exited');
    await sleep(5);
  }
}

if (CASES.has(4) || CASES.has(5)) {
  const base = path.join(WORK, 'c4');
  const input = path.join(base, 'in');
  makeSmallFiles(input, SIZES.millionFiles);
  const args = [
    ...dirArgs(input, path.join(base, 'wh'), path.join(base, 'mf')),
    '--stability-seconds',
    '1',
    '--stats-interval',
    '3600',
  ];
  const started = Date.now();
  const run = daemon([...args, '--once']);
  const peak = await peakUntilExit(run);
  const total = (Date.now() - started) / 1000;
  const first = run.lines.find((l) => l.line.includes('"event":"ingested"'));
  const firstCommit = first === undefined ? NaN : (first.at - started) / 1000;
  results.case4 = {
    files: SIZES.millionFiles,
    peakRssBytes: peak,
    firstCommitSeconds: firstCommit,
    totalSeconds: total,
  };
  row(
    '4',
    `${SIZES.millionFiles} files at start, --once`,
    (peak / 1e6).toFixed(0),
    'MB peak RSS',
    `first commit after ${firstCommit.toFixed(2)} s; all in ${total.toFixed(1)} s (${(SIZES.millionFiles / total).toFixed(0)} files/s)`,
  );

  if (CASES.has(5)) {
    const port = 19464;
    const t0 = Date.now();
    const again = daemon([...args, '--metrics-port', String(port)]);
    await waitReady(port, again.child);
    const ready = (Date.now() - t0) / 1000;
    again.child.kill('SIGTERM');
    await again.exited;
    results.case5 = { committedRows: SIZES.millionFiles, readySeconds: ready };
    row(
      '5',
      `restart with ${SIZES.millionFiles} committed rows`,
      ready.toFixed(2),
      's to ready',
      '(/healthz 200: recovery done, discovery running)',
    );
  }
  rm(base);
}

// ---- Case 7: many tiny files in one run: peak RSS ---------------------------------------------
if (CASES.has(7)) {
  const base = path.join(WORK, 'c7');
  const input = path.join(base, 'in');
  const files = SIZES.tinyFiles;
  makeSmallFiles(input, files, 64);
  const started = Date.now();
  const run = daemon([
    ...dirArgs(input, path.join(base, 'wh'), path.join(base, 'mf')),
    '--stability-seconds',
    '1',
    '--log-level',
    'warn',
    '--once',
  ]);
  const peak = await peakUntilExit(run);
  const total = (Date.now() - started) / 1000;
  results.case7 = { files, peakRssBytes: peak, totalSeconds: total };
  row(
    '7',
    `${files} x 64 B, --once`,
    (peak / 1e6).toFixed(0),
    'MB peak RSS',
    `all in ${total.toFixed(1)} s (${(files / total).toFixed(0)} files/s)`,
  );
  rm(base);
}

// ---- Case 8: the state on PostgreSQL, one daemon and three, beside SQLite ----------------------
if (CASES.has(8)) {
  const pg = startPostgres();
  const base = path.join(WORK, 'c8');
  const source = path.join(base, 'source');
  makeSmallFiles(source, SIZES.smallFiles);
  const fresh = () => {
    const input = path.join(base, 'in');
    rm(input);
    rm(path.join(base, 'out'));
    sh(`cp -a '${source}' '${input}'`);
    dropCaches();
    return input;
  };
  const out = (what) => path.join(base, 'out', what);
  const sqlite = [];
  const one = [];
  const three = [];
  for (let r = 0; r < RUNS; r += 1) {
    let input = fresh();
    sqlite.push(SIZES.smallFiles / seconds(() => ingestOnce(input, out('wh'), out('mf'))));
    input = fresh();
    const url1 = pg.database(`one_${r}`);
    one.push(
      SIZES.smallFiles /
        seconds(() => ingestOnce(input, out('wh'), out('mf'), { extra: ['--state-url', url1] })),
    );
    // Three daemons on the one input, as three hosts would run them: from their start until
    // the input is empty and each has stopped (SIGTERM) with nothing in flight.
    input = fresh();
    const url3 = pg.database(`three_${r}`);
    const started = process.hrtime.bigint();
    const runs = ['a', 'b', 'c'].map((node) =>
      daemon([
        ...dirArgs(input, out('wh'), out('mf')),
        ...['--state-url', url3, '--node-id', node, '--stability-seconds', '1'],
        ...['--log-level', 'warn', '--scan-interval', '1'],
      ]),
    );
    while (fs.readdirSync(input).length > 0) await sleep(100);
    for (const run of runs) run.child.kill('SIGTERM');
    await Promise.all(runs.map((run) => run.exited));
    three.push(SIZES.smallFiles / (Number(process.hrtime.bigint() - started) / 1e9));
  }
  const s = median(sqlite);
  const o = median(one);
  const t = median(three);
  results.case8 = {
    files: SIZES.smallFiles,
    sqliteFilesPerSecond: s,
    postgresOneDaemonFilesPerSecond: o,
    postgresThreeDaemonsFilesPerSecond: t,
    sqliteRuns: sqlite,
    oneRuns: one,
    threeRuns: three,
  };
  row(
    '8',
    `${SIZES.smallFiles} x 4 KiB, --once, state on PostgreSQL (one daemon)`,
    o.toFixed(0),
    'files/s',
    `SQLite ${s.toFixed(0)} files/s in the same run: ratio ${(o / s).toFixed(2)}x (target at least 0.5x)`,
  );
  row(
    '8',
    `the same input shared by three daemons on one PostgreSQL state (start to all stopped)`,
    t.toFixed(0),
    'files/s',
    `${(t / o).toFixed(2)}x one daemon on PostgreSQL, ${(t / s).toFixed(2)}x SQLite (three daemons on this host's 2 cores)`,
  );
  rm(base);
}

if (CASES.has(6)) {
  const base = path.join(WORK, 'c6');
  const input = path.join(base, 'in');
  makeSmallFiles(input, SIZES.millionFiles);
  const port = 19465;
  const run = daemon([
    ...dirArgs(input, path.join(base, 'wh'), path.join(base, 'mf')),
    '--mode',
    'sidecar',
    '--metrics-port',
    String(port),
    '--stats-interval',
    '3600',
  ]);
  await waitReady(port, run.child);
  // The window starts when the first scan is done; the scans after it are part of being idle.
  const scans = async () => {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const value = (name) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
    return {
      count: value('ingestor_scan_duration_seconds_count'),
      seconds: value('ingestor_scan_duration_seconds_sum'),
    };
  };
  while ((await scans()).count < 1) await sleep(200);
  const scans0 = await scans();
  const cpu0 = cpuSeconds(run.child.pid);
  const t0 = Date.now();
  await sleep(SIZES.idleSeconds * 1000);
  const cpu = (cpuSeconds(run.child.pid) - cpu0) / ((Date.now() - t0) / 1000);
  const scans1 = await scans();
  const inWindow = scans1.count - scans0.count;
  const perScan = inWindow > 0 ? (scans1.seconds - scans0.seconds) / inWindow : 0;
  const peak = peakRss(run.child.pid);
  run.child.kill('SIGTERM');
  await run.exited;
  results.case6 = {
    files: SIZES.millionFiles,
    idleCpuFractionOfOneCore: cpu,
    peakRssBytes: peak,
    windowSeconds: SIZES.idleSeconds,
    scansInWindow: inWindow,
    secondsPerScan: perScan,
  };
  row(
    '6',
    `${SIZES.millionFiles} incomplete files, sidecar, idle`,
    (cpu * 100).toFixed(1),
    '% of one core',
    `peak RSS ${(peak / 1e6).toFixed(0)} MB over ${SIZES.idleSeconds} s, which held ${inWindow} full scan(s) of ${perScan.toFixed(1)} s each`,
  );
  rm(base);
}

fs.mkdirSync(path.join(ROOT, 'bench-out'), { recursive: true });
fs.writeFileSync(
  path.join(ROOT, 'bench-out', 'results.json'),
  `${JSON.stringify({ quick: QUICK, runs: RUNS, node: process.version, cpus: os.cpus().length, results }, null, 2)}\n`,
);
console.log(
  `\nIngestor benchmarks (${QUICK ? 'quick' : 'full'}, median of ${RUNS} run(s) for cases 1-3), ${os.cpus().length} cores, Node ${process.version}; the daemon is started by node with no NODE_OPTIONS (it sets its own heap limits)\n`,
);
console.log('| case | what | ingestor | unit | peers |');
console.log('| --- | --- | --- | --- | --- |');
for (const r of rows)
  console.log(`| ${r.caseName} | ${r.what} | ${r.value} | ${r.unit} | ${r.peer} |`);
rm(WORK);
