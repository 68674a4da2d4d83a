import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  baseArgs,
  binForOtherUsers,
  expectExactlyOnce,
  fifoAt,
  finished,
  makeDirs,
  manifestLines,
  mountTmpfs,
  output,
  partitionFiles,
  run,
  start,
  stuckRecovery,
  waitFor,
  writeOld,
} from '../helpers/ingestor.js';
import {
  healthz,
  metricValue,
  metricsUrl,
  promtoolCheck,
  scrape,
  startWithMetrics,
} from '../helpers/metrics.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const NOBODY = 65534;

beforeAll(() => {
  const r = spawnSync('bash', [path.join(ROOT, 'scripts/ensure-tools.sh'), 'promtool'], {
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`cannot install promtool: ${r.stderr}`);
}, 300_000);

/** Every SkipReason (src/interfaces.ts) and FailureClass (src/ingest/failures.ts). */
const SKIP_REASONS = [
  'hidden',
  'temporary',
  'excluded',
  'sidecar-marker',
  'symlink',
  'fifo',
  'socket',
  'device',
  'not-regular',
];
const ERROR_KINDS = ['retry', 'quarantine', 'pause', 'changed'];

/** The manifest files a claim made now (or within the hour) would append to. */
function manifestsAround(manifests: string, now = Date.now()): string[] {
  return [now, now + 3_600_000].map((t) => {
    const iso = new Date(t).toISOString();
    const [y, m, dd, hh] = [iso.slice(0, 4), iso.slice(5, 7), iso.slice(8, 10), iso.slice(11, 13)];
    return path.join(manifests, y, m, dd, hh, 'manifest.jsonl');
  });
}

/**
 * Puts a FIFO where a manifest goes: opening it blocks (in libuv's thread pool, so the daemon
 * still answers HTTP) until someone opens the other end, which nobody does.
 */
async function waitForHealth(url: string, reason: string | undefined, timeoutMs = 10_000) {
  let last: Awaited<ReturnType<typeof healthz>> | undefined;
  const until = Date.now() + timeoutMs;
  for (;;) {
    last = await healthz(url);
    if ((last.body as { reason?: string }).reason === reason) return last;
    if (Date.now() > until) {
      throw new Error(`/healthz never said reason ${reason}: last ${JSON.stringify(last)}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('metrics from the start', () => {
  it('a fresh daemon with no traffic exports every series, labelled ones at 0', async () => {
    const d = makeDirs();
    const { daemon, url } = await startWithMetrics(d);
    const text = await scrape(url);
    for (const reason of SKIP_REASONS) {
      expect(metricValue(text, 'ingestor_skipped_total', `{reason="${reason}"}`), reason).toBe(0);
    }
    for (const kind of ERROR_KINDS) {
      expect(metricValue(text, 'ingestor_errors_total', `{kind="${kind}"}`), kind).toBe(0);
    }
    // Every counter family has its series (a labelled counter with none shows only HELP/TYPE).
    const counters = [...text.matchAll(/^# TYPE (ingestor_\w+) counter$/gm)].map((m) => m[1]!);
    expect(counters.length).toBeGreaterThanOrEqual(8);
    for (const name of counters)
      expect(text, name).toMatch(new RegExp(`^${name}(\\{.*\\})? 0$`, 'm'));
    // And every ingestor series is 0 but the scans (one ran at start), build_info and the
    // volumes' sizes (alerts.test.ts checks those against statfs).
    const samples = text
      .split('\n')
      .filter((l) => l.startsWith('ingestor_'))
      .filter((l) => !l.startsWith('ingestor_scan_duration_seconds'))
      .filter((l) => !l.startsWith('ingestor_volume_'));
    for (const line of samples) {
      if (line.startsWith('ingestor_build_info')) continue;
      expect(line).toMatch(/ 0$/);
    }
    for (const name of [
      'ingestor_queued_files',
      'ingestor_inflight_files',
      'ingestor_pending_files',
      'ingestor_quarantined_files',
      'ingestor_paused',
      'ingestor_operator_paused',
      'ingestor_held_files',
      'ingestor_backoff_files',
      'ingestor_last_ingest_timestamp_seconds',
    ]) {
      expect(metricValue(text, name), name).toBe(0);
    }
    const { version } = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
      version: string;
    };
    expect(
      metricValue(
        text,
        'ingestor_build_info',
        `{version="${version}",node="${process.versions.node}"}`,
      ),
    ).toBe(1);
    const promtool = promtoolCheck(text);
    expect(promtool.status, promtool.said).toBe(0);
    expect(promtool.said).toBe('');
    daemon.kill('SIGTERM');
    expect((await finished(daemon)).code).toBe(0);
  });

  it('the last ingest time survives a restart (read from the state)', async () => {
    const d = makeDirs();
    const first = await startWithMetrics(d);
    writeOld(path.join(d.input, 'a.csv'), 'alpha');
    await waitFor(() => manifestLines(d.manifests).length === 1, 10_000, 'ingest');
    // The manifest line is written before the commit, and the gauge is set at the commit:
    // scrape until the commit has happened.
    let live = 0;
    for (const until = Date.now() + 10_000; live === 0 && Date.now() < until;) {
      live = metricValue(await scrape(first.url), 'ingestor_last_ingest_timestamp_seconds');
      if (live === 0) await new Promise((r) => setTimeout(r, 25));
    }
    first.daemon.kill('SIGTERM');
    expect((await finished(first.daemon)).code).toBe(0);
    const db = new Database(d.state, { readonly: true });
    const { at } = db
      .prepare(`SELECT max(committed_at) AS at FROM files WHERE kind = 'ingest'`)
      .get() as { at: number };
    db.close();

    const second = await startWithMetrics(d);
    const text = await scrape(second.url);
    expect(metricValue(text, 'ingestor_last_ingest_timestamp_seconds')).toBe(at / 1000);
    // The live value (the clock at commit) and the committed row's agree.
    expect(Math.abs(live - at / 1000)).toBeLessThan(1);
    expect(metricValue(text, 'ingestor_files_ingested_total')).toBe(0); // counters restart
    second.daemon.kill('SIGTERM');
    expect((await finished(second.daemon)).code).toBe(0);
  });

  it('a quarantined file counts as an error of kind quarantine', async () => {
    const d = makeDirs();
    const bin = binForOtherUsers();
    fs.chmodSync(d.root, 0o755);
    for (const dir of [d.input, d.warehouse, d.manifests, path.dirname(d.state)]) {
      fs.mkdirSync(dir, { recursive: true });
      fs.chownSync(dir, NOBODY, NOBODY);
    }
    const { daemon, url } = await startWithMetrics(d, [], { uid: NOBODY, bin });
    writeOld(path.join(d.input, 'secret.csv'), 'secret');
    fs.chmodSync(path.join(d.input, 'secret.csv'), 0o000); // root's, unreadable by nobody
    await waitFor(
      () => output(daemon).stdout.includes('"event":"quarantined"'),
      10_000,
      'quarantine',
    );
    const text = await scrape(url);
    expect(metricValue(text, 'ingestor_errors_total', '{kind="quarantine"}')).toBe(1);
    expect(metricValue(text, 'ingestor_errors_total', '{kind="retry"}')).toBe(0);
    expect(metricValue(text, 'ingestor_quarantine_moves_total')).toBe(1);
    expect(metricValue(text, 'ingestor_quarantined_files')).toBe(1);
    daemon.kill('SIGTERM');
    expect((await finished(daemon)).code).toBe(0);
  });
});

describe('/healthz in each state, as README shows it', () => {
  it('recovering: 503 until recovery is done', async () => {
    const d = makeDirs();
    const manifest = await stuckRecovery(d);
    const daemon = start([...baseArgs(d), '--metrics-port', '0']);
    const url = await metricsUrl(daemon);
    const health = await waitForHealth(url, 'recovering');
    expect(health).toEqual({ status: 503, body: { status: 'unavailable', reason: 'recovering' } });
    const text = await scrape(url);
    expect(metricValue(text, 'ingestor_last_ingest_timestamp_seconds')).toBe(0); // not known yet
    expect(metricValue(text, 'ingestor_errors_total', '{kind="pause"}')).toBe(0);
    expect(output(daemon).stdout).not.toContain('ingestor started');
    daemon.kill('SIGKILL');
    await finished(daemon);
    fs.rmSync(manifest);
    const again = await run([...baseArgs(d), '--once', '--stability-seconds', '1']);
    expect(again.code, again.stderr).toBe(0);
    expectExactlyOnce(d, ['alpha']);
  });

  it('running: 200 {"status":"ok"}; paused: 200 with the reason; then ok again', async () => {
    const d = makeDirs();
    fs.mkdirSync(d.manifests);
    mountTmpfs(d.manifests, '64k');
    const { daemon, url } = await startWithMetrics(d);
    expect(await healthz(url)).toEqual({ status: 200, body: { status: 'ok' } });
    spawnSync('sh', ['-c', `dd if=/dev/zero of=${d.manifests}/filler bs=4k 2>/dev/null; true`]);
    writeOld(path.join(d.input, 'a.csv'), 'alpha');
    await waitFor(() => output(daemon).stdout.includes('ingestion paused'), 15_000, 'pause');
    const paused = await healthz(url);
    expect(paused.status).toBe(200);
    expect(paused.body).toEqual({
      status: 'ok',
      reason: expect.stringMatching(/^paused: .*ENOSPC/),
    });
    const text = await scrape(url);
    expect(metricValue(text, 'ingestor_paused')).toBe(1);
    expect(metricValue(text, 'ingestor_pauses_total')).toBeGreaterThanOrEqual(1);
    expect(metricValue(text, 'ingestor_last_ingest_timestamp_seconds')).toBe(0);
    fs.rmSync(path.join(d.manifests, 'filler'));
    await waitFor(() => manifestLines(d.manifests).length === 1, 40_000, 'resume');
    expect(await waitForHealth(url, undefined)).toEqual({ status: 200, body: { status: 'ok' } });
    expect(metricValue(await scrape(url), 'ingestor_paused')).toBe(0);
    daemon.kill('SIGTERM');
    expect((await finished(daemon)).code).toBe(0);
    expectExactlyOnce(d, ['alpha']);
  });

  it('stopping: 503 while in-flight files finish after SIGTERM', async () => {
    const d = makeDirs();
    // The manifest append blocks: the file stays in flight after the signal.
    const fifos = manifestsAround(d.manifests);
    for (const fifo of fifos) fifoAt(fifo);
    const { daemon, url } = await startWithMetrics(d, ['--shutdown-timeout', '60']);
    writeOld(path.join(d.input, 'a.csv'), 'alpha');
    await waitFor(() => partitionFiles(d.warehouse).length === 1, 10_000, 'the move');
    expect((await healthz(url)).status).toBe(200);
    daemon.kill('SIGTERM');
    const health = await waitForHealth(url, 'stopping');
    expect(health).toEqual({ status: 503, body: { status: 'unavailable', reason: 'stopping' } });
    expect(daemon.exitCode).toBe(null);
    daemon.kill('SIGKILL');
    await finished(daemon);
    for (const fifo of fifos) fs.rmSync(fifo);
    const again = await run([...baseArgs(d), '--once', '--stability-seconds', '1']);
    expect(again.code, again.stderr).toBe(0);
    expectExactlyOnce(d, ['alpha']);
  });
});
