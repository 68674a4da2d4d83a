import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import {
  baseArgs,
  expectExactlyOnce,
  filesUnder,
  makeDirs,
  manifestLines,
  partitionFiles,
  run,
  sha256,
  writeOld,
} from '../helpers/ingestor.js';

const once = (d: ReturnType<typeof makeDirs>, ...extra: string[]) =>
  run([...baseArgs(d), '--once', '--stability-seconds', '1', ...extra]);

function today(): string {
  return `ingest_date=${new Date().toISOString().slice(0, 10)}`;
}

describe('--once', () => {
  it('ingests every complete file, subdirectories included, and prints a summary', async () => {
    const d = makeDirs();
    writeOld(path.join(d.input, 'a.csv'), 'alpha\n');
    writeOld(path.join(d.input, 'x', 'y', 'b.csv'), 'beta\n');
    const result = await once(d);
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(/2 ingested, 0 duplicates, 0 failed/);
    expect(partitionFiles(d.warehouse)).toEqual([`${today()}/a.csv`, `${today()}/b.csv`]);
    expectExactlyOnce(d, ['alpha\n', 'beta\n']);
    const lines = manifestLines(d.manifests);
    const a = lines.find((l) => l.path.endsWith('a.csv'))!;
    expect(a.path).toBe(path.join(d.input, 'a.csv'));
    expect(a.size).toBe(6);
    expect(
      Number.isInteger(a.mtime) && Number.isInteger(a.inode) && Number.isInteger(a.device),
    ).toBe(true);
    const hour = new Date().toISOString().slice(0, 13).replace(/[-T]/g, '/');
    expect(filesUnder(d.manifests).filter((f) => f.endsWith('.jsonl'))).toEqual([
      `${hour}/manifest.jsonl`,
    ]);
    // One log line per ingested file, as JSON on stdout.
    const logs = result.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const ingested = logs.filter((l) => l.event === 'ingested');
    expect(ingested).toHaveLength(2);
    expect(ingested[0]).toMatchObject({ sha256: expect.any(String), bytes: expect.any(Number) });
    expect(ingested[0].dest).toContain(d.warehouse);
  });

  it('never ingests hidden, .tmp, .part, .swp or excluded files', async () => {
    const d = makeDirs();
    for (const name of ['.hidden', 'a.tmp', 'b.part', 'c.swp', 'd.bak', '.dir/e.csv']) {
      writeOld(path.join(d.input, name), name);
    }
    writeOld(path.join(d.input, 'keep.csv'), 'keep');
    const result = await once(d, '--exclude', '*.bak');
    expect(result.code).toBe(0);
    expect(partitionFiles(d.warehouse)).toEqual([`${today()}/keep.csv`]);
    expect(filesUnder(d.input)).toEqual([
      '.dir/e.csv',
      '.hidden',
      'a.tmp',
      'b.part',
      'c.swp',
      'd.bak',
    ]);
  });

  it('never follows a symlink and skips FIFOs, sockets and devices with a log line', async () => {
    const d = makeDirs();
    const outside = path.join(d.root, 'secret.csv');
    writeOld(outside, 'secret');
    fs.symlinkSync(outside, path.join(d.input, 'link.csv'));
    execFileSync('mkfifo', [path.join(d.input, 'pipe.csv')]);
    execFileSync('mknod', [path.join(d.input, 'null.csv'), 'c', '1', '3']);
    execFileSync('python3', [
      '-c',
      'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])',
      path.join(d.input, 'sock.csv'),
    ]);
    const result = await once(d);
    expect(result.code).toBe(0);
    expect(partitionFiles(d.warehouse)).toEqual([]);
    expect(fs.readFileSync(outside, 'utf8')).toBe('secret');
    const skips = result.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .filter((l) => l.event === 'skipped');
    expect(skips.map((s) => s.reason).sort()).toEqual(['device', 'fifo', 'socket', 'symlink']);
    expect(filesUnder(d.input)).toEqual(['link.csv', 'null.csv', 'pipe.csv', 'sock.csv']);
  });

  it('does not take a file that is still being written', async () => {
    const d = makeDirs();
    fs.writeFileSync(path.join(d.input, 'fresh.csv'), 'x');
    writeOld(path.join(d.input, 'old.csv'), 'old');
    // A writer keeps appending every 200 ms for longer than the run.
    const writer = setInterval(() => fs.appendFileSync(path.join(d.input, 'fresh.csv'), 'y'), 200);
    const result = await once(d).finally(() => clearInterval(writer));
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(/1 ingested.*1 not complete/);
    expect(partitionFiles(d.warehouse)).toEqual([`${today()}/old.csv`]);
  });

  it('takes a file written just now once the window has passed', async () => {
    const d = makeDirs();
    fs.writeFileSync(path.join(d.input, 'new.csv'), 'new');
    const result = await once(d);
    expect(result.stderr).toMatch(/1 ingested/);
    expectExactlyOnce(d, ['new']);
  });

  it('sends the same content under other names to the duplicates area, once and later', async () => {
    const d = makeDirs();
    writeOld(path.join(d.input, 'a.csv'), 'same');
    writeOld(path.join(d.input, 'b.csv'), 'same');
    const first = await once(d);
    expect(first.stderr).toMatch(/1 ingested, 1 duplicates/);
    writeOld(path.join(d.input, 'again', 'c.csv'), 'same');
    const second = await once(d);
    expect(second.stderr).toMatch(/0 ingested, 1 duplicates/);
    expectExactlyOnce(d, ['same']);
    const dups = filesUnder(path.join(d.warehouse, '_duplicates'));
    expect(dups).toHaveLength(2);
    const logs = second.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const dup = logs.find((l) => l.event === 'duplicate');
    expect(dup.original).toMatch(/[ab]\.csv$/);
    expect(dup.source).toBe(path.join(d.input, 'again', 'c.csv'));
  });

  it('can delete duplicates instead', async () => {
    const d = makeDirs();
    writeOld(path.join(d.input, 'a.csv'), 'same');
    await once(d);
    writeOld(path.join(d.input, 'b.csv'), 'same');
    const result = await once(d, '--on-duplicate', 'delete');
    expect(result.stderr).toMatch(/1 duplicates/);
    expect(filesUnder(d.input)).toEqual([]);
    expect(fs.existsSync(path.join(d.warehouse, '_duplicates'))).toBe(false);
  });

  it('keeps a different file with a name already used that day under a distinct name', async () => {
    const d = makeDirs();
    writeOld(path.join(d.input, 'a', 'data.csv'), 'one');
    writeOld(path.join(d.input, 'b', 'data.csv'), 'two');
    await once(d);
    writeOld(path.join(d.input, 'data.csv'), 'three');
    await once(d);
    const names = partitionFiles(d.warehouse).map((f) => path.basename(f));
    expect(names).toHaveLength(3);
    expect(names).toContain('data.csv');
    // Whichever came first keeps the name; the others carry their own content's hash.
    const tagged = names.filter((n) => n !== 'data.csv');
    expect(tagged).toHaveLength(2);
    for (const n of tagged) {
      const content = fs.readFileSync(
        partitionFiles(d.warehouse)
          .map((f) => path.join(d.warehouse, f))
          .find((f) => f.endsWith(n))!,
      );
      expect(n).toBe(`data~${sha256(content).slice(0, 12)}.csv`);
    }
    expectExactlyOnce(d, ['one', 'two', 'three']);
  });

  it('handles names of 255 bytes, quotes, backslashes, newlines and non-ASCII', async () => {
    const d = makeDirs();
    const names = [
      `${'n'.repeat(251)}.csv`,
      'quote "q".csv',
      'back\\slash.csv',
      'new\nline.csv',
      'ünïcødé 日本.csv',
    ];
    names.forEach((n, i) => writeOld(path.join(d.input, n), `content ${i}`));
    writeOld(path.join(d.input, 'sub', `${'n'.repeat(251)}.csv`), 'other content, same long name');
    const result = await once(d);
    expect(result.code).toBe(0);
    expectExactlyOnce(d, [...names.map((_, i) => `content ${i}`), 'other content, same long name']);
    const lines = manifestLines(d.manifests);
    for (const n of names) expect(lines.map((l) => path.basename(l.path))).toContain(n);
    for (const f of partitionFiles(d.warehouse)) {
      expect(Buffer.byteLength(path.basename(f))).toBeLessThanOrEqual(255);
    }
  });

  it('ingests a name that is not valid UTF-8 and records its exact bytes', async () => {
    const d = makeDirs();
    const raw = Buffer.concat([
      Buffer.from(`${d.input}/bad-`),
      Buffer.from([0xff, 0xfe]),
      Buffer.from('.csv'),
    ]);
    fs.writeFileSync(raw, 'invalid name');
    const old = new Date(Date.now() - 60_000);
    fs.utimesSync(raw, old, old);
    const result = await once(d);
    expect(result.code).toBe(0);
    const [line] = manifestLines(d.manifests);
    expect(Buffer.from(line!.path_base64!, 'base64')).toEqual(raw);
    expect(fs.readdirSync(d.input)).toEqual([]);
    expectExactlyOnce(d, ['invalid name']);
  });

  it('a file renamed from .tmp to its final name is ingested once, whole', async () => {
    const d = makeDirs();
    const tmp = path.join(d.input, 'x.csv.tmp');
    fs.writeFileSync(tmp, 'part one ');
    const first = await once(d);
    expect(first.stderr).toMatch(/0 ingested/);
    fs.appendFileSync(tmp, 'part two');
    fs.renameSync(tmp, path.join(d.input, 'x.csv'));
    await once(d);
    expectExactlyOnce(d, ['part one part two']);
  });

  it('ingests zero-byte files (the first; later empty files are duplicates)', async () => {
    const d = makeDirs();
    writeOld(path.join(d.input, 'empty1'), '');
    writeOld(path.join(d.input, 'empty2'), '');
    const result = await once(d);
    expect(result.stderr).toMatch(/1 ingested, 1 duplicates/);
    expectExactlyOnce(d, ['']);
  });
});

describe('sidecar mode', () => {
  it('ingests a file when <name>.ok exists, removes the .ok, and never ingests the .ok', async () => {
    const d = makeDirs();
    fs.writeFileSync(path.join(d.input, 'a.csv'), 'ready');
    fs.writeFileSync(path.join(d.input, 'a.csv.ok'), '');
    fs.writeFileSync(path.join(d.input, 'b.csv'), 'not yet');
    fs.writeFileSync(path.join(d.input, 'orphan.csv.ok'), '');
    fs.writeFileSync(path.join(d.input, '.hidden.ok'), '');
    fs.writeFileSync(path.join(d.input, '.hidden'), 'hidden');
    fs.writeFileSync(path.join(d.input, 'c.part.ok'), '');
    fs.writeFileSync(path.join(d.input, 'c.part'), 'partial');
    const result = await once(d, '--mode', 'sidecar');
    expect(result.code).toBe(0);
    expect(partitionFiles(d.warehouse)).toEqual([`${today()}/a.csv`]);
    expect(filesUnder(d.input)).toEqual([
      '.hidden',
      '.hidden.ok',
      'b.csv',
      'c.part',
      'c.part.ok',
      'orphan.csv.ok',
    ]);
    fs.writeFileSync(path.join(d.input, 'b.csv.ok'), '');
    await once(d, '--mode', 'sidecar');
    expect(partitionFiles(d.warehouse)).toEqual([`${today()}/a.csv`, `${today()}/b.csv`]);
    expect(fs.existsSync(path.join(d.input, 'b.csv.ok'))).toBe(false);
  });
});
