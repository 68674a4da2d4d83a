#!/usr/bin/env node
// How several daemons share one input (docs/DESIGN.md, "Several daemons on one input"): three
// daemons on one PostgreSQL state and one input of N files of 4 KiB, with the shares on and
// off (INGEST_TEST_SHARE=off: every daemon takes every file, the claims sort it out). Prints,
// for each, the seconds to an empty input, the bytes the daemons read (/proc/PID/io rchar),
// and the rows the state keeps by status.
//
//   node scripts/bench-share.mjs [--files N] [--runs N]
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { startPostgres } from './lib/postgres.mjs';

const { values: opts } = parseArgs({
  options: { files: { type: 'string', default: '20000' }, runs: { type: 'string', default: '2' } },
});
const FILES = Number(opts.files);
const BIN = path.resolve(import.meta.dirname, '../dist/bin/ingestor.js');
const server = startPostgres();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function once(mode, run) {
  const url = server.database(`share_${mode}_${run}`);
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'ingestor-share-'));
  const input = path.join(d, 'in');
  fs.mkdirSync(input);
  const buf = Buffer.alloc(4096, 0x61);
  for (let i = 0; i < FILES; i += 1) {
    buf.writeUInt32LE(i, 0);
    fs.writeFileSync(path.join(input, `f${i}.csv`), buf);
  }
  spawnSync('bash', ['-c', `find '${input}' -type f -exec touch -d '10 minutes ago' {} + && sync`]);
  const started = process.hrtime.bigint();
  const daemons = ['a', 'b', 'c'].map((node) =>
    spawn(
      process.execPath,
      [
        ...[BIN, 'run', '--input', input, '--warehouse', path.join(d, 'wh')],
        ...['--manifests', path.join(d, 'mf'), '--state-url', url, '--node-id', node],
        ...['--stability-seconds', '1', '--scan-interval', '1', '--log-level', 'warn'],
      ],
      { stdio: 'ignore', env: { ...process.env, INGEST_TEST_SHARE: mode } },
    ),
  );
  while (fs.readdirSync(input).length > 0) await sleep(100);
  const secs = Number(process.hrtime.bigint() - started) / 1e9;
  const rchar = daemons
    .map((p) => Number(/rchar: (\d+)/.exec(fs.readFileSync(`/proc/${p.pid}/io`, 'utf8'))[1]))
    .reduce((a, b) => a + b, 0);
  const exits = daemons.map((p) => new Promise((resolve) => p.once('close', resolve)));
  for (const p of daemons) p.kill('SIGTERM');
  await Promise.all(exits);
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const { rows } = await client.query(
    'SELECT status, count(*)::int AS n FROM files GROUP BY status ORDER BY status',
  );
  await client.end();
  fs.rmSync(d, { recursive: true, force: true });
  return {
    shares: mode,
    files: FILES,
    seconds: Number(secs.toFixed(1)),
    readMB: Math.round(rchar / 1e6),
    rows: Object.fromEntries(rows.map((r) => [r.status, r.n])),
  };
}

for (let run = 0; run < Number(opts.runs); run += 1) {
  for (const mode of ['on', 'off']) console.log(JSON.stringify(await once(mode, run)));
}
