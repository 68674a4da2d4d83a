import { describe, expect, it } from 'vitest';
import { escapeControls, table } from '../../src/ctl/format.js';
import {
  formatMs,
  formatPercent,
  formatRate,
  statsScreen,
  statusScreen,
} from '../../src/ctl/screens.js';

const GiB = 1024 ** 3;

describe("ctl's screens", () => {
  it('escapes control characters in cells, so that a name cannot break a table', () => {
    expect(escapeControls('/in/a.csv')).toBe('/in/a.csv');
    expect(escapeControls('C:\\plain')).toBe('C:\\plain');
    expect(escapeControls('/in/a\nb\t\r\x1b[2J\x7f\x85\\.csv')).toBe(
      '/in/a\\nb\\t\\r\\x1b[2J\\x7f\\x85\\\\.csv',
    );
    const text = table([{ id: 1, source: 'x\ny' }], ['id', 'source']);
    expect(text).toBe('ID  SOURCE\n1   x\\ny\n');
  });

  it('rounds rates, times and shares for people', () => {
    expect([0, 0.004, 0.0333, 2.5, 35.79, 1204.4].map(formatRate)).toEqual([
      '0',
      '<0.01',
      '0.03',
      '2.50',
      '35.8',
      '1204',
    ]);
    expect([0.42, 21.5, 3210].map(formatMs)).toEqual(['0.4 ms', '22 ms', '3.2 s']);
    expect([0, 0.004, 0.123].map(formatPercent)).toEqual(['0%', '0.4%', '12%']);
  });

  it('shows the status as a short screen: counts with sizes, queue, limits, volumes', () => {
    const text = statusScreen(
      {
        state: 'paused',
        paused: { kind: 'operator', reason: 'paused by CN=admin', since: '2026-11-24T01:00:00Z' },
        pauses: [
          { kind: 'operator', reason: 'paused by CN=admin', since: '2026-11-24T01:00:00Z' },
          { kind: 'volume', reason: 'the warehouse is full (ENOSPC)' },
        ],
        pid: 42,
        version: '0.1.0',
        uptimeSeconds: 7200,
        files: {
          ingested: { files: 1000, bytes: 2155929417 },
          duplicates: { files: 3, bytes: 3 * 1024 * 1024 },
          quarantined: 1,
          inFlight: 2,
          aborted: 0,
          vanished: 4,
          lastIngestAt: '2026-11-24T02:00:00.000Z',
          asOf: '2026-11-24T02:59:58.000Z',
        },
        queue: { queued: 5, inflight: 2, pending: 9, held: 1, backoff: 3 },
        limits: { concurrency: 16, batchSize: 256 },
        resources: {
          cpuPercent: 12.345,
          rssBytes: 100 * 1024 * 1024,
          heapUsedBytes: 20 * 1024 * 1024,
          eventLoopDelayMs: { mean: 1.23, p99: 15.6, max: 20 },
          openFiles: 40,
          inotifyWatches: 1,
          volumes: [
            { name: 'warehouse', path: '/wh', freeBytes: 10 * GiB, totalBytes: 40 * GiB },
            { name: 'state', path: '/st', error: 'EACCES' },
          ],
        },
      },
      Date.parse('2026-11-24T03:00:00.000Z'),
    );
    expect(text).toBe(
      [
        'ingestor: paused (pid 42, up 2h, version 0.1.0)',
        'PAUSED       paused by CN=admin since 2026-11-24T01:00:00Z (ctl resume ends it)',
        'PAUSED       the warehouse is full (ENOSPC)',
        'ingested     1000 files, 2.0 GiB, last at 2026-11-24T02:00:00.000Z',
        'duplicates   3 (3.0 MiB)',
        'quarantined  1',
        'in flight    2',
        'rolled back  0, vanished 4',
        'queue        5 queued, 2 in progress, 9 pending, 1 held, 3 backing off (ctl pending says why)',
        'limits       concurrency 16, batch size 256',
        'resources    CPU 12.3%, memory 100.0 MiB (heap 20.0 MiB), event loop delay 1.2 ms mean, 16 ms p99, 40 open files, 1 inotify watch',
        '(counts as of 2s ago)',
        '',
        'VOLUME     FREE      TOTAL     USED  PATH',
        'warehouse  10.0 GiB  40.0 GiB  75%   /wh',
        'state      -         -         -     /st (EACCES)',
        '',
      ].join('\n'),
    );
  });

  it('shows the stats as a row per window, with units', () => {
    const window = (seconds: number, files: number) => ({
      seconds,
      files,
      bytes: files * 1024 * 1024,
      filesPerSecond: files / seconds,
      bytesPerSecond: (files * 1024 * 1024) / seconds,
      duplicates: 0,
      failures: { changed: 0, retry: 2, quarantine: 0, pause: 0 },
      failureRate: { changed: 0, retry: 2 / (files + 2), quarantine: 0, pause: 0 },
      latencyMs: files === 0 ? null : { mean: 35.7, p95: 1500, samples: files },
    });
    const text = statsScreen({ windows: { '1m': window(60, 0), '5m': window(300, 150) } });
    expect(text.split('\n')).toEqual([
      'WINDOW  FILES/S  BYTES/S      FILES  BYTES      DUPLICATES  LATENCY MEAN  P95    FAILURES',
      '1m      0        0 B/s        0      0 B        0           -             -      retry 2 (100%)',
      '5m      0.50     512.0 KiB/s  150    150.0 MiB  0           36 ms         1.5 s  retry 2 (1.3%)',
      '',
    ]);
  });
});
