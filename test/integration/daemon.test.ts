import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  baseArgs,
  expectExactlyOnce,
  finished,
  makeDirs,
  manifestLines,
  output,
  run,
  start,
  waitFor,
} from '../helpers/ingestor.js';

const daemonArgs = (d: ReturnType<typeof makeDirs>) => [
  ...baseArgs(d),
  '--stability-seconds',
  '0.5',
  '--scan-interval',
  '1',
];

describe('daemon', () => {
  it('ingests files as they arrive, and stops cleanly on SIGTERM with exit 0', async () => {
    const d = makeDirs();
    const daemon = start(daemonArgs(d));
    await waitFor(() => output(daemon).stdout.includes('ingestor started'), 10_000, 'start');
    fs.writeFileSync(path.join(d.input, 'a.csv'), 'first');
    await waitFor(() => manifestLines(d.manifests).length === 1, 10_000, 'first ingest');
    // A slow writer: chunks with pauses shorter than the window, then done.
    const slow = path.join(d.input, 'slow.csv');
    for (let i = 0; i < 6; i += 1) {
      fs.appendFileSync(slow, `chunk ${i}\n`);
      await new Promise((r) => setTimeout(r, 150));
      expect(manifestLines(d.manifests).map((l) => l.path)).not.toContain(slow);
    }
    fs.mkdirSync(path.join(d.input, 'new-subdir'));
    fs.writeFileSync(path.join(d.input, 'new-subdir', 'b.csv'), 'second');
    await waitFor(() => manifestLines(d.manifests).length === 3, 10_000, 'all ingested');
    daemon.kill('SIGTERM');
    const result = await finished(daemon);
    expect(result.code).toBe(0);
    expectExactlyOnce(d, [
      'first',
      Array.from({ length: 6 }, (_, i) => `chunk ${i}\n`).join(''),
      'second',
    ]);
    expect(result.stdout).toContain('"msg":"stopped"');
    // Hints and scans both saw these files: each must have been taken once, with no error.
    expect(result.stdout).not.toContain('"level":"error"');
    expect(result.stdout.match(/"event":"ingested"/g)).toHaveLength(3);
  });

  it('a second daemon on the same state exits non-zero with a clear message; the first goes on', async () => {
    const d = makeDirs();
    const first = start(daemonArgs(d));
    await waitFor(() => output(first).stdout.includes('ingestor started'), 10_000, 'start');
    const second = await run(daemonArgs(d));
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(/another ingestor \(pid \d+\) is running on state/);
    expect(second.stderr.trim().split('\n')).toHaveLength(1);
    fs.writeFileSync(path.join(d.input, 'a.csv'), 'still working');
    await waitFor(() => manifestLines(d.manifests).length === 1, 10_000, 'ingest by the first');
    first.kill('SIGINT');
    expect((await finished(first)).code).toBe(0);
    // Once the first has stopped, the lock is free again.
    const third = await run([...daemonArgs(d), '--once']);
    expect(third.code).toBe(0);
  });

  it('a second daemon with another state on the same input refuses to start with one line; the first goes on', async () => {
    const d = makeDirs();
    const first = start(daemonArgs(d));
    await waitFor(() => output(first).stdout.includes('ingestor started'), 10_000, 'start');
    const other = makeDirs();
    const otherArgs = [
      '--input',
      d.input,
      '--warehouse',
      other.warehouse,
      '--manifests',
      other.manifests,
      '--state-path',
      other.state,
      '--stability-seconds',
      '0.5',
    ];
    const second = await run(otherArgs);
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(
      /^ingestor: another ingestor with another state is ingesting --input ".*"; each input takes one state/,
    );
    expect(second.stderr.trim().split('\n')).toHaveLength(1);
    fs.writeFileSync(path.join(d.input, 'a.csv'), 'still working');
    await waitFor(() => manifestLines(d.manifests).length === 1, 10_000, 'ingest by the first');
    expect(manifestLines(other.manifests)).toEqual([]);
    first.kill('SIGTERM');
    expect((await finished(first)).code).toBe(0);
    // The lock goes with the daemon: the other state may take the input now.
    const third = await run([...otherArgs, '--once']);
    expect(third.code, third.stderr).toBe(0);
  });

  it('a second daemon with another state on a directory inside the input, or above it, refuses to start', async () => {
    const d = makeDirs();
    fs.mkdirSync(path.join(d.input, 'sub'));
    const first = start(daemonArgs(d));
    await waitFor(() => output(first).stdout.includes('ingestor started'), 10_000, 'start');
    const other = makeDirs();
    const outputs = ['--warehouse', other.warehouse, '--manifests', other.manifests];
    const inside = await run(['--input', path.join(d.input, 'sub'), ...outputs, '--once']);
    expect(inside.code).toBe(1);
    expect(inside.stderr.trim()).toBe(
      `ingestor: another ingestor with another state is ingesting ${JSON.stringify(d.input)}, which contains --input ${JSON.stringify(path.join(d.input, 'sub'))}; each input takes one state: stop that ingestor, or give this one the same --state-path or --state-url (fuser -v on the directory lists the processes that hold it open)`,
    );
    const above = await run([
      '--input',
      d.root,
      ...outputs.map((o) => o.replace(other.root, path.join(other.root, 'x'))),
      '--once',
    ]);
    expect(above.code).toBe(1);
    expect(above.stderr).toMatch(/is ingesting a directory inside --input/);
    // An unrelated input beside it shares only the directories above both: allowed.
    const beside = makeDirs();
    const ok = await run([...baseArgs(beside), '--once']);
    expect(ok.code, ok.stderr).toBe(0);
    first.kill('SIGTERM');
    expect((await finished(first)).code).toBe(0);
    expect(manifestLines(other.manifests)).toEqual([]);
  });

  it('watches a subdirectory created after start as soon as it appears', async () => {
    const d = makeDirs();
    // Full scans 30 s apart: only the new directory's own watch can find its files sooner.
    const daemon = start([...baseArgs(d), '--stability-seconds', '0.5', '--scan-interval', '30']);
    await waitFor(() => output(daemon).stdout.includes('ingestor started'), 10_000, 'start');
    await new Promise((r) => setTimeout(r, 300));
    const sub = path.join(d.input, 'late', 'deeper');
    fs.mkdirSync(sub, { recursive: true });
    fs.writeFileSync(path.join(sub, 'at-once.csv'), 'written as the directory appeared');
    await waitFor(() => manifestLines(d.manifests).length === 1, 5_000, 'the first file');
    await new Promise((r) => setTimeout(r, 1_000));
    // Into the directory whose creation was the hint (its subdirectory was met by its scan).
    fs.writeFileSync(path.join(d.input, 'late', 'later.csv'), 'written a second later');
    await waitFor(() => manifestLines(d.manifests).length === 2, 5_000, 'the later file');
    daemon.kill('SIGTERM');
    expect((await finished(daemon)).code).toBe(0);
    expectExactlyOnce(d, ['written as the directory appeared', 'written a second later']);
  });

  it('a daemon killed with SIGKILL leaves no lock behind', async () => {
    const d = makeDirs();
    const first = start(daemonArgs(d));
    await waitFor(() => output(first).stdout.includes('ingestor started'), 10_000, 'start');
    first.kill('SIGKILL');
    await finished(first);
    const again = await run([...daemonArgs(d), '--once']);
    expect(again.code).toBe(0);
  });

  it('ingests files inside a directory tree moved into the input whole', async () => {
    const d = makeDirs();
    // Created and filled outside, so no watch ever saw its files being written.
    const deep = path.join(d.root, 'staging-deep');
    fs.mkdirSync(path.join(deep, 'a', 'b'), { recursive: true });
    fs.writeFileSync(path.join(deep, 'a', 'b', 'c.csv'), 'deep');
    const daemon = start(daemonArgs(d));
    await waitFor(() => output(daemon).stdout.includes('ingestor started'), 10_000, 'start');
    fs.renameSync(path.join(deep, 'a'), path.join(d.input, 'a'));
    await waitFor(() => manifestLines(d.manifests).length === 1, 10_000, 'deep file');
    daemon.kill('SIGTERM');
    expect((await finished(daemon)).code).toBe(0);
    expectExactlyOnce(d, ['deep']);
  });
});
