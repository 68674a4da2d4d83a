import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SMALL_FILE_BYTES, readAndHash, readAndHashSync } from '../../src/ingest/hasher.js';
import { identityOf } from '../../src/identity.js';

const dir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'hash-'));

describe('readAndHash', () => {
  it('hashes in one pass and copies while hashing, keeping mode and mtime', async () => {
    const d = dir();
    const src = path.join(d, 'src');
    const data = Buffer.alloc(3 * 1024 * 1024 + 5, 0xab);
    fs.writeFileSync(src, data, { mode: 0o604 });
    const copy = path.join(d, 'copy');
    const result = await readAndHash(src, identityOf(fs.lstatSync(src)), copy);
    expect(result.sha256).toBe(createHash('sha256').update(data).digest('hex'));
    expect(fs.readFileSync(copy).equals(data)).toBe(true);
    expect(fs.statSync(copy).mode & 0o777).toBe(0o604);
    expect(Math.abs(fs.statSync(copy).mtimeMs - fs.statSync(src).mtimeMs)).toBeLessThan(0.01);
  });

  it('refuses a file that is no longer the one that was found complete', async () => {
    const d = dir();
    const src = path.join(d, 'src');
    fs.writeFileSync(src, 'abc');
    const identity = identityOf(fs.lstatSync(src));
    fs.appendFileSync(src, 'def');
    await expect(readAndHash(src, identity)).rejects.toMatchObject({ code: 'INGEST_ERR_CHANGED' });
  });

  it('notices a file that grows while it is read, and removes the partial copy', async () => {
    const d = dir();
    const src = path.join(d, 'src');
    fs.writeFileSync(src, Buffer.alloc(256 * 1024 * 1024));
    const copy = path.join(d, 'copy');
    const reading = readAndHash(src, identityOf(fs.lstatSync(src)), copy);
    fs.appendFileSync(src, 'more');
    await expect(reading).rejects.toMatchObject({ code: 'INGEST_ERR_CHANGED' });
    expect(fs.existsSync(copy)).toBe(false);
    fs.rmSync(d, { recursive: true });
  });

  it('never follows a symlink and never blocks on a FIFO', async () => {
    const d = dir();
    const target = path.join(d, 'target');
    fs.writeFileSync(target, 'x');
    const link = path.join(d, 'link');
    fs.symlinkSync(target, link);
    const identity = identityOf(fs.statSync(target));
    await expect(readAndHash(link, identity)).rejects.toMatchObject({
      code: 'INGEST_ERR_NOT_REGULAR',
    });
    const fifo = path.join(d, 'fifo');
    const { execFileSync } = await import('node:child_process');
    execFileSync('mkfifo', [fifo]);
    await expect(readAndHash(fifo, identity)).rejects.toMatchObject({
      code: 'INGEST_ERR_NOT_REGULAR',
    });
  });

  it('reports a vanished file', async () => {
    await expect(
      readAndHash(path.join(dir(), 'gone'), { device: 0, inode: 0, size: 0, mtimeMs: 0 }),
    ).rejects.toMatchObject({ code: 'INGEST_ERR_VANISHED' });
  });
});

describe('readAndHash under a hostile writer', () => {
  it('notices a file truncated while it is read', async () => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'hash-'));
    const src = path.join(d, 'src');
    fs.writeFileSync(src, Buffer.alloc(256 * 1024 * 1024));
    const reading = readAndHash(src, identityOf(fs.lstatSync(src)));
    fs.truncateSync(src, 1024);
    await expect(reading).rejects.toMatchObject({ code: 'INGEST_ERR_CHANGED' });
    fs.rmSync(d, { recursive: true });
  });

  it('a file deleted while it is read: vanished, or hashed whole through its descriptor', async () => {
    // The unlink cannot take the bytes from under an open descriptor; the move step then
    // finds the name gone and the file is dropped as vanished (pipeline test).
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'hash-'));
    const src = path.join(d, 'src');
    const data = Buffer.alloc(64 * 1024 * 1024, 3);
    fs.writeFileSync(src, data);
    const reading = readAndHash(src, identityOf(fs.lstatSync(src)));
    fs.unlinkSync(src);
    // Depending on whether the unlink beat the open: vanished, or the whole, right hash.
    const result = await reading.catch((error: { code: string }) => error);
    if ('code' in result) expect(result.code).toBe('INGEST_ERR_VANISHED');
    else expect(result.sha256).toBe(createHash('sha256').update(data).digest('hex'));
    fs.rmSync(d, { recursive: true });
  });
});

describe('readAndHashSync (small files on a hashing thread)', () => {
  const buffer = Buffer.alloc(SMALL_FILE_BYTES);

  it('hashes empty, small and buffer-sized files like readAndHash', async () => {
    const d = dir();
    for (const size of [0, 1, 4096, SMALL_FILE_BYTES, SMALL_FILE_BYTES + 7]) {
      const file = path.join(d, `f${size}`);
      const data = Buffer.alloc(size, size % 251);
      fs.writeFileSync(file, data);
      const identity = identityOf(fs.lstatSync(file));
      const result = readAndHashSync(file, identity, buffer);
      expect(result.sha256).toBe(createHash('sha256').update(data).digest('hex'));
      expect(result.sha256).toBe((await readAndHash(file, identity)).sha256);
      expect(result.identity).toEqual(identity);
    }
  });

  it('gives the same errors: changed, symlink, FIFO, vanished', async () => {
    const d = dir();
    const file = path.join(d, 'f');
    fs.writeFileSync(file, 'abc');
    const identity = identityOf(fs.lstatSync(file));
    fs.appendFileSync(file, 'def');
    expect(() => readAndHashSync(file, identity, buffer)).toThrow(
      expect.objectContaining({ code: 'INGEST_ERR_CHANGED' }),
    );
    const link = path.join(d, 'link');
    fs.symlinkSync(file, link);
    expect(() => readAndHashSync(link, identity, buffer)).toThrow(
      expect.objectContaining({ code: 'INGEST_ERR_NOT_REGULAR' }),
    );
    const fifo = path.join(d, 'fifo');
    const { execFileSync } = await import('node:child_process');
    execFileSync('mkfifo', [fifo]);
    expect(() => readAndHashSync(fifo, identity, buffer)).toThrow(
      expect.objectContaining({ code: 'INGEST_ERR_NOT_REGULAR' }),
    );
    expect(() => readAndHashSync(path.join(d, 'gone'), identity, buffer)).toThrow(
      expect.objectContaining({ code: 'INGEST_ERR_VANISHED' }),
    );
  });
});
