import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  binForOtherUsers,
  finished,
  makeDirs,
  manifestLines,
  output,
  waitFor,
  writeOld,
} from '../helpers/ingestor.js';
import { metricValue, promtoolCheck, scrape, startWithMetrics } from '../helpers/metrics.js';

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
    // And every ingestor series is 0 but the scans (one ran at start) and build_info.
    const samples = text
      .split('\n')
      .filter((l) => l.startsWith('ingestor_'))
      .filter((l) => !l.startsWith('ingestor_scan_duration_seconds'));
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
    const live = metricValue(await scrape(first.url), 'ingestor_last_ingest_timestamp_seconds');
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
