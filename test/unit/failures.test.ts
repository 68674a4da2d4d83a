import { describe, expect, it } from 'vitest';
import { IngestError } from '../../src/errors.js';
import { SourceReadError, backoffMs, classifyFailure } from '../../src/ingest/failures.js';

const sys = (code: string) => Object.assign(new Error(code), { code });

describe('failure classes', () => {
  it('a file that changed or vanished waits again', () => {
    expect(classifyFailure(new IngestError('INGEST_ERR_CHANGED', 'x'))).toBe('changed');
    expect(classifyFailure(new IngestError('INGEST_ERR_VANISHED', 'x'))).toBe('changed');
  });

  it('transient read errors are retried; others quarantine the file', () => {
    for (const code of ['EIO', 'EBUSY', 'EAGAIN', 'EMFILE', 'ENFILE', 'ETIMEDOUT', 'ESTALE']) {
      expect(classifyFailure(new SourceReadError('x', sys(code)))).toBe('retry');
    }
    for (const code of ['EACCES', 'EPERM', 'EISDIR', 'ENAMETOOLONG', 'EINVAL']) {
      expect(classifyFailure(new SourceReadError('x', sys(code)))).toBe('quarantine');
    }
    expect(classifyFailure(new IngestError('INGEST_ERR_NOT_REGULAR', 'x'))).toBe('quarantine');
  });

  it('a read that stalled is retried and counted; a file on a hung volume waits uncounted', () => {
    expect(classifyFailure(new IngestError('INGEST_ERR_READ_STALLED', 'x'))).toBe('retry');
    expect(classifyFailure(new IngestError('INGEST_ERR_VOLUME_STALLED', 'x'))).toBe('changed');
  });

  it('anything on the output side pauses ingestion instead of blaming the file', () => {
    for (const code of [
      'ENOSPC',
      'EDQUOT',
      'EROFS',
      'EIO',
      'EACCES',
      'SQLITE_FULL',
      'SQLITE_BUSY',
      'SQLITE_READONLY',
    ]) {
      expect(classifyFailure(sys(code))).toBe('pause');
    }
    expect(classifyFailure(new Error('no code at all'))).toBe('pause');
  });
});

describe('backoff', () => {
  it('doubles from the base, is capped, and jitters between half and one and a half', () => {
    expect(backoffMs(1, 1000, 30_000, () => 0.5)).toBe(1000);
    expect(backoffMs(3, 1000, 30_000, () => 0.5)).toBe(4000);
    expect(backoffMs(20, 1000, 30_000, () => 0.5)).toBe(30_000);
    expect(backoffMs(3, 1000, 30_000, () => 0)).toBe(2000);
    expect(backoffMs(3, 1000, 30_000, () => 0.999)).toBeLessThan(6000);
    // Jitter never takes a delay past the cap (a pause once waited 36.2 s against 30 s).
    expect(backoffMs(20, 1000, 30_000, () => 0.999)).toBe(30_000);
    expect(backoffMs(5, 1000, 30_000, () => 0.999)).toBe(23_984);
  });
});
