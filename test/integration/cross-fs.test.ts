import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  baseArgs,
  expectExactlyOnce,
  filesUnder,
  makeDirs,
  partitionFiles,
  run,
  writeOld,
} from '../helpers/ingestor.js';

describe('moves across filesystems', () => {
  it('copies to a tmpfs warehouse keeping mode, owner and mtime, with no temporary left', async () => {
    const d = makeDirs({ tmpfsWarehouse: true });
    const src = path.join(d.input, 'data.csv');
    writeOld(src, 'x'.repeat(5 * 1024 * 1024 + 17));
    fs.chmodSync(src, 0o640);
    fs.chownSync(src, 1234, 2345);
    const before = fs.statSync(src);
    const result = await run([...baseArgs(d), '--once', '--stability-seconds', '1']);
    expect(result.code, result.stderr).toBe(0);
    const [file] = partitionFiles(d.warehouse);
    const after = fs.statSync(path.join(d.warehouse, file!));
    expect(after.dev).not.toBe(before.dev);
    expect(after.mode & 0o7777).toBe(0o640);
    expect([after.uid, after.gid]).toEqual([1234, 2345]);
    // Node's utimes takes seconds as a double: times are kept to within microseconds.
    expect(Math.abs(after.mtimeMs - before.mtimeMs)).toBeLessThan(0.01);
    expect(Math.floor(after.mtimeMs / 1000)).toBe(Math.floor(before.mtimeMs / 1000));
    expect(filesUnder(path.join(d.warehouse, '.ingestor-tmp'))).toEqual([]);
    expectExactlyOnce(d, ['x'.repeat(5 * 1024 * 1024 + 17)]);
  });

  it('falls back to a copy when the warehouse is a bind mount of the same filesystem (EXDEV)', async () => {
    const d = makeDirs();
    const real = path.join(d.root, 'real-wh');
    const bound = path.join(d.root, 'bound');
    fs.mkdirSync(real);
    fs.mkdirSync(bound);
    const mounted = spawnSync('mount', ['--bind', real, bound]);
    expect(mounted.status).toBe(0);
    try {
      const args = baseArgs(d);
      args[3] = bound;
      writeOld(path.join(d.input, 'a.csv'), 'one');
      writeOld(path.join(d.input, 'b.csv'), 'two');
      const result = await run([...args, '--once', '--stability-seconds', '1']);
      expect(result.code, result.stderr).toBe(0);
      expect(partitionFiles(bound)).toHaveLength(2);
      expectExactlyOnce({ ...d, warehouse: bound }, ['one', 'two']);
    } finally {
      spawnSync('umount', [bound]);
    }
  });
});
