import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  baseArgs,
  finished,
  makeDirs,
  manifestLines,
  output,
  start,
  waitFor,
  writeOld,
} from '../helpers/ingestor.js';
import { metricValue, metricsUrl, scrape } from '../helpers/metrics.js';

const BATCH = 256;

/**
 * The manifest lines so far, read while the daemon appends: a read can meet a batch's append
 * half written (a torn tail, which the shared helper refuses), and then reads again.
 */
function linesWhileWriting(manifests: string): ReturnType<typeof manifestLines> {
  for (;;) {
    try {
      return manifestLines(manifests);
    } catch (error) {
      if (!String(error).includes('torn line')) throw error;
    }
  }
}

describe('--priority', () => {
  it('a high-priority file dropped into a backlog of 50,000 low-priority files is committed within the next batches', async () => {
    const d = makeDirs();
    const backlog = path.join(d.input, 'bulk');
    fs.mkdirSync(backlog);
    for (let i = 0; i < 50_000; i += 1) fs.writeFileSync(path.join(backlog, `b${i}.csv`), `${i}\n`);
    const daemon = start([
      ...baseArgs(d),
      '--stability-seconds',
      '0.5',
      '--batch-size',
      String(BATCH),
      '--priority',
      'urgent/*=10',
      '--priority',
      'bulk/*=-1',
      '--metrics-port',
      '0',
    ]);
    const url = await metricsUrl(daemon);
    // The backlog is being ingested, and more of it waits for a slot than the ready set holds.
    await waitFor(
      () => linesWhileWriting(d.manifests).length >= 2_000,
      60_000,
      'the backlog to flow',
    );
    const metrics = await scrape(url);
    expect(
      metricValue(metrics, 'ingestor_queued_files_by_priority', '{priority="-1"}'),
    ).toBeGreaterThan(0);
    expect(metricValue(metrics, 'ingestor_queued_files_by_priority', '{priority="10"}')).toBe(0);
    expect(metricValue(metrics, 'ingestor_queued_files_by_priority', '{priority="0"}')).toBe(0);

    // Written aside and renamed in: complete the moment it appears.
    const staging = path.join(d.root, 'staging');
    writeOld(path.join(staging, 'u.csv'), 'urgent\n');
    const before = linesWhileWriting(d.manifests).length;
    fs.renameSync(staging, path.join(d.input, 'urgent'));
    const urgentAt = () =>
      linesWhileWriting(d.manifests).findIndex((l) => l.path.endsWith('/urgent/u.csv'));
    await waitFor(() => urgentAt() >= 0, 60_000, 'the urgent file');
    const after = urgentAt() - before;
    const left = 50_000 - linesWhileWriting(d.manifests).length;
    daemon.kill('SIGTERM');
    expect((await finished(daemon, 60_000)).code).toBe(0);
    // The batches claimed or placing when it arrived, then its own: never behind the backlog.
    expect(after, `${after} backlog files went in before it`).toBeLessThanOrEqual(3 * BATCH);
    expect(left, 'the backlog was still there when it went in').toBeGreaterThan(10_000);
    expect(output(daemon).stdout).not.toContain('"level":"error"');
  }, 180_000);
});
