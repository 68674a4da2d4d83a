import { describe, expect, it } from 'vitest';
import { formatLine, manifestPathFor, partitionName } from '../../src/manifest/manifest-line.js';

const base = {
  sha256: 'a'.repeat(64),
  device: 2049,
  inode: 1234567,
  size: 987654,
  mtimeMs: 1730546400_999.5,
  dest: '/wh/ingest_date=2024-11-02/x.csv',
  ingestedAt: Date.UTC(2024, 10, 2, 11, 30),
};

describe('manifest lines', () => {
  it('has the spec fields first, as integers, and mtime in whole seconds', () => {
    const line = formatLine({ ...base, source: '/in/x.csv' });
    expect(line.endsWith('\n')).toBe(true);
    const parsed = JSON.parse(line);
    expect(Object.keys(parsed).slice(0, 6)).toEqual([
      'path',
      'sha256',
      'device',
      'inode',
      'size',
      'mtime',
    ]);
    expect(parsed).toMatchObject({
      path: '/in/x.csv',
      device: 2049,
      inode: 1234567,
      size: 987654,
      mtime: 1730546400,
      warehouse_path: base.dest,
      ingested_at: '2024-11-02T11:30:00.000Z',
    });
  });

  it('gives valid JSON on one line for quotes, backslashes, newlines and non-ASCII', () => {
    const source = '/in/a "b" \\c\nd\te — ü 日本.csv';
    const line = formatLine({ ...base, source });
    expect(line.split('\n')).toHaveLength(2);
    expect(JSON.parse(line).path).toBe(source);
    expect(JSON.parse(line).path_base64).toBeUndefined();
  });

  it('keeps the exact bytes of a name that is not UTF-8', () => {
    const source = Buffer.from([0x2f, 0x69, 0x6e, 0x2f, 0xff, 0xfe, 0x2e, 0x63]);
    const parsed = JSON.parse(formatLine({ ...base, source }));
    expect(Buffer.from(parsed.path_base64, 'base64')).toEqual(source);
    expect(parsed.path).toContain('\ufffd');
  });

  it('files lines by UTC hour and partitions by UTC date', () => {
    const at = Date.UTC(2024, 0, 2, 3, 59, 59);
    expect(manifestPathFor('/m', at)).toBe('/m/2024/01/02/03/manifest.jsonl');
    expect(partitionName(at)).toBe('ingest_date=2024-01-02');
  });
});
