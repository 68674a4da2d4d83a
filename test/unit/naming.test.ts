import { describe, expect, it } from 'vitest';
import { candidateName, splitExtension, truncateBytes } from '../../src/naming.js';

const SHA = 'abcdef0123456789'.repeat(4);

describe('warehouse names', () => {
  it('keeps the name on the first attempt', () => {
    expect(candidateName('x.csv', SHA, 0)).toBe('x.csv');
  });

  it('adds the content hash before the extension when the name is taken', () => {
    expect(candidateName('x.csv', SHA, 1)).toBe('x~abcdef012345.csv');
    expect(candidateName('x.csv.gz', SHA, 1)).toBe('x~abcdef012345.csv.gz');
    expect(candidateName('x.csv', SHA, 2)).toBe('x~abcdef012345-2.csv');
    expect(candidateName('noext', SHA, 1)).toBe('noext~abcdef012345');
  });

  it('never grows a name past 255 bytes, and never cuts a UTF-8 character', () => {
    const long = `${'é'.repeat(126)}.csv`; // 252 + 4 = 256 bytes
    const name = candidateName(long, SHA, 1) as string;
    expect(Buffer.byteLength(name)).toBeLessThanOrEqual(255);
    expect(name).toMatch(/^é+~abcdef012345\.csv$/);
    expect(Buffer.from(name).toString('utf8')).toBe(name);
  });

  it('keeps invalid UTF-8 bytes as bytes', () => {
    const raw = Buffer.from([0x66, 0xff, 0x2e, 0x63]);
    const name = candidateName(raw, SHA, 1);
    expect(Buffer.isBuffer(name)).toBe(true);
    expect((name as Buffer).subarray(0, 2)).toEqual(Buffer.from([0x66, 0xff]));
  });

  it('splits extensions sensibly', () => {
    const split = (s: string) => splitExtension(Buffer.from(s)).map((b) => b.toString());
    expect(split('.bashrc')).toEqual(['.bashrc', '']);
    expect(split('a.tar.gz')).toEqual(['a', '.tar.gz']);
    expect(split('report.2024-01-01')).toEqual(['report', '.2024-01-01']);
  });

  it('truncates at character boundaries', () => {
    expect(truncateBytes(Buffer.from('aé'), 2).toString()).toBe('a');
  });
});
