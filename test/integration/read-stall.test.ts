// --read-stall-timeout against a mount whose reads really hang (a FUSE filesystem made for
// the test: test/fixtures/stallfs.c), driving the built daemon as an operator would. A read
// that makes no progress is abandoned and retried with backoff; while it is stuck, the other
// files of its volume wait (uncounted) and files elsewhere go on.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import type { Dirs } from '../helpers/ingestor.js';
import {
  baseArgs,
  expectExactlyOnce,
  filesUnder,
  finished,
  makeDirs,
  manifestLines,
  mountTmpfs,
  output,
  run,
  start,
  verifyTree,
  waitFor,
  writeOld,
} from '../helpers/ingestor.js';
import { StallFs, buildStallFs } from '../helpers/stallfs.js';

const MiB = 1024 * 1024;
const STALL = ['--read-stall-timeout', '2', '--stability-seconds', '1', '--scan-interval', '1'];

beforeAll(() => {
  buildStallFs();
}, 300_000);

/** The daemon's log lines, parsed. */
function logLines(daemon: ChildProcess): Record<string, unknown>[] {
  return output(daemon)
    .stdout.split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

function linesWith(daemon: ChildProcess, fields: Record<string, unknown>) {
  return logLines(daemon).filter((l) => Object.entries(fields).every(([k, v]) => l[k] === v));
}

/**
 * The daemon reads `file` (under the stallfs mount `sfs`; stalled by the caller), which hangs
 * until released: its read is abandoned with one INGEST_ERR_READ_STALLED and no copy left; a
 * file on another volume, dropped meanwhile at `local`, goes in; once the mount answers,
 * `file` goes in once.
 */
async function stallThenRecover(
  d: Dirs,
  sfs: StallFs,
  file: string,
  content: Buffer,
  local: string,
) {
  writeOld(path.join(sfs.backing, file), content);
  const daemon = start([...baseArgs(d), ...STALL]);
  await waitFor(
    () => linesWith(daemon, { code: 'INGEST_ERR_READ_STALLED' }).length > 0,
    20_000,
    'the read to be abandoned',
  );
  const [failed] = linesWith(daemon, { code: 'INGEST_ERR_READ_STALLED' });
  expect(failed!.msg).toBe(
    `failed: ${path.join(sfs.mount, file)} made no progress for 2 s (a hung mount?); abandoned`,
  );
  expect(failed!.kind).toBe('retry');
  const [hung] = linesWith(daemon, { event: 'volume-stalled' });
  expect(hung!.level).toBe('warn');
  expect(hung!.msg).toMatch(
    new RegExp(`^reads on ${sfs.mount} are hung: ${path.join(sfs.mount, file)} has made no`),
  );
  // The attempt left nothing behind: no partial copy, no manifest line.
  expect(filesUnder(path.join(d.warehouse, '.ingestor-tmp'))).toEqual([]);
  expect(manifestLines(d.manifests)).toEqual([]);

  // The daemon goes on with files elsewhere.
  writeOld(local, 'local\n');
  await waitFor(() => manifestLines(d.manifests).length === 1, 20_000, 'the local file');
  expect(manifestLines(d.manifests)[0]!.path).toBe(local);
  // Its volume is held back: however often it came up again, the stalled file was not read.
  expect(linesWith(daemon, { code: 'INGEST_ERR_READ_STALLED' })).toHaveLength(1);
  expect(fs.existsSync(path.join(sfs.mount, file))).toBe(true);

  sfs.release(file);
  await waitFor(() => manifestLines(d.manifests).length === 2, 20_000, 'the released file');
  const [back] = linesWith(daemon, { event: 'volume-resumed' });
  expect(back!.level).toBe('info');
  expect(back!.msg).toMatch(new RegExp(`^reads on ${sfs.mount} are back after [\\d.]+ s`));
  daemon.kill('SIGTERM');
  const result = await finished(daemon);
  expect(result.code, result.stderr).toBe(0);
  expect(linesWith(daemon, { code: 'INGEST_ERR_READ_STALLED' })).toHaveLength(1);
  expect(linesWith(daemon, { event: 'volume-stalled' })).toHaveLength(1);
  expect(linesWith(daemon, { event: 'volume-resumed' })).toHaveLength(1);
  expectExactlyOnce(d, [content, 'local\n']);
  const verify = await verifyTree(d);
  expect(verify.code, verify.stdout + verify.stderr).toBe(0);
}

describe('--read-stall-timeout on a mount whose reads hang', () => {
  it('a large file (read asynchronously, copied) hung after 1 MiB: abandoned, the daemon goes on, ingested once the mount answers', async () => {
    const d = makeDirs();
    const sfs = await StallFs.mount(path.join(d.root, 'remote'), path.join(d.input, 'remote'));
    sfs.stall('big.bin', MiB);
    const content = crypto.randomBytes(8 * MiB);
    await stallThenRecover(d, sfs, 'big.bin', content, path.join(d.input, 'local.csv'));
  });

  it('a small file (read synchronously on a hashing thread: the warehouse on the same mount) hung: the thread is replaced, the rest goes on', async () => {
    // The input and the warehouse on the hung mount: small files there are moved by rename,
    // read in one blocking pass; the local file is on a tmpfs inside the input.
    const d = makeDirs();
    const sfs = await StallFs.mount(path.join(d.root, 'remote'), path.join(d.root, 'mnt'));
    fs.mkdirSync(path.join(sfs.mount, 'in'));
    d.input = path.join(sfs.mount, 'in');
    d.warehouse = path.join(sfs.mount, 'wh');
    fs.mkdirSync(path.join(d.input, 'local'));
    mountTmpfs(path.join(d.input, 'local'), '16m');
    sfs.stall('in/small.bin', 0);
    const content = crypto.randomBytes(200_000);
    await stallThenRecover(d, sfs, 'in/small.bin', content, path.join(d.input, 'local/local.csv'));
  });

  it('a file whose every read hangs longer than the timeout is quarantined after --max-retries, in place, saying it stalled', async () => {
    const d = makeDirs();
    const sfs = await StallFs.mount(path.join(d.root, 'remote'), path.join(d.input, 'remote'));
    writeOld(path.join(sfs.backing, 'slow.csv'), 'slow\n');
    // Each read comes back, after twice the timeout: never in time, however busy the machine.
    sfs.stall('slow.csv', 0, 4);
    const daemon = start([...baseArgs(d), ...STALL, '--max-retries', '2']);
    await waitFor(
      () => linesWith(daemon, { event: 'quarantined' }).length > 0,
      30_000,
      'the quarantine',
    );
    const [quarantined] = linesWith(daemon, { event: 'quarantined' });
    const source = path.join(sfs.mount, 'slow.csv');
    expect(quarantined!.msg).toBe(
      `quarantined in place: ${source} made no progress for 2 s (a hung mount?); abandoned`,
    );
    expect(linesWith(daemon, { code: 'INGEST_ERR_READ_STALLED' })).toHaveLength(1);
    // The daemon goes on.
    writeOld(path.join(d.input, 'local.csv'), 'local\n');
    await waitFor(() => manifestLines(d.manifests).length === 1, 20_000, 'the local file');
    daemon.kill('SIGTERM');
    const result = await finished(daemon);
    expect(result.code, result.stderr).toBe(0);
    // Left where it is (its reads would hang 4 s each: looked at from the backing side).
    expect(fs.existsSync(source)).toBe(true);
    expect(fs.readFileSync(path.join(sfs.backing, 'slow.csv'), 'utf8')).toBe('slow\n');
    expect(manifestLines(d.manifests).map((l) => l.path)).toEqual([
      path.join(d.input, 'local.csv'),
    ]);
    const list = await run(['list', '--state-path', d.state, '--status', 'quarantined', '--json']);
    const row = JSON.parse(list.stdout.trim()) as { error: string };
    expect(row.error).toContain('made no progress for 2 s');
  });
});
