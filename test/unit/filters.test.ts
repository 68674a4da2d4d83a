import { describe, expect, it } from 'vitest';
import { createNameFilter } from '../../src/watch/filters.js';

describe('name filter', () => {
  const stability = createNameFilter({ mode: 'stability', exclude: ['*.bak', 'archive/**'] });
  const sidecar = createNameFilter({ mode: 'sidecar', exclude: [] });

  it('skips hidden names and the temporary suffixes, in any case', () => {
    expect(stability('.x.csv', '.x.csv')).toBe('hidden');
    expect(stability('x.csv.tmp', 'x.csv.tmp')).toBe('temporary');
    expect(stability('x.PART', 'x.PART')).toBe('temporary');
    expect(stability('.x.swp', '.x.swp')).toBe('hidden');
    expect(stability('x.swp', 'x.swp')).toBe('temporary');
  });

  it('keeps ordinary names, including ones that merely contain a suffix', () => {
    expect(stability('x.csv', 'x.csv')).toBeUndefined();
    expect(stability('x.tmp.csv', 'x.tmp.csv')).toBeUndefined();
    expect(stability('x.ok', 'x.ok')).toBeUndefined();
  });

  it('applies --exclude globs to the name and to the relative path', () => {
    expect(stability('a.bak', 'sub/a.bak')).toBe('excluded');
    expect(stability('a.csv', 'archive/a.csv')).toBe('excluded');
    expect(stability('a.csv', 'current/a.csv')).toBeUndefined();
  });

  it('treats .ok as a marker only in sidecar mode', () => {
    expect(sidecar('x.csv.ok', 'x.csv.ok')).toBe('sidecar-marker');
    expect(sidecar('x.csv', 'x.csv')).toBeUndefined();
  });
});
