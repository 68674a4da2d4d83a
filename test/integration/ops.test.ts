import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Registry } from 'prom-client';
import pino from 'pino';
import { beforeAll, describe, expect, it } from 'vitest';
import { startHttpServer } from '../../src/ops/http-server.js';
import type { Health } from '../../src/ops/http-server.js';
import {
  BIN,
  baseArgs,
  expectExactlyOnce,
  filesUnder,
  finished,
  makeDirs,
  manifestLines,
  output,
  run,
  start,
  waitFor,
  writeOld,
} from '../helpers/ingestor.js';
import { metricValue, promtoolCheck, startWithMetrics } from '../helpers/metrics.js';

const ROOT = path.resolve(import.meta.dirname, '../..');

beforeAll(() => {
  const r = spawnSync(
    'bash',
    [path.join(ROOT, 'scripts/ensure-tools.sh'), 'promtool', 'systemd-analyze', 'script'],
    {
      encoding: 'utf8',
    },
  );
  if (r.status !== 0) throw new Error(`cannot install test tools: ${r.stderr}`);
}, 300_000);

describe('metrics and health', () => {
  it('serves counters with the right values, passing promtool check metrics', async () => {
    const d = makeDirs();
    const { daemon, url } = await startWithMetrics(d);
    const before = Date.now() / 1000;
    writeOld(path.join(d.input, 'a.csv'), 'a'.repeat(100_000));
    writeOld(path.join(d.input, 'b.csv'), 'bb');
    writeOld(path.join(d.input, 'a-again.csv'), 'a'.repeat(100_000));
    writeOld(path.join(d.input, 'x.tmp'), 'temp');
    await waitFor(() => filesUnder(d.input).length === 1, 10_000, 'ingest');
    const health = await fetch(`${url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    const res = await fetch(`${url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/plain/);
    const text = await res.text();
    expect(metricValue(text, 'ingestor_files_ingested_total')).toBe(2);
    expect(metricValue(text, 'ingestor_bytes_ingested_total')).toBe(100_002);
    expect(metricValue(text, 'ingestor_duplicates_total')).toBe(1);
    expect(metricValue(text, 'ingestor_skipped_total', '{reason="temporary"}')).toBe(1);
    expect(metricValue(text, 'ingestor_file_latency_seconds_count')).toBe(2);
    expect(metricValue(text, 'ingestor_hash_throughput_bytes_per_second_count')).toBe(1);
    expect(metricValue(text, 'ingestor_queued_files')).toBe(0);
    expect(metricValue(text, 'ingestor_inflight_files')).toBe(0);
    expect(metricValue(text, 'ingestor_pending_files')).toBeGreaterThanOrEqual(0);
    expect(metricValue(text, 'ingestor_quarantined_files')).toBe(0);
    expect(metricValue(text, 'ingestor_paused')).toBe(0);
    const last = metricValue(text, 'ingestor_last_ingest_timestamp_seconds');
    expect(last).toBeGreaterThanOrEqual(before);
    expect(last).toBeLessThanOrEqual(Date.now() / 1000);
    expect(metricValue(text, 'ingestor_scan_duration_seconds_count')).toBeGreaterThanOrEqual(1);
    expect(text).toMatch(/^process_resident_memory_bytes /m);
    expect(text).toMatch(/^# TYPE ingestor_errors_total counter/m);
    expect(text).toMatch(/^# TYPE ingestor_retries_total counter/m);
    const promtool = promtoolCheck(text);
    expect(promtool.status, promtool.said).toBe(0);
    expect((await fetch(`${url}/nope`)).status).toBe(404);
    daemon.kill('SIGTERM');
    expect((await finished(daemon)).code).toBe(0);
  });

  it('/healthz answers 503 with the reason until the daemon runs, as README shows', async () => {
    let health: Health = { ok: false, reason: 'starting' };
    const server = await startHttpServer({
      host: '127.0.0.1',
      port: 0,
      registry: new Registry(),
      health: () => health,
      logger: pino({ level: 'silent' }),
    });
    const get = async () => {
      const res = await fetch(`http://127.0.0.1:${server.port}/healthz`);
      return { status: res.status, type: res.headers.get('content-type'), body: await res.json() };
    };
    try {
      // Exactly README's bodies: `status`, and `reason` when there is one.
      for (const reason of ['starting', 'recovering', 'stopping']) {
        health = { ok: false, reason };
        expect(await get()).toEqual({
          status: 503,
          type: 'application/json',
          body: { status: 'unavailable', reason },
        });
      }
      health = { ok: true };
      expect(await get()).toEqual({
        status: 200,
        type: 'application/json',
        body: { status: 'ok' },
      });
      health = { ok: true, reason: 'paused: ENOSPC: no space left on device, write' };
      expect((await get()).body).toEqual({
        status: 'ok',
        reason: 'paused: ENOSPC: no space left on device, write',
      });
    } finally {
      await server.close();
    }
  });

  it('a metrics port already in use is a clear error', async () => {
    const d = makeDirs();
    const { daemon, url } = await startWithMetrics(d);
    const port = new URL(url).port;
    const d2 = makeDirs();
    const r = await run([...baseArgs(d2), '--metrics-port', port]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}.*EADDRINUSE`));
    daemon.kill('SIGTERM');
    await finished(daemon);
  });

  it('logs a stats line every --stats-interval seconds', async () => {
    const d = makeDirs();
    const daemon = start([...baseArgs(d), '--stability-seconds', '0.3', '--stats-interval', '0.3']);
    writeOld(path.join(d.input, 'a.csv'), 'a');
    await waitFor(
      () => (output(daemon).stdout.match(/"event":"stats"/g) ?? []).length >= 2,
      10_000,
      'stats',
    );
    daemon.kill('SIGTERM');
    await finished(daemon);
    const stats = output(daemon)
      .stdout.split('\n')
      .filter((l) => l.includes('"event":"stats"'))
      .map((l) => JSON.parse(l));
    expect(Object.keys(stats[0]!)).toEqual(
      expect.arrayContaining([
        'filesPerSecond',
        'bytesPerSecond',
        'queueDepth',
        'inflight',
        'pending',
      ]),
    );
  });
});

describe('status and list', () => {
  it('read the state while the daemon runs, without disturbing it', async () => {
    const d = makeDirs();
    writeOld(path.join(d.input, 'a.csv'), 'alpha');
    writeOld(path.join(d.input, 'b.csv'), 'beta');
    writeOld(path.join(d.input, 'b2.csv'), 'beta');
    const daemon = start([...baseArgs(d), '--stability-seconds', '30', '--scan-interval', '1']);
    await waitFor(() => manifestLines(d.manifests).length === 2, 10_000, 'ingest');
    fs.writeFileSync(path.join(d.input, 'growing.csv'), 'not yet complete');
    await new Promise((r) => setTimeout(r, 6000)); // one runtime snapshot (every 5 s)
    const s = await run(['status', '--state-path', d.state, '--json']);
    expect(s.code, s.stderr).toBe(0);
    const report = JSON.parse(s.stdout);
    expect(report).toMatchObject({
      running: true,
      ingested: { files: 2, bytes: 9 },
      duplicates: 1,
      quarantined: 0,
      inFlight: 0,
    });
    expect(report.daemon.pending).toBe(1);
    expect(report.daemon.oldestPending.path).toBe(path.join(d.input, 'growing.csv'));
    const text = await run(['status', '--state-path', d.state]);
    expect(text.stdout).toMatch(/^ingestor: running \(pid \d+, up \d+s\)$/m);
    expect(text.stdout).toMatch(/^pending +1 \(oldest: .*growing\.csv, waiting \d+s\)/m);

    const all = await run(['list', '--state-path', d.state, '--json']);
    const rows = all.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(rows.map((r) => r.status).sort()).toEqual(['duplicate', 'ingested', 'ingested']);
    expect(rows[0].id).toBeGreaterThan(rows[1].id); // newest first
    expect(rows[0]).toMatchObject({
      sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
      bytes: expect.any(Number),
    });
    const one = await run([
      'list',
      '--state-path',
      d.state,
      '--status',
      'ingested',
      '--limit',
      '1',
    ]);
    expect(one.stdout.trim().split('\n')).toHaveLength(1);
    expect(one.stdout).toMatch(/^#\d+ +ingested +\d{4}-.*-> .*sha256 [0-9a-f]{12}/);
    const none = await run(['list', '--state-path', d.state, '--since', '2099-01-01']);
    expect(none.stdout).toBe('');
    const recent = await run([
      'list',
      '--state-path',
      d.state,
      '--since',
      '1h',
      '--status',
      'duplicate',
    ]);
    expect(recent.stdout.trim().split('\n')).toHaveLength(1);
    const bad = await run(['list', '--state-path', d.state, '--since', 'yesterday-ish']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--since must be an ISO date\/time or an age like 15m/);
    const badStatus = await run(['list', '--state-path', d.state, '--status', 'lost']);
    expect(badStatus.code).toBe(2);

    daemon.kill('SIGTERM');
    expect((await finished(daemon)).code).toBe(0);
    const after = JSON.parse((await run(['status', '--state-path', d.state, '--json'])).stdout);
    expect(after.running).toBe(false);
    expect(manifestLines(d.manifests)).toHaveLength(2);
  });
});

describe('running it', () => {
  it('the systemd unit passes systemd-analyze verify and is hardened', () => {
    const unit = fs.readFileSync(path.join(ROOT, 'deploy/ingestor.service'), 'utf8');
    for (const directive of [
      'NoNewPrivileges=yes',
      'ProtectSystem=strict',
      'ReadWritePaths=',
      'Restart=on-failure',
    ]) {
      expect(unit).toContain(directive);
    }
    const dir = fs.mkdtempSync('/tmp/unit-');
    const file = path.join(dir, 'ingestor.service');
    fs.writeFileSync(file, unit.replace('/usr/local/bin/ingestor', BIN));
    fs.chmodSync(BIN, 0o755);
    const r = spawnSync('systemd-analyze', ['verify', file], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/ingestor\.service:/);
  });

  it('SIGTERM with --shutdown-timeout: leaves a long copy to recovery, exits 0, nothing lost', async () => {
    const d = makeDirs({ tmpfsWarehouse: true });
    const big = Buffer.alloc(400 * 1024 * 1024, 5);
    writeOld(path.join(d.input, 'big.bin'), big);
    const daemon = start([
      ...baseArgs(d),
      '--stability-seconds',
      '1',
      '--shutdown-timeout',
      '0.05',
    ]);
    await waitFor(
      () => filesUnder(path.join(d.warehouse, '.ingestor-tmp')).length > 0,
      20_000,
      'copy',
    );
    daemon.kill('SIGTERM');
    const result = await finished(daemon);
    expect(result.code).toBe(0);
    if (result.stdout.includes('shutdown timeout')) {
      expect(manifestLines(d.manifests)).toEqual([]);
    }
    const again = await run([...baseArgs(d), '--once', '--stability-seconds', '1'], {
      timeoutMs: 60_000,
    });
    expect(again.code).toBe(0);
    expectExactlyOnce(d, [big]);
  }, 120_000);

  it('configuration: flags over INGESTOR_* variables over --config, over defaults', async () => {
    const d = makeDirs();
    writeOld(path.join(d.input, 'a.csv'), 'a');
    const config = path.join(d.root, 'ingestor.json');
    fs.writeFileSync(
      config,
      JSON.stringify({
        input: d.input,
        warehouse: d.warehouse,
        manifests: d.manifests,
        'state-path': d.state,
        concurrency: '0',
      }),
    );
    // The file alone: its bad concurrency is reported, naming the flag.
    const fromFile = await run(['--config', config, '--once']);
    expect(fromFile.code).toBe(2);
    expect(fromFile.stderr).toMatch(/--concurrency must be a positive integer, got "0"/);
    // The environment overrides the file.
    const fromEnv = await run(['--config', config, '--once', '--stability-seconds', '1'], {
      env: { INGESTOR_CONCURRENCY: '2' },
    });
    expect(fromEnv.code, fromEnv.stderr).toBe(0);
    expect(fromEnv.stderr).toMatch(/1 ingested/);
    // A flag overrides both.
    const fromFlag = await run(['--config', config, '--once', '--concurrency', 'x'], {
      env: { INGESTOR_CONCURRENCY: '2' },
    });
    expect(fromFlag.code).toBe(2);
    expect(fromFlag.stderr).toMatch(/--concurrency must be a positive integer, got "x"/);
    // Variables alone.
    writeOld(path.join(d.input, 'b.csv'), 'b');
    const envOnly = await run(['--once'], {
      env: {
        INGESTOR_INPUT: d.input,
        INGESTOR_WAREHOUSE: d.warehouse,
        INGESTOR_MANIFESTS: d.manifests,
        INGESTOR_STATE_PATH: d.state,
      },
    });
    expect(envOnly.code, envOnly.stderr).toBe(0);
    expectExactlyOnce(d, ['a', 'b']);
    // Unknown keys are errors, not silently ignored.
    fs.writeFileSync(config, JSON.stringify({ input: d.input, stabilty: 3 }));
    const typo = await run(['--config', config]);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toMatch(/unknown key "stabilty" in --config ".*ingestor\.json"/);
    const missing = await run(['--config', path.join(d.root, 'none.json')]);
    expect(missing.code).toBe(2);
  });

  it('on a terminal: a progress line on stderr and readable logs; none when piped', async () => {
    const d = makeDirs();
    for (let i = 0; i < 50; i += 1) writeOld(path.join(d.input, `f${i}.csv`), `file ${i}`);
    const cmd = [process.execPath, BIN, ...baseArgs(d), '--once', '--stability-seconds', '1']
      .map((a) => `'${a}'`)
      .join(' ');
    const tty = spawnSync('script', ['-qec', cmd, '/dev/null'], { encoding: 'utf8' });
    expect(tty.status, tty.stdout).toBe(0);
    expect(tty.stdout).toMatch(/ingesting: 50 files, \d+ B, \d+ files\/s/);
    expect(tty.stdout).toMatch(/\d\d:\d\d:\d\d .*INFO.* ingested/);
    expect(tty.stdout).not.toMatch(/^\{"level"/m);
    writeOld(path.join(d.input, 'g.csv'), 'g');
    const piped = await run([...baseArgs(d), '--once', '--stability-seconds', '1']);
    expect(piped.stderr).not.toMatch(/ingesting:/);
    expect(piped.stdout.split('\n')[0]).toMatch(/^\{"level"/);
  });
});
