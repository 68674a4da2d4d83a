import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  baseArgs,
  expectExactlyOnce,
  filesUnder,
  finished,
  makeDirs,
  manifestLines,
  output,
  partitionFiles,
  run,
  start,
  waitFor,
  writeOld,
} from '../helpers/ingestor.js';

const once = (d: ReturnType<typeof makeDirs>, ...extra: string[]) =>
  run([...baseArgs(d), '--once', '--stability-seconds', '1', ...extra]);

const loopMounts: string[] = [];
afterEach(() => {
  for (const mount of loopMounts.splice(0)) spawnSync('umount', ['-d', mount]);
});

describe('hostile inputs', () => {
  it('a directory named x.csv is a directory: its files are ingested, it is not', async () => {
    const d = makeDirs();
    writeOld(path.join(d.input, 'x.csv', 'inner.csv'), 'inner');
    const r = await once(d);
    expect(r.code).toBe(0);
    expect(partitionFiles(d.warehouse).map((f) => path.basename(f))).toEqual(['inner.csv']);
    expect(fs.statSync(path.join(d.input, 'x.csv')).isDirectory()).toBe(true);
  });

  it('inode reuse: a new file with the same inode, size and mtime as an ingested one is ingested', async () => {
    // A small ext4 of its own, so that nothing else takes the freed inode first.
    const d = makeDirs();
    const image = path.join(d.root, 'ext4.img');
    const mount = path.join(d.root, 'ext4');
    fs.mkdirSync(mount);
    expect(spawnSync('truncate', ['-s', '32M', image]).status).toBe(0);
    expect(spawnSync('mkfs.ext4', ['-q', '-F', image]).status).toBe(0);
    expect(spawnSync('mount', ['-o', 'loop', image, mount]).status).toBe(0);
    loopMounts.push(mount);
    d.input = path.join(mount, 'in');
    d.warehouse = path.join(mount, 'wh');
    fs.mkdirSync(d.input);
    const first = path.join(d.input, 'day1.csv');
    writeOld(first, 'AAAA');
    const { ino, mtime } = fs.statSync(first);
    expect((await once(d)).code).toBe(0);
    // The warehouse copy is archived away, freeing the inode; ext4 hands it out again.
    const [ingested] = partitionFiles(d.warehouse);
    fs.rmSync(path.join(d.warehouse, ingested!));
    let reused: string | undefined;
    for (let i = 0; i < 200 && reused === undefined; i += 1) {
      const candidate = path.join(d.input, `day2-${i}.csv`);
      fs.writeFileSync(candidate, 'BBBB');
      if (fs.statSync(candidate).ino === ino) reused = candidate;
      else fs.rmSync(candidate);
    }
    expect(reused, 'the filesystem did not reuse the inode').toBeDefined();
    fs.utimesSync(reused!, mtime, mtime);
    const r = await once(d);
    expect(r.stderr).toMatch(/1 ingested/);
    expect(manifestLines(d.manifests).map((l) => l.inode)).toEqual([ino, ino]);
  });

  it('a burst of 100,000 files, more than the inotify queue holds, is ingested exactly once', async () => {
    const d = makeDirs();
    const daemon = start([
      ...baseArgs(d),
      '--stability-seconds',
      '1',
      '--scan-interval',
      '5',
      '--log-level',
      'warn',
    ]);
    await new Promise((r) => setTimeout(r, 500));
    const contents: string[] = [];
    for (let i = 0; i < 100_000; i += 1) {
      const c = `burst file ${i}\n`;
      contents.push(c);
      fs.writeFileSync(path.join(d.input, `b${i}.csv`), c);
    }
    try {
      await waitFor(() => fs.readdirSync(d.input).length === 0, 240_000, 'burst ingested');
    } catch (error) {
      // Keep the evidence: what the daemon last said, and how many files were left.
      const { stdout, stderr } = output(daemon);
      throw new Error(
        `${String(error)}; ${fs.readdirSync(d.input).length} files left; daemon said:\n${stdout.slice(-3000)}\n${stderr.slice(-2000)}`,
      );
    }
    daemon.kill('SIGTERM');
    const result = await finished(daemon, 60_000);
    expect(result.code, result.stdout).toBe(0);
    expectExactlyOnce(d, contents);
  }, 300_000);

  it('with the inotify watch limit exhausted, it warns and ingests by scanning', async () => {
    const d = makeDirs();
    const limitFile = '/proc/sys/fs/inotify/max_user_watches';
    const saved = fs.readFileSync(limitFile, 'utf8').trim();
    fs.mkdirSync(path.join(d.input, 'sub'));
    fs.writeFileSync(limitFile, '1');
    let daemon;
    try {
      daemon = start([...baseArgs(d), '--stability-seconds', '0.3', '--scan-interval', '1']);
      // Watches are added after start-up: keep the limit low until the daemon has met it.
      await waitFor(
        () => output(daemon!).stdout.includes('relying on periodic scans'),
        10_000,
        'watch limit warning',
      );
    } finally {
      fs.writeFileSync(limitFile, saved);
    }
    writeOld(path.join(d.input, 'sub', 'a.csv'), 'scanned');
    writeOld(path.join(d.input, 'b.csv'), 'also');
    await waitFor(() => manifestLines(d.manifests).length === 2, 15_000, 'ingest by scan');
    daemon.kill('SIGTERM');
    const result = await finished(daemon);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/cannot watch directory; relying on periodic scans/);
    expectExactlyOnce(d, ['scanned', 'also']);
  });

  it('SIGTERM during a large cross-filesystem copy: no partial file at a final name, ingested once', async () => {
    const d = makeDirs({ tmpfsWarehouse: true });
    const big = Buffer.alloc(300 * 1024 * 1024, 9);
    writeOld(path.join(d.input, 'big.bin'), big);
    const tmpDir = path.join(d.warehouse, '.ingestor-tmp');
    const daemon = start([...baseArgs(d), '--stability-seconds', '1']);
    await waitFor(() => filesUnder(tmpDir).length > 0, 20_000, 'copy started');
    daemon.kill('SIGTERM');
    // Standard signals do not queue: send the second only once the first was handled.
    await waitFor(() => output(daemon).stdout.includes('stopping'), 10_000, 'first signal');
    daemon.kill('SIGTERM'); // a second signal: stop at once, mid-copy
    const result = await finished(daemon);
    if (result.code === 1) {
      // Stopped mid-copy: nothing at a final name, the source still in the input.
      expect(partitionFiles(d.warehouse)).toEqual([]);
      expect(fs.existsSync(path.join(d.input, 'big.bin'))).toBe(true);
    } else {
      // The copy won the race: it was finished and committed before the exit.
      expect(result.code).toBe(0);
      expect(partitionFiles(d.warehouse)).toHaveLength(1);
    }
    const again = await run([...baseArgs(d), '--once', '--stability-seconds', '1'], {
      timeoutMs: 60_000,
    });
    expect(again.code, again.stderr).toBe(0);
    expectExactlyOnce(d, [big]);
  }, 120_000);
});

describe('names', () => {
  it('a 255-byte name that must take a hash tag is shortened, and both files survive', async () => {
    const d = makeDirs();
    const long = `${'x'.repeat(251)}.csv`;
    writeOld(path.join(d.input, 'a', long), 'one');
    writeOld(path.join(d.input, 'b', long), 'two');
    expect((await once(d)).code).toBe(0);
    const names = partitionFiles(d.warehouse).map((f) => path.basename(f));
    expect(names).toHaveLength(2);
    for (const n of names) expect(Buffer.byteLength(n)).toBeLessThanOrEqual(255);
    expectExactlyOnce(d, ['one', 'two']);
  });
});
