import { describe, expect, it } from 'vitest';
import { prettyLine } from '../../src/logger.js';
import { parseSince } from '../../src/status.js';

describe('parseSince', () => {
  const now = Date.UTC(2026, 0, 2);
  it('takes ages in s, m, h, d', () => {
    expect(parseSince('30s', now)).toBe(now - 30_000);
    expect(parseSince('15m', now)).toBe(now - 900_000);
    expect(parseSince('2h', now)).toBe(now - 7_200_000);
    expect(parseSince('1.5d', now)).toBe(now - 129_600_000);
  });
  it('takes ISO times', () => {
    expect(parseSince('2026-01-01T00:00:00Z', now)).toBe(Date.UTC(2026, 0, 1));
  });
  it('names the flag and the value when it is neither', () => {
    expect(() => parseSince('last tuesday', now)).toThrow(
      /--since must be an ISO date\/time or an age like 15m, 2h, 7d, got "last tuesday"/,
    );
  });
});

describe('prettyLine', () => {
  it('turns a JSON log line into time, level, message and fields', () => {
    const line = prettyLine(
      '{"level":"warn","time":"2026-01-02T03:04:05.678Z","pid":1,"event":"paused","msg":"ingestion paused","code":"ENOSPC","retryInMs":1000}\n',
    );
    const plain = line.replace(new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g'), '');
    expect(plain).toBe('03:04:05 WARN  ingestion paused code=ENOSPC retryInMs=1000\n');
  });
  it('passes through what is not JSON rather than losing it', () => {
    expect(prettyLine('not json')).toBe('not json\n');
  });
});
