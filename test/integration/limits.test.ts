import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  baseArgs,
  expectExactlyOnce,
  filesUnder,
  finished,
  makeDirs,
  manifestLines,
  mountTmpfs,
  output,
  partitionFiles,
  run,
  waitFor,
  writeOld,
} from '../helpers/ingestor.js';
import { healthz, startWithMetrics } from '../helpers/metrics.js';
import { start } from '../helpers/ingestor.js';

const MiB = 1024 * 1024;

describe('--max-file-size', () => {
  it('quarantines a larger file unread, with a reason that says so; smaller files go in', async () => {
    const d = makeDirs();
    const small = Buffer.alloc(MiB, 1);
    writeOld(path.join(d.input, 'small.bin'), small);
    writeOld(path.join(d.input, 'big.bin'), Buffer.alloc(3 * MiB, 2));
    const r = await run([...baseArgs(d), '--once', '--max-file-size', '2MiB']);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('1 quarantined');
    expectExactlyOnce(d, [small]);
    const aside = filesUnder(path.join(d.warehouse, '_quarantine'));
    expect(aside.map((f) => path.basename(f)).sort()).toEqual(['big.bin', 'big.bin.reason.json']);
    const note = JSON.parse(
      fs.readFileSync(
        path.join(
          d.warehouse,
          '_quarantine',
          aside.find((f) => f.endsWith('.json'))!,
        ),
        'utf8',
      ),
    ) as { reason: string; code: string };
    expect(note.reason).toBe(
      `${path.join(d.input, 'big.bin')} is 3.0 MiB (3145728 bytes), larger than --max-file-size 2.0 MiB`,
    );
    expect(note.code).toBe('INGEST_ERR_TOO_LARGE');
    // Never read: no hash recorded for it.
    const list = await run(['list', '--state-path', d.state, '--status', 'quarantined', '--json']);
    const row = JSON.parse(list.stdout.trim()) as { sha256: string | null };
    expect(row.sha256 ?? '').toBe('');
  });

  it('refuses sizes it cannot read, naming the flag, exit 2', async () => {
    const d = makeDirs();
    for (const [flag, value, message] of [
      ['--max-file-size', '10XB', '--max-file-size must be a positive size in bytes'],
      ['--max-file-size', '0', '--max-file-size must be a positive size in bytes'],
      ['--max-bytes-per-second', '-5MiB', '--max-bytes-per-second must be a positive size'],
      ['--min-free-space', '100%', '--min-free-space must be a percentage above 0 and below 100'],
      ['--min-free-space', 'lots', '--min-free-space must be a size in bytes'],
      ['--priority', 'orders/*.csv', '--priority must be GLOB=N'],
      ['--priority', 'a=1.5', '--priority must be GLOB=N'],
      ['--read-stall-timeout', '0', '--read-stall-timeout must be a positive number'],
      ['--read-stall-timeout', '0.5', '--read-stall-timeout must be at least 1 second'],
    ]) {
      const r = await run([...baseArgs(d), '--once', `${flag}=${value}`]);
      expect(r.code, `${flag} ${value}`).toBe(2);
      expect(r.stderr.trim().split('\n'), `${flag} ${value}`).toHaveLength(1);
      expect(r.stderr, `${flag} ${value}`).toContain(message);
    }
    const env = await run([...baseArgs(d), '--once'], {
      env: { INGESTOR_MIN_FREE_SPACE: '5 parsecs' },
    });
    expect(env.code).toBe(2);
    expect(env.stderr).toContain('INGESTOR_MIN_FREE_SPACE must be a size in bytes');
  });
});

describe('--min-free-space', () => {
  it('pauses before the warehouse volume is full, says which volume and how much is free, and resumes above the floor', async () => {
    const d = makeDirs();
    const mount = path.join(d.root, 'small');
    fs.mkdirSync(mount);
    mountTmpfs(mount, '64m');
    d.warehouse = path.join(mount, 'wh');
    // Twenty 4 MiB files across filesystems: 80 MiB for a 64 MiB volume kept 16 MiB free.
    const contents = Array.from({ length: 20 }, (_, i) => Buffer.alloc(4 * MiB, i + 1));
    contents.forEach((c, i) =>
      writeOld(path.join(d.input, `f${String(i).padStart(2, '0')}.bin`), c),
    );
    const { daemon, url } = await startWithMetrics(d, ['--min-free-space', '16MiB']);
    await waitFor(() => output(daemon).stdout.includes('"event":"paused"'), 20_000, 'the pause');
    // What was admitted before the pause is committed; then nothing moves.
    await new Promise((r) => setTimeout(r, 1500));
    const before = manifestLines(d.manifests).length;
    expect(before).toBeGreaterThan(0);
    expect(before).toBeLessThan(20);
    const { bavail, bsize } = fs.statfsSync(mount);
    expect(bavail * bsize).toBeGreaterThanOrEqual(16 * MiB);
    const pauseLine = output(daemon)
      .stdout.split('\n')
      .find((l) => l.includes('"event":"paused"'))!;
    const pause = JSON.parse(pauseLine) as { level: number | string; msg: string; code: string };
    expect(pause.code).toBe('INGEST_ERR_LOW_SPACE');
    expect(pause.msg).toMatch(
      new RegExp(
        `^ingestion paused: warehouse volume \\(${mount}/wh\\) has [\\d.]+ MiB free.*below --min-free-space 16\\.0 MiB; resuming at [\\d.]+ MiB free`,
      ),
    );
    const health = await healthz(url);
    expect(health.status).toBe(200);
    expect(JSON.stringify(health.body)).toMatch(/paused: warehouse volume .* has [\d.]+ MiB free/);
    await new Promise((r) => setTimeout(r, 3000));
    expect(manifestLines(d.manifests).length).toBe(before);

    // Room again: the files go in without a restart.
    spawnSync('mount', ['-o', 'remount,size=256m', mount]);
    await waitFor(() => manifestLines(d.manifests).length === 20, 30_000, 'the resume');
    daemon.kill('SIGTERM');
    const result = await finished(daemon);
    expect(result.code).toBe(0);
    const lines = result.stdout.split('\n').filter((l) => l !== '');
    // Never ran into the wall: no failed write, no error line.
    expect(result.stdout).not.toMatch(/ENOSPC|no space left/i);
    expect(lines.filter((l) => l.includes('"level":"error"') || l.includes('"level":50'))).toEqual(
      [],
    );
    // One warn line for the pause and one for the resume: no flapping in between.
    const transitions = lines
      .filter((l) => l.includes('"event":"resumed"') || /"event":"paused"/.test(l))
      .filter((l) => l.includes('"event":"resumed"') || /"level":("warn"|40)/.test(l));
    expect(transitions).toHaveLength(2);
    expect(partitionFiles(d.warehouse)).toHaveLength(20);
    expectExactlyOnce(d, contents);
  });

  it('a percentage of the volume, and a floor already crossed at start: nothing is read until there is room', async () => {
    // The warehouse on a tmpfs of its own: the machine's root volume may be below 10% free.
    const d = makeDirs({ tmpfsWarehouse: true });
    const mount = path.join(d.root, 'small');
    fs.mkdirSync(mount);
    mountTmpfs(mount, '32m');
    d.manifests = path.join(mount, 'mf');
    d.state = path.join(mount, 'state', 'ingestor.db');
    fs.mkdirSync(path.join(mount, 'filler'));
    // 30 MiB of 32 used: the manifests and state volume is below a 10% floor from the start.
    fs.writeFileSync(path.join(mount, 'filler', 'x'), Buffer.alloc(30 * MiB, 7));
    writeOld(path.join(d.input, 'a.csv'), 'a\n');
    const { daemon } = await startWithMetrics(d, ['--min-free-space', '10%']);
    await waitFor(() => output(daemon).stdout.includes('"event":"paused"'), 20_000, 'the pause');
    expect(output(daemon).stdout).toMatch(
      /ingestion paused: manifests and state volume \(.*\) has [\d.]+ (KiB|MiB) free: below --min-free-space 10% \(3\.2 MiB\)/,
    );
    expect(fs.existsSync(path.join(d.input, 'a.csv'))).toBe(true);
    fs.rmSync(path.join(mount, 'filler'), { recursive: true });
    await waitFor(() => manifestLines(d.manifests).length === 1, 20_000, 'the resume');
    daemon.kill('SIGTERM');
    expect((await finished(daemon)).code).toBe(0);
    expectExactlyOnce(d, ['a\n']);
  });

  it('--once below the floor: reads nothing, says why, exits 1', async () => {
    const d = makeDirs({ tmpfsWarehouse: true });
    writeOld(path.join(d.input, 'a.csv'), 'a\n');
    const r = await run([...baseArgs(d), '--once', '--min-free-space', '600MiB']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(
      /ingestion paused: warehouse volume \(.*\) has [\d.]+ MiB free: below --min-free-space 600\.0 MiB/,
    );
    expect(r.stderr).toContain('1 failed');
    expect(fs.readFileSync(path.join(d.input, 'a.csv'), 'utf8')).toBe('a\n');
    expect(manifestLines(d.manifests)).toHaveLength(0);
  });
});

/** The bytes a process has read (`rchar` in /proc/PID/io: every read and pread, all threads). */
function bytesRead(pid: number): number {
  const io = fs.readFileSync(`/proc/${pid}/io`, 'utf8');
  return Number(/^rchar: (\d+)$/m.exec(io)![1]);
}

/**
 * The rate at which a daemon read `total` bytes, measured from outside: /proc/PID/io sampled
 * every 20 ms, from the sample where it had read 1/16 of them to the one where it had read
 * 15/16 (the first reads go at once, up to the limit's burst, and the end waits for a commit).
 */
async function measuredRate(pid: number, total: number): Promise<number> {
  const base = bytesRead(pid);
  const samples: [number, number][] = [];
  const until = Date.now() + 60_000;
  for (;;) {
    const read = bytesRead(pid) - base;
    samples.push([performance.now(), read]);
    if (read >= total) break;
    if (Date.now() > until) throw new Error(`read only ${read} of ${total} bytes in 60 s`);
    await new Promise((r) => setTimeout(r, 20));
  }
  const at = (bytes: number) => samples.find(([, read]) => read >= bytes)!;
  const [t0, b0] = at(total / 16);
  const [t1, b1] = at((total * 15) / 16);
  return (b1 - b0) / ((t1 - t0) / 1000);
}

describe('--max-bytes-per-second', () => {
  it('holds a large copy across filesystems to the rate, within 10%', async () => {
    const d = makeDirs({ tmpfsWarehouse: true });
    const content = Buffer.alloc(64 * MiB, 3);
    // Written, then given an old mtime: complete at once, and the read starts at a known time.
    const daemon = start([
      ...baseArgs(d),
      '--stability-seconds',
      '0.3',
      '--max-bytes-per-second',
      '16MiB',
    ]);
    await waitFor(() => output(daemon).stdout.includes('ingestor started'), 10_000, 'start');
    writeOld(path.join(d.input, 'big.bin'), content);
    const rate = await measuredRate(daemon.pid!, content.length);
    await waitFor(() => manifestLines(d.manifests).length === 1, 20_000, 'the commit');
    daemon.kill('SIGTERM');
    expect((await finished(daemon)).code).toBe(0);
    expect(rate / (16 * MiB)).toBeGreaterThan(0.9);
    expect(rate / (16 * MiB)).toBeLessThan(1.1);
    expectExactlyOnce(d, [content]);
  });

  it('holds many small files to the rate too, all threads together', async () => {
    const d = makeDirs();
    const contents = Array.from({ length: 600 }, (_, i) => {
      const c = Buffer.alloc(48 * 1024, 5);
      c.writeUInt32BE(i);
      return c;
    });
    const total = contents.reduce((n, c) => n + c.length, 0);
    const daemon = start([
      ...baseArgs(d),
      '--stability-seconds',
      '0.3',
      '--max-bytes-per-second',
      '8MiB',
    ]);
    await waitFor(() => output(daemon).stdout.includes('ingestor started'), 10_000, 'start');
    const dir = path.join(d.root, 'staging');
    fs.mkdirSync(dir);
    contents.forEach((c, i) => writeOld(path.join(dir, `s${i}.bin`), c));
    // All at once, by one rename of their directory into the input.
    fs.renameSync(dir, path.join(d.input, 'batch'));
    const rate = await measuredRate(daemon.pid!, total);
    await waitFor(() => manifestLines(d.manifests).length === 600, 30_000, 'the commits');
    daemon.kill('SIGTERM');
    expect((await finished(daemon)).code).toBe(0);
    expect(rate / (8 * MiB)).toBeGreaterThan(0.9);
    expect(rate / (8 * MiB)).toBeLessThan(1.1);
    expect(manifestLines(d.manifests)).toHaveLength(600);
  });
});
