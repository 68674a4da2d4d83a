import { describe, expect, it } from 'vitest';
import { isStable, observe, stableAt } from '../../src/watch/completion.js';

const W = 5_000;
const id = (size: number, mtimeMs: number, inode = 1) => ({ device: 1, inode, size, mtimeMs });

describe('stability', () => {
  it('a file whose mtime is older than the window is complete at once', () => {
    const t = observe(undefined, id(10, 1_000), 10_000);
    expect(isStable(t, 10_000, W)).toBe(true);
  });

  it('a file written just now is complete one window after its mtime', () => {
    const t = observe(undefined, id(10, 9_000), 10_000);
    expect(isStable(t, 10_000, W)).toBe(false);
    expect(stableAt(t, W)).toBe(14_000);
    expect(isStable(observe(t, id(10, 9_000), 14_000), 14_000, W)).toBe(true);
  });

  it('a slow writer that pauses shorter than the window never becomes complete', () => {
    let t = observe(undefined, id(1, 0), 0);
    for (let now = 3_000; now <= 30_000; now += 3_000) {
      t = observe(t, id(now, now - 100), now);
      expect(isStable(t, now, W)).toBe(false);
    }
  });

  it('a change that keeps the old mtime (touch -d, preserved times) restarts the window', () => {
    const first = observe(undefined, id(10, 0), 8_000);
    const changed = observe(first, id(20, 0), 9_000);
    expect(changed.stableSince).toBe(8_000);
    expect(isStable(changed, 9_000, W)).toBe(false);
    expect(isStable(changed, 13_000, W)).toBe(true);
  });

  it('an mtime in the future counts from when the file was first seen', () => {
    const t = observe(undefined, id(10, 100_000), 10_000);
    expect(isStable(t, 10_000, W)).toBe(false);
    expect(isStable(observe(t, id(10, 100_000), 15_000), 15_000, W)).toBe(true);
  });

  it('a new inode at the same name is a change', () => {
    const t = observe(undefined, id(10, 0, 1), 1_000);
    const replaced = observe(t, id(10, 0, 2), 2_000);
    expect(replaced.stableSince).toBe(1_000);
  });
});
