import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  baseArgs,
  finished,
  makeDirs,
  output,
  run,
  start,
  waitFor,
  waitForCommitted,
  writeOld,
} from '../helpers/ingestor.js';

interface Report {
  running: boolean;
  refresh: string;
  snapshotAgeMs: number | null;
  daemon: { pid: number; pending: number; updatedAt: number } | null;
  ingested: { files: number; bytes: number };
}

async function statusOf(state: string): Promise<Report> {
  const r = await run(['status', '--state-path', state, '--json']);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Report;
}

describe('status with the daemon running', () => {
  it('shows a file that appeared a moment ago in the pending count: it asks the daemon', async () => {
    const d = makeDirs();
    writeOld(path.join(d.input, 'a.csv'), 'alpha');
    // A long window: a new file stays pending for the whole test.
    const daemon = start([...baseArgs(d), '--stability-seconds', '60', '--scan-interval', '1']);
    await waitForCommitted(d.state, 1);
    await waitFor(() => output(daemon).stdout.includes('ingestor started'), 10_000, 'start');
    // Its snapshots come every 5 s; the first one is written when it starts.
    const first = await statusOf(d.state);
    expect(first).toMatchObject({ running: true, refresh: 'live', daemon: { pending: 0 } });

    // The watcher tells the daemon at once; its next periodic snapshot is seconds away.
    fs.writeFileSync(path.join(d.input, 'growing.csv'), 'not yet complete');
    const asked = Date.now();
    const live = await statusOf(d.state);
    expect(live).toMatchObject({
      running: true,
      refresh: 'live',
      daemon: { pid: daemon.pid, pending: 1 },
      ingested: { files: 1, bytes: 5 },
    });
    // Written after status was started, not the periodic snapshot from before.
    expect(live.daemon!.updatedAt).toBeGreaterThanOrEqual(asked);
    const text = await run(['status', '--state-path', d.state]);
    expect(text.stdout).toMatch(/^ingested +1 files, 5 B, last at /m);
    expect(text.stdout).toMatch(/^pending +1 \(oldest: .*growing\.csv, waiting \d+s\); queue 0/m);
    expect(text.stdout).not.toMatch(/as of/);

    // A daemon that cannot answer (stopped): the old snapshot, with its age, within ~1 s.
    process.kill(daemon.pid!, 'SIGSTOP');
    try {
      const began = Date.now();
      const stale = await run(['status', '--state-path', d.state]);
      expect(Date.now() - began).toBeLessThan(5000);
      expect(stale.stdout).toMatch(
        /^pending +1 \(as of \d+\.\d s ago, not refreshed: the daemon did not answer in time; oldest: .*growing\.csv/m,
      );
    } finally {
      process.kill(daemon.pid!, 'SIGCONT');
    }
    // The signal it missed while stopped is handled now, and harms nothing.
    expect((await statusOf(d.state)).refresh).toBe('live');
    daemon.kill('SIGTERM');
    expect((await finished(daemon)).code).toBe(0);
    expect(await statusOf(d.state)).toMatchObject({ running: false, refresh: 'not-running' });
  });

  it('says so when nothing has been ingested yet, and list says what matched nothing', async () => {
    const d = makeDirs();
    const r = await run([...baseArgs(d), '--once']);
    expect(r.code, r.stderr).toBe(0);
    const text = await run(['status', '--state-path', d.state]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^nothing ingested yet$/m);
    const none = await run(['list', '--state-path', d.state, '--json']);
    expect(none).toMatchObject({
      code: 0,
      stdout: '',
      stderr: 'ingestor: no files recorded yet\n',
    });
    const filtered = await run([
      'list',
      '--state-path',
      d.state,
      '--status',
      'duplicate',
      '--sha256',
      'abcdef',
    ]);
    expect(filtered).toMatchObject({
      code: 0,
      stdout: '',
      stderr: 'ingestor: no files match (status=duplicate, sha256=abcdef)\n',
    });
    const bad = await run(['list', '--state-path', d.state, '--sha256', 'abc']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^ingestor: --sha256 must be a SHA-256 .*, got "abc"\n$/);
  });
});
