import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  ManifestWriter,
  hashesPresent,
  repairTornTail,
} from '../../src/manifest/manifest-writer.js';

function tmpFile(): string {
  return path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'mw-')), 'a', 'b', 'manifest.jsonl');
}

describe('manifest writer', () => {
  it('appends durably, creating the hour directories', async () => {
    const file = tmpFile();
    const writer = new ManifestWriter();
    await writer.append(file, '{"sha256":"1"}\n');
    await writer.append(file, '{"sha256":"2"}\n');
    await writer.close();
    expect(fs.readFileSync(file, 'utf8')).toBe('{"sha256":"1"}\n{"sha256":"2"}\n');
  });

  it('cuts a torn last line and leaves whole lines alone', async () => {
    const file = tmpFile();
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, '{"a":1}\n{"a":2}\n{"a":');
    expect(await repairTornTail(file)).toBe(5);
    expect(fs.readFileSync(file, 'utf8')).toBe('{"a":1}\n{"a":2}\n');
    expect(await repairTornTail(file)).toBe(0);
    fs.writeFileSync(file, 'no newline at all');
    expect(await repairTornTail(file)).toBe(17);
    expect(fs.readFileSync(file, 'utf8')).toBe('');
    expect(await repairTornTail(path.join(path.dirname(file), 'missing'))).toBe(0);
  });

  it('repairs a torn line longer than one read chunk', async () => {
    const file = tmpFile();
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, `{"a":1}\n${'x'.repeat(200_000)}`);
    expect(await repairTornTail(file)).toBe(200_000);
    expect(fs.readFileSync(file, 'utf8')).toBe('{"a":1}\n');
  });

  it('finds which contents already have a line', async () => {
    const file = tmpFile();
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const a = 'a'.repeat(64);
    const b = 'b'.repeat(64);
    fs.writeFileSync(file, `{"path":"x","sha256":"${a}"}\n`);
    expect(await hashesPresent(file, new Set([a, b]))).toEqual(new Set([a]));
    expect(await hashesPresent(`${file}.none`, new Set([a]))).toEqual(new Set());
  });

  it('a volume that fills up mid-write is an error naming the manifest, never a short line', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mw-full-'));
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir]);
    expect(mounted.status, 'mounting a tmpfs needs root').toBe(0);
    try {
      const file = path.join(dir, 'manifest.jsonl');
      const writer = new ManifestWriter();
      await writer.append(file, `${'x'.repeat(4000)}\n`); // most of one page
      spawnSync('sh', ['-c', `dd if=/dev/zero of=${dir}/filler bs=4k 2>/dev/null; true`]);
      // write(2) takes the 95 bytes left in the page and reports no error: the rest must not
      // be dropped in silence.
      const appended = writer.append(file, `${'y'.repeat(299)}\n`);
      await expect(appended).rejects.toMatchObject({ code: 'ENOSPC' });
      await expect(appended).rejects.toThrow(`cannot append to manifest ${file}: ENOSPC`);
      await writer.close();
      expect(fs.statSync(file).size).toBe(4096); // the torn part, which recovery cuts
      expect(await repairTornTail(file)).toBe(95);
      fs.rmSync(path.join(dir, 'filler'));
      await writer.append(file, `${'y'.repeat(299)}\n`);
      await writer.close();
      expect(fs.readFileSync(file, 'utf8')).toBe(`${'x'.repeat(4000)}\n${'y'.repeat(299)}\n`);
    } finally {
      spawnSync('umount', ['-l', dir]);
    }
  });
});
