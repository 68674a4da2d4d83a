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
});
