import { spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { setUpApi, startWithApi } from '../helpers/api.js';
import type { ApiSetup } from '../helpers/api.js';
import {
  call,
  expectError,
  historyOf,
  listFiles,
  ok,
  pendingIdOf,
} from '../helpers/api-actions.js';
import {
  baseArgs,
  binForOtherUsers,
  expectExactlyOnce,
  filesUnder,
  finished,
  manifestLines,
  output,
  partitionFiles,
  run,
  waitFor,
  writeOld,
} from '../helpers/ingestor.js';
import type { Dirs } from '../helpers/ingestor.js';

const CPU_CGROUPS = '/sys/fs/cgroup/cpu';

/**
 * Slows a process down to a fifth of a core (a cgroup v1 CPU quota), so that a copy lasts long
 * enough to be cancelled; returns what undoes it. Where there are no such cgroups, nothing is
 * slowed and the test races the copy (it still checks what it finds).
 */
function throttle(pid: number): () => void {
  const group = path.join(CPU_CGROUPS, `ingestor-test-${pid}`);
  try {
    fs.mkdirSync(group);
    fs.writeFileSync(path.join(group, 'cpu.cfs_period_us'), '100000');
    fs.writeFileSync(path.join(group, 'cpu.cfs_quota_us'), '20000');
    fs.writeFileSync(path.join(group, 'cgroup.procs'), String(pid));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    return () => {};
  }
  return () => {
    try {
      fs.writeFileSync(path.join(CPU_CGROUPS, 'cgroup.procs'), String(pid));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
    }
    spawnSync('rmdir', [group]);
  };
}

async function stop(daemon: ChildProcess): Promise<void> {
  daemon.kill('SIGTERM');
  const result = await finished(daemon, 60_000);
  expect(result.code, result.stderr).toBe(0);
}

interface PendingJson {
  files: { id: string; reason: string; why: string }[];
}

async function pending(s: ApiSetup, port: number): Promise<PendingJson['files']> {
  return ok<PendingJson>(await call(s, port, s.user, 'GET', '/v1/pending')).files;
}

describe('cancel', () => {
  it('during a slow cross-filesystem copy: no partial file, the source stays, held across a restart, then released and ingested once', async () => {
    const s = setUpApi({ tmpfsWarehouse: true });
    const tmpDir = path.join(s.d.warehouse, '.ingestor-tmp');
    const big = Buffer.alloc(300 * 1024 * 1024, 7);
    let { daemon, port } = await startWithApi(s.d, s.certs);
    const unthrottle = throttle(daemon.pid!);
    try {
      // Written beside the input and renamed in: complete at once.
      const staged = path.join(s.d.root, 'big.bin');
      writeOld(staged, big);
      const source = path.join(s.d.input, 'big.bin');
      fs.renameSync(staged, source);
      await waitFor(() => filesUnder(tmpDir).length > 0, 30_000, 'the copy started');
      const id = pendingIdOf(source);
      expectError(
        await call(s, port, s.user, 'POST', `/v1/files/${id}/cancel`),
        403,
        'API_ERR_FORBIDDEN',
      );
      const held = ok<{ held: { id: string; reason: string; by: string } }>(
        await call(s, port, s.admin, 'POST', `/v1/files/${id}/cancel`),
      ).held;
      expect(held).toMatchObject({ id, reason: 'cancelled' });
      expect(held.by).toMatch(/admin/);
      await waitFor(() => filesUnder(tmpDir).length === 0, 30_000, 'the partial copy removed');
      expect(fs.statSync(source).size).toBe(big.length);
      expect(partitionFiles(s.d.warehouse)).toEqual([]);
      expect(manifestLines(s.d.manifests)).toEqual([]);
      expect(await pending(s, port)).toEqual([
        expect.objectContaining({
          id,
          reason: 'held',
          why: expect.stringMatching(/^cancelled by/),
        }),
      ]);
      expectError(
        await call(s, port, s.admin, 'POST', `/v1/files/${id}/cancel`),
        409,
        'API_ERR_CONFLICT',
        /held already/,
      );
    } finally {
      unthrottle();
    }
    await stop(daemon);

    ({ daemon, port } = await startWithApi(s.d, s.certs));
    await new Promise((r) => setTimeout(r, 2_500)); // scans that would have taken it
    expect(partitionFiles(s.d.warehouse)).toEqual([]);
    expect(filesUnder(tmpDir)).toEqual([]);
    const id = pendingIdOf(path.join(s.d.input, 'big.bin'));
    expect((await pending(s, port)).map((f) => [f.id, f.reason])).toEqual([[id, 'held']]);
    ok(await call(s, port, s.admin, 'POST', `/v1/files/${id}/release`));
    // 300 MB copied again, perhaps beside other tests' copies: a generous wait, and the daemon's
    // last lines if it is not enough.
    await waitFor(
      () => manifestLines(s.d.manifests).length === 1,
      120_000,
      'ingest after release',
    ).catch((error: unknown) => {
      throw new Error(`${String(error)}\n${output(daemon).stdout.slice(-4000)}`);
    });
    const row = (await listFiles(s, port))[0]!;
    const history = await historyOf(s, port, row.id);
    expect(history.map((e) => e.type)).toEqual([
      'cancelled',
      'released',
      'complete',
      'hashed',
      'claimed',
      'moved',
      'manifest',
      'committed',
    ]);
    expect(history[0]!.actor).toMatch(/admin/);
    await stop(daemon);
    expectExactlyOnce(s.d, [big]);
  }, 300_000);
});

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

describe('retry', () => {
  it('a quarantined file by id, then the rest in bulk; each ingested, with its history', async () => {
    const s = setUpApi();
    forNobody(s.d);
    for (const name of ['one', 'two', 'three']) {
      writeOld(path.join(s.d.input, `${name}.csv`), name);
      fs.chmodSync(path.join(s.d.input, `${name}.csv`), 0o000); // unreadable by nobody
    }
    const quarantining = await run([...baseArgs(s.d), '--once', '--stability-seconds', '1'], {
      uid: NOBODY,
      bin: nobodyBin,
    });
    expect(quarantining.stderr).toMatch(/3 quarantined/);
    const quarantine = path.join(s.d.warehouse, '_quarantine');
    for (const file of filesUnder(quarantine)) {
      // Readable once put back (the daemon below runs as root anyway).
      fs.chmodSync(path.join(quarantine, file), 0o644);
    }
    const { daemon, port } = await startWithApi(s.d, s.certs);
    const quarantined = ok<{ files: { id: number; source: string }[] }>(
      await call(s, port, s.user, 'GET', '/v1/files?status=quarantined'),
    ).files;
    expect(quarantined).toHaveLength(3);
    const one = quarantined.find((f) => f.source.endsWith('one.csv'))!;

    expectError(
      await call(s, port, s.user, 'POST', `/v1/files/${one.id}/retry`),
      403,
      'API_ERR_FORBIDDEN',
    );
    expectError(await call(s, port, s.user, 'POST', '/v1/retry', {}), 403, 'API_ERR_FORBIDDEN');
    expect(filesUnder(s.d.input)).toEqual([]);

    const retried = ok<{ retried: { id: number; restoredTo: string } }>(
      await call(s, port, s.admin, 'POST', `/v1/files/${one.id}/retry`),
    ).retried;
    expect(retried).toMatchObject({ id: one.id, restoredTo: one.source });
    expectError(
      await call(s, port, s.admin, 'POST', `/v1/files/${one.id}/retry`),
      409,
      'API_ERR_CONFLICT',
      /only a quarantined file/,
    );
    await waitFor(() => manifestLines(s.d.manifests).length === 1, 20_000, 'one ingested');

    expect(
      ok<{ retried: number; failed: number }>(
        await call(s, port, s.admin, 'POST', '/v1/retry', { status: 'quarantined', q: 'two' }),
      ),
    ).toEqual({ retried: 1, failed: 0, failures: [] });
    expect(
      ok<{ retried: number; failed: number }>(
        await call(s, port, s.admin, 'POST', '/v1/retry', { status: 'quarantined' }),
      ),
    ).toEqual({ retried: 1, failed: 0, failures: [] });
    await waitFor(() => manifestLines(s.d.manifests).length === 3, 20_000, 'all ingested');

    const history = await historyOf(s, port, one.id);
    expect(history.map((e) => [e.type, e.from])).toEqual([
      ['quarantined', 'row'],
      ['released', 'row'],
      ['retried', 'journal'],
    ]);
    expect(history[0]!.detail.reason).toMatch(/EACCES/);
    expect(history[2]!.actor).toMatch(/admin/);
    const ingested = (await listFiles(s, port)).find(
      (f) => f.status === 'ingested' && f.source.endsWith('one.csv'),
    )!;
    expect(ingested.id).not.toBe(one.id);
    await stop(daemon);
    expectExactlyOnce(s.d, ['one', 'two', 'three']);
  }, 90_000);
});
