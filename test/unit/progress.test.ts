import { describe, expect, it } from 'vitest';
import { describeError, errnoMessage } from '../../src/errors.js';
import { formatBytes, formatRates } from '../../src/ops/progress.js';

describe('formatBytes and formatRates (the progress line and the --once summary)', () => {
  it('counts bytes in binary units', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1023)).toBe('1023 B');
    expect(formatBytes(1024)).toBe('1.0 KiB');
    expect(formatBytes(12.3 * 1024 * 1024)).toBe('12.3 MiB');
    expect(formatBytes(5 * 1024 ** 5)).toBe('5120.0 TiB');
  });

  it('gives files and bytes per second, even for a pass that took no time', () => {
    expect(formatRates(10, 20 * 1024 * 1024, 2)).toBe('5 files/s, 10.0 MiB/s');
    expect(formatRates(1, 10, 0)).toBe('1000 files/s, 9.8 KiB/s');
  });
});

describe('errnoMessage', () => {
  it("keeps a system error's own words and drops the syscall and path", () => {
    const error = Object.assign(new Error("EROFS: read-only file system, mkdir '/ro/wh'"), {
      code: 'EROFS',
      syscall: 'mkdir',
      path: '/ro/wh',
    });
    expect(errnoMessage(error)).toBe('EROFS: read-only file system');
    expect(errnoMessage(new Error('database or disk is full'))).toBe('database or disk is full');
  });

  it('describeError does not repeat a cause its message already gives', () => {
    const cause = Object.assign(new Error("EACCES: permission denied, access '/in'"), {
      code: 'EACCES',
      syscall: 'access',
    });
    const error = new Error('--input "/in" cannot be read: EACCES: permission denied', { cause });
    expect(describeError(error)).toBe(error.message);
  });
});
