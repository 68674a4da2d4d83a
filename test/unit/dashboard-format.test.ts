import { describe, expect, it } from 'vitest';
// The page's own module, plain JavaScript run here as the browser runs it.
// @ts-expect-error: no declarations for the dashboard's modules (they are not TypeScript)
import { baseName, bytes, duration, rate, shown } from '../../dashboard/format.js';

describe("the dashboard's formats", () => {
  it('shows control characters in names escaped, as the command line does: two names never look alike', () => {
    expect(shown('line1\nline2\ttab\x1b[31mred')).toBe('line1\\nline2\\ttab\\x1b[31mred');
    expect(shown('line1 line2\ttab[31mred')).toBe('line1 line2\\ttab[31mred');
    expect(shown('plain\\name')).toBe('plain\\name'); // no control character: as it is
    expect(shown('a\\b\n')).toBe('a\\\\b\\n'); // with one, a backslash is doubled
    expect(baseName('/in/x\ny.csv')).toBe('x\\ny.csv');
  });

  it('writes sizes and rates in binary units, as the command line does', () => {
    expect(bytes(605_000)).toBe('591 KiB');
    expect(bytes(6 * 1024 ** 3)).toBe('6.0 GiB');
    expect(bytes(512)).toBe('512 B');
    expect(rate(36 * 1024 * 1024)).toBe('36.0 MiB/s');
    expect(duration(75)).toBe('1 min 15 s');
  });
});
