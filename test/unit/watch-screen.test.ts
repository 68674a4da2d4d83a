import { describe, expect, it } from 'vitest';
import { WatchScreen, eventLine } from '../../src/ctl/watch-screen.js';
import { EventRing, formatEventId, parseEventId } from '../../src/api/event-ring.js';
import type { StampedEvent } from '../../src/api/event-ring.js';

const MiB = 1024 * 1024;

describe('the watch screen', () => {
  it('shows files in flight with a bar and rate, drops them when done, and fits the width', () => {
    const screen = new WatchScreen('https://localhost:8443');
    const at = Date.UTC(2026, 10, 24, 1, 2, 3);
    screen.add(
      { id: '1-1', type: 'file.complete', data: { source: '/in/big.bin', bytes: 400 * MiB } },
      at,
    );
    screen.add(
      {
        id: '1-2',
        type: 'progress',
        data: {
          source: '/in/big.bin',
          bytesDone: 100 * MiB,
          bytes: 400 * MiB,
          bytesPerSecond: 50 * MiB,
          copying: true,
        },
      },
      at,
    );
    screen.add(
      { id: '1-3', type: 'file.complete', data: { source: '/in/small.csv', bytes: 10 } },
      at,
    );
    screen.add(
      { id: '1-4', type: 'file.ingested', data: { id: 7, source: '/in/small.csv', bytes: 10 } },
      at,
    );
    screen.add(
      {
        id: '1-5',
        type: 'stats',
        data: {
          filesPerSecond: 2,
          bytesPerSecond: 3 * MiB,
          queued: 1,
          inflight: 1,
          pending: 4,
          paused: false,
        },
      },
      at,
    );
    const lines = screen.render(200, 24);
    expect(lines[0]).toBe(
      'ingestor ctl watch  https://localhost:8443  2 files/s  3.0 MiB/s  queued 1  in flight 1  pending 4  connecting',
    );
    expect(lines).toContain('IN FLIGHT (1)');
    expect(lines).toContain(
      '  [#####---------------]  25%  100.0 MiB / 400.0 MiB  50.0 MiB/s  copy  /in/big.bin',
    );
    expect(lines).toContain('  01:02:03  file.ingested     /in/small.csv  #7  10 B');
    for (const line of screen.render(40, 10)) expect(line.length).toBeLessThanOrEqual(40);
    expect(screen.render(40, 5)).toHaveLength(5);
  });
});

describe('the event ring', () => {
  const event = (seq: number): StampedEvent => ({
    id: formatEventId(5, seq, `c${seq}`),
    seq,
    cursor: `c${seq}`,
    type: 'file.ingested',
    source: '/in/x',
    fileId: seq,
    frame: '',
  });

  it('keeps the last events and says which were lost, with their place in the state', () => {
    const ring = new EventRing(3);
    expect(ring.lostThrough).toBe(0);
    expect(ring.lostCursor).toBeUndefined();
    for (let seq = 1; seq <= 5; seq += 1) ring.push(event(seq));
    expect(ring.after(0).map((e) => e.seq)).toEqual([3, 4, 5]);
    expect(ring.after(3).map((e) => e.seq)).toEqual([4, 5]);
    expect(ring.lostThrough).toBe(2);
    expect(ring.lostCursor).toBe('c2');
  });

  it('parses the ids it sends, a bare cursor, and the older form; nothing else', () => {
    expect(parseEventId('5-12.MS4y')).toEqual({ live: { start: 5, seq: 12 }, cursor: 'MS4y' });
    expect(parseEventId('MS4y')).toEqual({ live: undefined, cursor: 'MS4y' });
    expect(parseEventId('5-12')).toEqual({ live: { start: 5, seq: 12 }, cursor: undefined });
    for (const id of ['5-12.', '5-1.a.b', '1e3-1.x', '', 'a b', '../x', 'x'.repeat(41)])
      expect(parseEventId(id)).toBeUndefined();
  });

  it('names the hour and its lines of a manifest.closed line', () => {
    const event = {
      id: '1-9',
      type: 'manifest.closed',
      data: { hour: '2026-11-24T10:00:00Z', lines: 3, bytes: 612, sha256: 'a'.repeat(64) },
    };
    expect(eventLine(event, Date.UTC(2026, 10, 24, 11, 0, 1))).toBe(
      '11:00:01  manifest.closed   hour 2026-11-24T10:00:00Z  612 B  lines=3',
    );
  });
});
