import type fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decide } from '../../src/ingest/recovery.js';
import type { FileRow } from '../../src/interfaces.js';

const row: FileRow = {
  id: 1,
  kind: 'ingest',
  status: 'intent',
  sha256: 'a'.repeat(64),
  source: '/in/x',
  dest: '/wh/ingest_date=2024-01-01/x',
  tmp: null,
  manifest: '/m/2024/01/01/00/manifest.jsonl',
  sidecar: null,
  device: 1,
  inode: 10,
  size: 5,
  mtimeMs: 1000,
  duplicateOf: null,
  intentAt: 0,
  committedAt: null,
  completedAt: 0,
  hashMs: 1,
  error: null,
};

const stat = (ino: number, size = 5, mtimeMs = 1000) =>
  ({ dev: 1, ino, size, mtimeMs, isFile: () => true }) as unknown as fs.Stats;

describe('recovery decisions', () => {
  it('rolls back when the destination is not there: the source stays to be found again', () => {
    expect(
      decide(row, { destWhole: false, source: stat(10), dest: undefined, linePresent: false }),
    ).toEqual({ action: 'roll-back' });
  });

  it('records a vanished file when neither source nor destination exist', () => {
    expect(
      decide(row, { destWhole: false, source: undefined, dest: undefined, linePresent: false }),
    ).toEqual({ action: 'vanished' });
  });

  it('rolls forward after the link: removes the source (same inode) and appends the line', () => {
    expect(
      decide(row, { destWhole: true, source: stat(10), dest: stat(10), linePresent: false }),
    ).toEqual({ action: 'roll-forward', removeSource: true, appendLine: true });
  });

  it('rolls forward after a copy: removes the untouched source', () => {
    const copied = { ...row, tmp: '/wh/.ingestor-tmp/t' };
    expect(
      decide(copied, { destWhole: true, source: stat(10), dest: stat(99), linePresent: false }),
    ).toEqual({ action: 'roll-forward', removeSource: true, appendLine: true });
  });

  it('never removes a different file that now has the source name', () => {
    expect(
      decide(row, { destWhole: true, source: stat(11, 7), dest: stat(10), linePresent: true }),
    ).toEqual({ action: 'roll-forward', removeSource: false, appendLine: false });
  });

  it('does not append a second line when the line is already there', () => {
    expect(
      decide(row, { destWhole: true, source: undefined, dest: stat(10), linePresent: true }),
    ).toEqual({ action: 'roll-forward', removeSource: false, appendLine: false });
  });

  it('never appends a manifest line for a duplicate', () => {
    const dup = { ...row, kind: 'duplicate' as const, manifest: null };
    expect(
      decide(dup, { destWhole: true, source: undefined, dest: stat(10), linePresent: false }),
    ).toEqual({ action: 'roll-forward', removeSource: false, appendLine: false });
  });
});
