import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  baseArgs,
  binForOtherUsers,
  expectExactlyOnce,
  filesUnder,
  finished,
  makeDirs,
  manifestLines,
  rowsWithStatus,
  mountTmpfs,
  output,
  partitionFiles,
  run,
  verifyTree,
  start,
  waitFor,
  writeOld,
} from '../helpers/ingestor.js';
import type { Dirs } from '../helpers/ingestor.js';

const NOBODY = 65534;
let nobodyBin: string;
beforeAll(() => {
  nobodyBin = binForOtherUsers();
});

/** Makes a test tree usable by `nobody`, for tests that need permissions to bite (not root). */
function forNobody(d: Dirs): void {
  fs.chmodSync(d.root, 0o755);
  for (const dir of [d.input, d.warehouse, d.manifests, path.dirname(d.state)]) {
    fs.mkdirSync(dir, { recursive: true });
    fs.chownSync(dir, NOBODY, NOBODY);
  }
}

const daemonArgs = (d: Dirs) => [
  ...baseArgs(d),
  '--stability-seconds',
  '0.3',
  '--scan-interval',
  '1',
];

describe('quarantine', () => {
  it('moves an unreadable file aside with its reason, and retry puts it back', async () => {
    const d = makeDirs();
    forNobody(d);
    writeOld(path.join(d.input, 'good.csv'), 'good');
    writeOld(path.join(d.input, 'secret.csv'), 'secret');
    fs.chmodSync(path.join(d.input, 'good.csv'), 0o644);
    fs.chmodSync(path.join(d.input, 'secret.csv'), 0o000); // root's, unreadable by nobody
    const r = await run([...baseArgs(d), '--once', '--stability-seconds', '1'], {
      uid: NOBODY,
      bin: nobodyBin,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/1 ingested, 0 duplicates, 0 failed, 1 quarantined/);
    const quarantined = filesUnder(path.join(d.warehouse, '_quarantine'));
    expect(quarantined.map((f) => path.basename(f)).sort()).toEqual([
      'secret.csv',
      'secret.csv.reason.json',
    ]);
    const note = JSON.parse(
      fs.readFileSync(path.join(d.warehouse, '_quarantine', quarantined[1]!), 'utf8'),
    );
    expect(note).toMatchObject({ source: path.join(d.input, 'secret.csv'), code: 'EACCES' });
    expect(note.reason).toMatch(/permission denied/);
    const log = r.stdout.split('\n').find((l) => l.includes('"event":"quarantined"'));
    expect(JSON.parse(log!).reason).toMatch(/EACCES/);
    expect(filesUnder(d.input)).toEqual([]);

    const retried = await run(['retry', '--state-path', d.state]);
    expect(retried.code, retried.stderr).toBe(0);
    expect(retried.stdout).toMatch(/retry: 1 put back, 0 failed/);
    expect(filesUnder(d.input)).toEqual(['secret.csv']);
    expect(filesUnder(path.join(d.warehouse, '_quarantine'))).toEqual([]);
    fs.chmodSync(path.join(d.input, 'secret.csv'), 0o644);
    const again = await run([...baseArgs(d), '--once', '--stability-seconds', '1'], {
      uid: NOBODY,
      bin: nobodyBin,
    });
    expect(again.stderr).toMatch(/1 ingested/);
    expectExactlyOnce(d, ['good', 'secret']);
    expect((await run(['retry', '--state-path', d.state])).stdout).toMatch(/0 put back/);
    // An id that is not quarantined is named with what it is.
    const notQuarantined = await run(['retry', '--state-path', d.state, '--id', '1', '--id', '99']);
    expect(notQuarantined.code).toBe(1);
    expect(notQuarantined.stdout).toMatch(
      /^not retried #1 \S+secret\.csv: it is released from quarantine \(put back into the input\): only a quarantined file can be retried\nnot retried #99: no file has this id\n/,
    );
  });

  it("quarantines in place another user's file it may not move out of a sticky directory; no pause", async () => {
    const d = makeDirs();
    forNobody(d);
    // A drop directory every user may write to (1777, root's): nobody may not remove root's files.
    fs.chownSync(d.input, 0, 0);
    fs.chmodSync(d.input, 0o1777);
    writeOld(path.join(d.input, 'root-644.csv'), 'readable, not writable'); // link: EPERM
    writeOld(path.join(d.input, 'root-666.csv'), 'writable, not removable'); // unlink: EPERM
    fs.chmodSync(path.join(d.input, 'root-666.csv'), 0o666);
    writeOld(path.join(d.input, 'mine.csv'), 'mine');
    fs.chownSync(path.join(d.input, 'mine.csv'), NOBODY, NOBODY);
    const once = () =>
      run([...baseArgs(d), '--once', '--stability-seconds', '1'], { uid: NOBODY, bin: nobodyBin });
    const r = await once();
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/1 ingested, 0 duplicates, 0 failed, 2 quarantined/);
    expect(r.stdout).not.toContain('ingestion paused');
    const reasons = r.stdout
      .split('\n')
      .filter((l) => l.includes('"event":"quarantined"'))
      .map((l) => JSON.parse(l) as { source: string; dest: string | null; reason: string });
    expect(reasons.map((q) => path.basename(q.source)).sort()).toEqual([
      'root-644.csv',
      'root-666.csv',
    ]);
    for (const q of reasons) {
      expect(q.dest).toBeNull();
      expect(q.reason).toMatch(
        /cannot be moved out of the input by this user \(.*EPERM.*\): another user's file in a sticky directory/,
      );
    }
    expect(filesUnder(d.input).sort()).toEqual(['root-644.csv', 'root-666.csv']);
    expect(filesUnder(path.join(d.warehouse, '_quarantine'))).toEqual([]);
    expect(manifestLines(d.manifests).map((l) => path.basename(l.path))).toEqual(['mine.csv']);
    // Quarantined in place: skipped, not tried again.
    const again = await once();
    expect(again.stderr).toMatch(/0 ingested, 0 duplicates, 0 failed, 0 quarantined/);
  });

  it('ingests a file whose .ok this user may not remove (a sticky directory): the .ok is left, the file kept', async () => {
    const d = makeDirs();
    forNobody(d);
    fs.chownSync(d.input, 0, 0);
    fs.chmodSync(d.input, 0o1777);
    writeOld(path.join(d.input, 'mine.csv'), 'mine');
    fs.chownSync(path.join(d.input, 'mine.csv'), NOBODY, NOBODY);
    writeOld(path.join(d.input, 'mine.csv.ok'), ''); // root's: nobody may not remove it
    const r = await run([...baseArgs(d), '--once', '--mode', 'sidecar'], {
      uid: NOBODY,
      bin: nobodyBin,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/1 ingested, 0 duplicates, 0 failed, 0 quarantined/);
    expect(filesUnder(d.input)).toEqual(['mine.csv.ok']);
    expect(manifestLines(d.manifests).map((l) => path.basename(l.path))).toEqual(['mine.csv']);
    const warehoused = manifestLines(d.manifests)[0]!.warehouse_path;
    expect(fs.readFileSync(warehoused, 'utf8')).toBe('mine');
    expect(r.stdout).toMatch(
      /"event":"sidecar-left".*could not remove the sidecar .*mine\.csv\.ok.*its file is ingested/,
    );
  });

  it('quarantines in place when the input is on another filesystem, and skips the file', async () => {
    const d = makeDirs();
    mountTmpfs(d.input, '16m');
    forNobody(d);
    writeOld(path.join(d.input, 'locked.csv'), 'locked');
    fs.chmodSync(path.join(d.input, 'locked.csv'), 0o000);
    const daemon = start(daemonArgs(d), { uid: NOBODY, bin: nobodyBin });
    await waitFor(
      () => output(daemon).stdout.includes('quarantined in place'),
      10_000,
      'quarantine',
    );
    await new Promise((r) => setTimeout(r, 2500)); // two more scans: not tried again
    daemon.kill('SIGTERM');
    const result = await finished(daemon);
    expect(result.code).toBe(0);
    expect(result.stdout.match(/"event":"quarantined"/g)).toHaveLength(1);
    expect(filesUnder(d.input)).toEqual(['locked.csv']);
    const retried = await run(['retry', '--state-path', d.state]);
    expect(retried.stdout).toMatch(/retry: 1 put back/);
  });

  it('usage: retry needs a state', async () => {
    const r = await run(['retry']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--state-path \(or --manifests, or --state-url\) is required/);
  });
});

/**
 * A daemon on a 64 KiB manifests tmpfs that is then filled (room for directories, none for
 * lines), given files `<prefix> 0..2`: resolves once a pause holds moved files. The filler is
 * `<manifests>/filler`.
 */
async function daemonHoldingABatch(d: Dirs, prefix: string) {
  fs.mkdirSync(d.manifests);
  mountTmpfs(d.manifests, '64k');
  const daemon = start(daemonArgs(d));
  await waitFor(() => output(daemon).stdout.includes('ingestor started'), 10_000, 'start');
  spawnSync('sh', ['-c', `dd if=/dev/zero of=${d.manifests}/filler bs=4k 2>/dev/null; true`]);
  for (let i = 0; i < 3; i += 1) writeOld(path.join(d.input, `f${i}.csv`), `${prefix} ${i}`);
  await waitFor(() => heldIn(output(daemon).stdout) > 0, 15_000, 'held');
  return daemon;
}

/** The number of held files the first pause line with any says. */
function heldIn(stdout: string): number {
  const line = stdout.split('\n').find((l) => /"held":[1-9]/.test(l));
  return line === undefined ? 0 : (JSON.parse(line) as { held: number }).held;
}

describe('full and blocked output volumes', () => {
  it('a full warehouse pauses ingestion, keeps the source, and resumes when space returns', async () => {
    const d = makeDirs();
    const mount = path.join(d.root, 'small');
    fs.mkdirSync(mount);
    mountTmpfs(mount, '1m');
    d.warehouse = path.join(mount, 'wh');
    writeOld(path.join(d.input, 'big.bin'), Buffer.alloc(2 * 1024 * 1024, 1));
    writeOld(path.join(d.input, 'small.csv'), 'small');
    const daemon = start(daemonArgs(d));
    await waitFor(() => output(daemon).stdout.includes('ingestion paused'), 15_000, 'pause');
    const paused = output(daemon)
      .stdout.split('\n')
      .find((l) => l.includes('ingestion paused'))!;
    expect(JSON.parse(paused)).toMatchObject({ level: 'warn', code: 'ENOSPC' });
    expect(fs.existsSync(path.join(d.input, 'big.bin'))).toBe(true);
    spawnSync('mount', ['-o', 'remount,size=16m', mount]);
    await waitFor(() => manifestLines(d.manifests).length === 2, 40_000, 'resume');
    daemon.kill('SIGTERM');
    const result = await finished(daemon);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('ingestion resumed');
    expectExactlyOnce(d, [Buffer.alloc(2 * 1024 * 1024, 1), 'small']);
  });

  it('a full warehouse across filesystems: every file that fits gets in, no partial copy is left, one warn line per pause, and it resumes by itself', async () => {
    const d = makeDirs();
    const mount = path.join(d.root, 'small');
    fs.mkdirSync(mount);
    mountTmpfs(mount, '20m');
    d.warehouse = path.join(mount, 'wh');
    // Six 5 MiB files, copied at once: room for four, and copies cut short by ENOSPC.
    const contents = Array.from({ length: 6 }, (_, i) => Buffer.alloc(5 * 1024 * 1024, i + 1));
    contents.forEach((c, i) => writeOld(path.join(d.input, `f${i}.bin`), c));
    const daemon = start(daemonArgs(d));
    await waitFor(() => output(daemon).stdout.includes('ingestion paused'), 15_000, 'pause');
    // After a pause, copies go one at a time: the fourth file, which fits exactly, gets in
    // (all at once, each copy failed where one would fit, and nothing moved for minutes).
    await waitFor(() => manifestLines(d.manifests).length === 4, 30_000, 'the files that fit');
    spawnSync('mount', ['-o', 'remount,size=64m', mount]);
    await waitFor(() => manifestLines(d.manifests).length === 6, 60_000, 'resume');
    daemon.kill('SIGTERM');
    const result = await finished(daemon);
    expect(result.code).toBe(0);
    const lines = result.stdout.split('\n').filter((l) => l !== '');
    expect(lines.filter((l) => l.includes('"level":"error"'))).toEqual([]);
    expect(result.stdout).not.toContain('hashing thread stopped');
    // Each warn line announces a stop: never twice without a resume between.
    const transitions = lines
      .filter((l) => l.includes('"event":"resumed"') || /"level":"warn".*"event":"paused"/.test(l))
      .map((l) => (l.includes('"event":"resumed"') ? 'resumed' : 'paused'));
    expect(transitions.length).toBeGreaterThan(0);
    transitions.forEach((t, i) => expect(t).toBe(i % 2 === 0 ? 'paused' : 'resumed'));
    // expectExactlyOnce also finds any copy left in <warehouse>/.ingestor-tmp.
    expectExactlyOnce(d, contents);
  });

  it('--once on a full warehouse across filesystems: what fits gets in, the rest fail, exit 1', async () => {
    const d = makeDirs();
    const mount = path.join(d.root, 'small');
    fs.mkdirSync(mount);
    mountTmpfs(mount, '20m');
    d.warehouse = path.join(mount, 'wh');
    const contents = Array.from({ length: 6 }, (_, i) => Buffer.alloc(5 * 1024 * 1024, i + 11));
    contents.forEach((c, i) => writeOld(path.join(d.input, `f${i}.bin`), c));
    // A pass used to stop at the first pause, with files that would have fitted left behind.
    const once = await run([...baseArgs(d), '--once', '--stability-seconds', '0.3'], {
      timeoutMs: 120_000,
    });
    expect(once.code, once.stderr).toBe(1);
    expect(once.stderr).toMatch(
      /4 ingested, 0 duplicates, 2 failed, 0 quarantined, 0 not complete/,
    );
    expect(filesUnder(path.join(d.warehouse, '.ingestor-tmp'))).toEqual([]);
    expect(filesUnder(d.input)).toHaveLength(2);
    const verify = await verifyTree(d, '--rehash');
    expect(verify.code, verify.stdout).toBe(0);
  }, 150_000);

  it('a warehouse that fills up during a copy: no short copy is ever placed', async () => {
    const d = makeDirs();
    const mount = path.join(d.root, 'small');
    fs.mkdirSync(mount);
    mountTmpfs(mount, '1m');
    d.warehouse = path.join(mount, 'wh');
    const daemon = start(daemonArgs(d));
    await waitFor(() => output(daemon).stdout.includes('ingestor started'), 10_000, 'start');
    // 144 KiB left for a 200 KiB file copied in one write: write(2) takes what fits and
    // reports no error, and only the next call fails.
    spawnSync('sh', ['-c', `dd if=/dev/zero of=${mount}/filler bs=4k count=220 2>/dev/null`]);
    const data = Buffer.alloc(200 * 1024, 7);
    data.write('not just sevens');
    writeOld(path.join(d.input, 'data.bin'), data);
    await waitFor(() => output(daemon).stdout.includes('ingestion paused'), 15_000, 'pause');
    expect(fs.existsSync(path.join(d.input, 'data.bin'))).toBe(true);
    expect(partitionFiles(d.warehouse)).toEqual([]);
    fs.rmSync(path.join(mount, 'filler'));
    await waitFor(() => manifestLines(d.manifests).length === 1, 40_000, 'resume');
    daemon.kill('SIGTERM');
    expect((await finished(daemon)).code).toBe(0);
    expectExactlyOnce(d, [data]);
    const verify = await verifyTree(d, '--rehash');
    expect(verify.code, verify.stdout).toBe(0);
  });

  it('a full manifests volume: the moved files are settled once space returns', async () => {
    const d = makeDirs();
    const daemon = await daemonHoldingABatch(d, 'file');
    fs.rmSync(path.join(d.manifests, 'filler'));
    // No new file arrives: the end of the pause alone settles the held batch.
    await waitFor(() => manifestLines(d.manifests).length === 3, 40_000, 'settled');
    daemon.kill('SIGTERM');
    const result = await finished(daemon);
    expect(result.code).toBe(0);
    // Files held across the pause count as ingested once settled, never as failed.
    const summary = result.stdout.split('\n').find((l) => l.includes('"event":"summary"'))!;
    expect(JSON.parse(summary)).toMatchObject({ ingested: 3 });
    expectExactlyOnce(d, ['file 0', 'file 1', 'file 2']);
    const verify = await verifyTree(d);
    expect(verify.code, verify.stdout).toBe(0);
  });

  it('stopped while a batch is held: exits 0, and the next start settles the batch', async () => {
    const d = makeDirs();
    const daemon = await daemonHoldingABatch(d, 'held');
    expect(output(daemon).stdout).toContain('moved files wait to be recorded');
    daemon.kill('SIGTERM');
    const result = await finished(daemon);
    expect(result.code).toBe(0);
    const held = heldIn(result.stdout);
    expect(result.stdout).toContain(`${held} moved files could not be recorded`);
    // The held files are moved, not yet recorded (their intents stay open for the next start);
    // a file that came after them is still in the input.
    expect(filesUnder(d.input)).toHaveLength(3 - held);
    expect(manifestLines(d.manifests)).toEqual([]);
    fs.rmSync(path.join(d.manifests, 'filler'));
    const again = await run([...baseArgs(d), '--once']);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain(`"rolledForward":${held}`);
    expectExactlyOnce(d, ['held 0', 'held 1', 'held 2']);
    const verify = await verifyTree(d);
    expect(verify.code, verify.stdout).toBe(0);
  });

  it('--once whose batch is held by a full manifests volume ends: it says so and exits 1', async () => {
    const d = makeDirs();
    fs.mkdirSync(d.manifests);
    mountTmpfs(d.manifests, '64k');
    // Room for this hour's (and the next hour's) directories, none for lines.
    for (const at of [Date.now(), Date.now() + 3_600_000]) {
      const iso = new Date(at).toISOString();
      const hour = path.join(
        d.manifests,
        iso.slice(0, 4),
        iso.slice(5, 7),
        iso.slice(8, 10),
        iso.slice(11, 13),
      );
      fs.mkdirSync(hour, { recursive: true });
    }
    spawnSync('sh', ['-c', `dd if=/dev/zero of=${d.manifests}/filler bs=4k 2>/dev/null; true`]);
    for (let i = 0; i < 3; i += 1) writeOld(path.join(d.input, `f${i}.csv`), `once ${i}`);
    const once = await run([...baseArgs(d), '--once', '--stability-seconds', '0.3'], {
      timeoutMs: 20_000,
    });
    expect(once.code, once.stderr).toBe(1);
    expect(once.stdout).toMatch(
      /\d+ moved files could not be recorded \(.*ENOSPC.*\); the next start settles them/,
    );
    expect(once.stderr).toMatch(/0 ingested, 0 duplicates, [1-9]\d* failed/);
    fs.rmSync(path.join(d.manifests, 'filler'));
    const again = await run([...baseArgs(d), '--once', '--stability-seconds', '0.3']);
    expect(again.code, again.stderr).toBe(0);
    expectExactlyOnce(d, ['once 0', 'once 1', 'once 2']);
  });

  it('killed while a batch is held: --once on the full volume exits 1; a daemon starts paused and settles', async () => {
    const d = makeDirs();
    const first = await daemonHoldingABatch(d, 'killed');
    first.kill('SIGKILL');
    await finished(first);
    const intents = () => rowsWithStatus(d.state, 'intent');
    const held = intents();
    expect(held).toBeGreaterThan(0);

    // A cron job's run while the volume is still full: it cannot finish, and says so.
    const once = await run([...baseArgs(d), '--once']);
    expect(once.code).toBe(1);
    expect(once.stdout).toContain(`recovery cannot finish now (${held} interrupted files)`);
    expect(once.stdout).toContain(`${held} moved files could not be recorded`);
    expect(intents()).toBe(held);

    // A daemon starts anyway, paused, and settles the intents by itself when space returns;
    // a copy a kill left behind is removed at once (it takes space).
    const orphan = path.join(d.warehouse, '.ingestor-tmp', '.ingestor-0123456789abcdef.tmp');
    fs.writeFileSync(orphan, 'a copy cut short by a kill');
    const daemon = start(daemonArgs(d));
    await waitFor(() => output(daemon).stdout.includes('ingestor started'), 10_000, 'restart');
    expect(output(daemon).stdout).toContain(`"held":${held}`);
    expect(output(daemon).stdout).toContain('"temporariesRemoved":1');
    expect(fs.existsSync(orphan)).toBe(false);
    fs.rmSync(path.join(d.manifests, 'filler'));
    await waitFor(() => manifestLines(d.manifests).length === 3, 40_000, 'settled');
    daemon.kill('SIGTERM');
    expect((await finished(daemon)).code).toBe(0);
    expect(intents()).toBe(0);
    expectExactlyOnce(d, ['killed 0', 'killed 1', 'killed 2']);
    const verify = await verifyTree(d);
    expect(verify.code, verify.stdout).toBe(0);
  });

  it('a start on a state volume with no byte free: one line that says so, exit 1', async () => {
    const d = makeDirs();
    const stateDir = path.dirname(d.state);
    fs.mkdirSync(stateDir);
    mountTmpfs(stateDir, '1m');
    const fill = () =>
      spawnSync('sh', ['-c', `dd if=/dev/zero of=${stateDir}/filler bs=4k 2>/dev/null; true`]);
    fill();
    const fresh = await run([...baseArgs(d), '--once']);
    expect(fresh.code).toBe(1);
    expect(fresh.stderr.trim().split('\n')).toHaveLength(1);
    expect(fresh.stderr).toMatch(/cannot take the state lock .*no free space left/);
    // A state that exists, stopped cleanly: SQLite cannot size its shared memory file.
    fs.rmSync(path.join(stateDir, 'filler'));
    expect((await run([...baseArgs(d), '--once'])).code).toBe(0);
    fill();
    const again = await run([...baseArgs(d), '--once']);
    expect(again.code).toBe(1);
    expect(again.stderr.trim().split('\n')).toHaveLength(1);
    expect(again.stderr).toMatch(/state .* no free space left/);
  });

  it('a full state volume pauses, then resumes', async () => {
    const d = makeDirs();
    const stateDir = path.dirname(d.state);
    fs.mkdirSync(stateDir);
    mountTmpfs(stateDir, '2m');
    const daemon = start(daemonArgs(d));
    await waitFor(() => output(daemon).stdout.includes('ingestor started'), 10_000, 'start');
    spawnSync('sh', ['-c', `dd if=/dev/zero of=${stateDir}/filler bs=4k 2>/dev/null; true`]);
    for (let i = 0; i < 20; i += 1)
      writeOld(path.join(d.input, `f${i}.csv`), `row ${i}`.repeat(500));
    await waitFor(() => output(daemon).stdout.includes('ingestion paused'), 15_000, 'pause');
    expect(filesUnder(d.input).length).toBeGreaterThan(0);
    fs.rmSync(path.join(stateDir, 'filler'));
    await waitFor(
      () => filesUnder(d.input).length === 0 && manifestLines(d.manifests).length === 20,
      60_000,
      'resume',
    );
    daemon.kill('SIGTERM');
    expect((await finished(daemon)).code).toBe(0);
    expectExactlyOnce(
      d,
      Array.from({ length: 20 }, (_, i) => `row ${i}`.repeat(500)),
    );
  });

  it('a state locked by another process: pauses with a clear line, resumes when released', async () => {
    const d = makeDirs();
    writeOld(path.join(d.input, 'first.csv'), 'first');
    expect((await run([...baseArgs(d), '--once'])).code).toBe(0);
    const holder = new Database(d.state);
    holder.exec('BEGIN EXCLUSIVE');
    const daemon = start(daemonArgs(d));
    try {
      await waitFor(() => output(daemon).stdout.includes('ingestor started'), 20_000, 'start');
      writeOld(path.join(d.input, 'second.csv'), 'second');
      await waitFor(() => output(daemon).stdout.includes('ingestion paused'), 20_000, 'pause');
      expect(output(daemon).stdout).toMatch(/"code":"SQLITE_BUSY"/);
      expect(fs.existsSync(path.join(d.input, 'second.csv'))).toBe(true);
    } finally {
      holder.exec('COMMIT');
      holder.close();
    }
    await waitFor(() => manifestLines(d.manifests).length === 2, 40_000, 'resume');
    daemon.kill('SIGTERM');
    expect((await finished(daemon)).code).toBe(0);
    expectExactlyOnce(d, ['first', 'second']);
  }, 90_000);

  it('a read-only state database: a clear error at start, and nothing moves', async () => {
    const d = makeDirs();
    writeOld(path.join(d.input, 'a.csv'), 'a');
    expect((await run([...baseArgs(d), '--once'])).code).toBe(0);
    writeOld(path.join(d.input, 'b.csv'), 'b');
    const stateDir = path.dirname(d.state);
    spawnSync('mount', ['--bind', stateDir, stateDir]);
    spawnSync('mount', ['-o', 'remount,ro,bind', stateDir]);
    try {
      const r = await run([...baseArgs(d), '--once']);
      expect(r.code).toBe(1);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/^ingestor: .*(read-only|readonly)/i);
      expect(filesUnder(d.input)).toEqual(['b.csv']);
      expect(partitionFiles(d.warehouse)).toHaveLength(1);
    } finally {
      spawnSync('umount', [stateDir]);
    }
  });
});
