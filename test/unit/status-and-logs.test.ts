import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { prettyLine } from '../../src/ops/logger.js';
import { openSqliteState } from '../../src/state/sqlite-store.js';
import { formatStatus, status } from '../../src/commands/status.js';
import { formatBytes } from '../../src/ops/human-units.js';
import { parseSha256, parseSince } from '../../src/options/values.js';
import type { RuntimeSnapshot } from '../../src/state/store.js';

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

describe('parseSha256', () => {
  it('takes a whole hash or a prefix of at least 6 hex digits, in any case', () => {
    expect(parseSha256('ABCdef')).toBe('abcdef');
    expect(parseSha256('a'.repeat(64))).toBe('a'.repeat(64));
  });
  it('names the flag and the value otherwise', () => {
    for (const bad of ['abcde', 'abcdeg', 'a'.repeat(65), '', ' abcdef']) {
      expect(() => parseSha256(bad)).toThrow(
        `--sha256 must be a SHA-256 (64 hex digits) or a prefix of at least 6, got ${JSON.stringify(bad)}`,
      );
    }
  });
});

describe('formatBytes', () => {
  it('gives bytes below 1 KiB, then binary units with one decimal', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1023)).toBe('1023 B');
    expect(formatBytes(1024)).toBe('1.0 KiB');
    expect(formatBytes(12 * 1024 * 1024 + 512 * 1024)).toBe('12.5 MiB');
    expect(formatBytes(1.2 * 2 ** 30)).toBe('1.2 GiB');
    expect(formatBytes(2 ** 20 - 1)).toBe('1.0 MiB'); // not "1024.0 KiB"
    expect(formatBytes(3 * 2 ** 50)).toBe('3.0 PiB');
  });
});

/** A state with one runtime snapshot from "the daemon" (this process's pid). */
function stateWithDaemon(
  snapshotAt: number,
  pending = 3,
  oldestPending: RuntimeSnapshot['oldestPending'] = null,
) {
  const statePath = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'status-')), 'state.db');
  // The daemon's connection stays open, as a running daemon's does (its WAL exists).
  const daemon = openSqliteState(statePath);
  const snapshot = (at: number, p: number) =>
    daemon.writeRuntime(
      {
        pid: process.pid,
        startedAt: at - 60_000,
        queueDepth: 0,
        inflight: 0,
        pending: p,
        paused: null,
        oldestPending,
      },
      at,
    );
  snapshot(snapshotAt, pending);
  fs.writeFileSync(`${statePath}.pid`, `${process.pid}\n`);
  return { statePath, daemon, snapshot };
}

describe('status asks the running daemon for a live snapshot', () => {
  it('takes the snapshot the daemon writes when signalled', async () => {
    const { statePath, daemon, snapshot } = stateWithDaemon(Date.now() - 4000);
    const signals: [number, string][] = [];
    const report = await status(statePath, {
      kill: (pid, signal) => {
        signals.push([pid, signal]);
        setTimeout(() => snapshot(Date.now(), 7), 30); // the daemon answers a moment later
      },
    });
    daemon.close();
    expect(signals).toEqual([[process.pid, 'SIGUSR2']]);
    expect(report).toMatchObject({ running: true, refresh: 'live', daemon: { pending: 7 } });
    expect(report.snapshotAgeMs).toBeLessThan(1000);
    const text = formatStatus(report);
    expect(text).toMatch(/^pending +7; queue 0, in progress 0$/m);
    expect(text).toMatch(/^nothing ingested yet$/m);
  });

  it('shows the old snapshot with its age when it may not signal the daemon', async () => {
    const now = Date.now();
    const { statePath, daemon } = stateWithDaemon(now - 4200);
    const report = await status(statePath, {
      kill: () => {
        throw Object.assign(new Error('kill EPERM'), { code: 'EPERM' });
      },
    });
    daemon.close();
    expect(report).toMatchObject({
      running: true,
      refresh: 'no-permission',
      daemon: { pending: 3 },
    });
    expect(formatStatus(report, now)).toMatch(
      /^pending +3 \(as of 4\.2 s ago, not refreshed: no permission to signal the daemon\); queue 0/m,
    );
  });

  it('gives up after the timeout when no fresh snapshot comes', async () => {
    const now = Date.now();
    const { statePath, daemon } = stateWithDaemon(now - 2000);
    const started = Date.now();
    const report = await status(statePath, { kill: () => {}, refreshTimeoutMs: 100 });
    daemon.close();
    expect(Date.now() - started).toBeLessThan(1000);
    expect(report).toMatchObject({ running: true, refresh: 'no-answer', daemon: { pending: 3 } });
    expect(formatStatus(report, now)).toMatch(
      /^pending +3 \(as of 2\.0 s ago, not refreshed: the daemon did not answer in time\)/m,
    );
  });

  it('says why the oldest pending file waits when the daemon says so, in text and JSON', async () => {
    const now = Date.now();
    const reason = 'open for writing by another process';
    const oldest = { path: '/in/x.csv', since: now - 12_000, reason };
    const { statePath, daemon } = stateWithDaemon(now - 1000, 1, oldest);
    const denied = () => {
      throw Object.assign(new Error('kill EPERM'), { code: 'EPERM' });
    };
    const report = await status(statePath, { kill: denied });
    daemon.close();
    expect(formatStatus(report, now)).toMatch(
      /^pending +1 \(as of 1\.0 s ago, [^;]*; oldest: \/in\/x\.csv, waiting 12s \(open for writing by another process\)\); queue 0/m,
    );
    // --json: the snapshot's field as the daemon wrote it.
    expect(JSON.parse(JSON.stringify(report))).toMatchObject({ daemon: { oldestPending: oldest } });

    // A daemon that gives no reason (an older one): no parentheses.
    const older = stateWithDaemon(now - 1000, 1, { path: '/in/y.csv', since: now - 12_000 });
    const plain = await status(older.statePath, { kill: denied });
    older.daemon.close();
    expect(formatStatus(plain, now)).toMatch(/; oldest: \/in\/y\.csv, waiting 12s\); queue 0/m);
  });

  it('never signals a pid whose snapshot is old or not its own', async () => {
    const old = stateWithDaemon(Date.now() - 60_000);
    const calls: number[] = [];
    const kill = (pid: number) => void calls.push(pid);
    const report = await status(old.statePath, { kill });
    old.daemon.close();
    expect(report).toMatchObject({ running: false, refresh: 'not-running' });
    expect(formatStatus(report)).toMatch(/^ingestor: not running \(last seen 60s ago\)$/m);
    expect(formatStatus(report)).toMatch(/^pending +3 \(as of 60s ago\)/m);

    const other = stateWithDaemon(Date.now());
    fs.writeFileSync(`${other.statePath}.pid`, '1\n'); // alive, but not the snapshot's pid
    expect((await status(other.statePath, { kill })).running).toBe(false);
    other.daemon.close();
    expect(calls).toEqual([]);
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
