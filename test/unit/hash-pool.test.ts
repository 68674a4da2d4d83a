import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { WorkerHasher } from '../../src/ingest/hash-pool.js';
import { identityOf } from '../../src/identity.js';

describe('hashing threads', () => {
  it('hash on worker threads and carry errors back with their codes', async () => {
    const hasher = WorkerHasher.create(2);
    expect(hasher, 'the built worker script (npm run build)').toBeDefined();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pool-'));
    const file = path.join(dir, 'a');
    fs.writeFileSync(file, 'abc');
    const result = await hasher!.hash(file, identityOf(fs.lstatSync(file)));
    expect(result.sha256).toBe(createHash('sha256').update('abc').digest('hex'));
    await expect(
      hasher!.hash(path.join(dir, 'gone'), { device: 0, inode: 0, size: 0, mtimeMs: 0 }),
    ).rejects.toMatchObject({ code: 'INGEST_ERR_VANISHED' });
    await hasher!.close();
  });

  it('answers many jobs asked at once (sent and answered in batches), each with its own result', async () => {
    const hasher = WorkerHasher.create(2)!;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pool-'));
    const files = Array.from({ length: 600 }, (_, i) => {
      const file = path.join(dir, `f${i}`);
      fs.writeFileSync(file, `content ${i}`);
      return file;
    });
    const gone = hasher
      .hash(path.join(dir, 'gone'), { device: 0, inode: 0, size: 0, mtimeMs: 0 })
      .catch((error: unknown) => error);
    const results = await Promise.all(
      files.map((f) => hasher.hash(f, identityOf(fs.lstatSync(f)))),
    );
    expect(results.map((r) => r.sha256)).toEqual(
      files.map((_, i) => createHash('sha256').update(`content ${i}`).digest('hex')),
    );
    expect(await gone).toMatchObject({ code: 'INGEST_ERR_VANISHED' });
    await hasher.close();
    fs.rmSync(dir, { recursive: true });
  });

  it('a thread that dies fails its jobs as "try again" and is replaced', async () => {
    const hasher = WorkerHasher.create(1)!;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pool-'));
    const file = path.join(dir, 'big');
    fs.writeFileSync(file, Buffer.alloc(256 * 1024 * 1024));
    const identity = identityOf(fs.lstatSync(file));
    const dying = hasher.threads[0]!;
    const job = hasher.hash(file, identity);
    await dying.terminate(); // as an out-of-memory abort would end it, mid-job
    await expect(job).rejects.toMatchObject({ code: 'INGEST_ERR_HASHER_STOPPED' });
    expect(hasher.threads[0]).not.toBe(dying);
    const small = path.join(dir, 'small');
    fs.writeFileSync(small, 'abc');
    const again = await hasher.hash(small, identityOf(fs.lstatSync(small)));
    expect(again.sha256).toBe(createHash('sha256').update('abc').digest('hex'));
    await hasher.close();
    fs.rmSync(dir, { recursive: true });
  });

  it('starts one thread; a second only for a large read while the first is busy', async () => {
    const hasher = WorkerHasher.create(2)!;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pool-'));
    expect(hasher.threads).toHaveLength(1);
    const small = Array.from({ length: 300 }, (_, i) => {
      const file = path.join(dir, `f${i}`);
      fs.writeFileSync(file, `content ${i}`);
      return file;
    });
    await Promise.all(small.map((f) => hasher.hash(f, identityOf(fs.lstatSync(f)))));
    expect(hasher.threads, 'small files keep to one thread').toHaveLength(1);
    const big = [0, 1].map((i) => {
      const file = path.join(dir, `big${i}`);
      fs.writeFileSync(file, Buffer.alloc(8 * 1024 * 1024, i));
      return file;
    });
    const results = await Promise.all(big.map((f) => hasher.hash(f, identityOf(fs.lstatSync(f)))));
    expect(hasher.threads, 'two large reads at once: both cores').toHaveLength(2);
    expect(results.map((r) => r.sha256)).toEqual(
      big.map((f) => createHash('sha256').update(fs.readFileSync(f)).digest('hex')),
    );
    await hasher.close();
    fs.rmSync(dir, { recursive: true });
  });
});
