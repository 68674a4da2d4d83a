import { describe, expect, it } from 'vitest';
import { IngestorEvents } from '../../src/events.js';
import type { Logger } from '../../src/ops/logger.js';
import { StalledVolumes, majorMinor, mountPointIn } from '../../src/ingest/stalled-volumes.js';

/** A logger that keeps its lines: [level, message]. */
function keptLines(): { logger: Logger; lines: [string, string][] } {
  const lines: [string, string][] = [];
  const at = (level: string) => (_fields: object, message: string) => {
    lines.push([level, message]);
  };
  const logger = { warn: at('warn'), info: at('info') } as unknown as Logger;
  return { logger, lines };
}

const T0 = Date.parse('2026-01-02T03:04:05.000Z');

describe('StalledVolumes (the per-volume gate of --read-stall-timeout)', () => {
  it('holds back the files of a volume while a read there is stuck, and only those', () => {
    const { logger, lines } = keptLines();
    const events = new IngestorEvents();
    const seen: string[] = [];
    events.on('volume:stalled', (e) => seen.push(`stalled ${e.mount}`));
    events.on('volume:resumed', (e) => seen.push(`resumed ${e.mount} ${e.stalledMs}`));
    let now = T0;
    const volumes = new StalledVolumes(
      logger,
      events,
      () => now,
      () => '/mnt/nfs',
    );
    expect(() => volumes.check('/mnt/nfs/a', 40)).not.toThrow();

    volumes.stuck(1, '/mnt/nfs/a', 40, T0 - 60_000);
    expect(() => volumes.check('/mnt/nfs/b', 40)).toThrow(
      expect.objectContaining({
        code: 'INGEST_ERR_VOLUME_STALLED',
        message:
          '/mnt/nfs/b waits: reads on /mnt/nfs are hung; an earlier read there has made no progress since 2026-01-02T03:03:05.000Z',
      }),
    );
    expect(() => volumes.check('/local/c', 41), 'another volume').not.toThrow();
    // A second stuck read there (in flight when the mount hung): no second line.
    volumes.stuck(2, '/mnt/nfs/d', 40, T0 - 30_000);
    volumes.stuck(2, '/mnt/nfs/d', 40, T0 - 30_000);
    expect(volumes.list()).toEqual([
      { device: 40, mount: '/mnt/nfs', since: T0 - 60_000, reads: 2 },
    ]);

    now = T0 + 5_000;
    volumes.returned(1);
    volumes.returned(99); // not a stuck read: nothing
    expect(() => volumes.check('/mnt/nfs/b', 40), 'one read still stuck').toThrow();
    volumes.returned(2);
    volumes.returned(2);
    expect(() => volumes.check('/mnt/nfs/b', 40)).not.toThrow();
    expect(volumes.list()).toEqual([]);
    expect(lines).toEqual([
      [
        'warn',
        'reads on /mnt/nfs are hung: /mnt/nfs/a has made no progress since 2026-01-02T03:03:05.000Z; no other file there is read until that read returns (files elsewhere go on)',
      ],
      ['info', 'reads on /mnt/nfs are back after 65.0 s: its files are read again'],
    ]);
    expect(seen).toEqual(['stalled /mnt/nfs', 'resumed /mnt/nfs 65000']);
  });

  it('names a volume whose mount point cannot be found by its device number', () => {
    const { logger } = keptLines();
    const volumes = new StalledVolumes(
      logger,
      new IngestorEvents(),
      () => T0,
      () => undefined,
    );
    volumes.stuck(1, '/x/a', 66307, T0);
    expect(volumes.list()[0]!.mount).toBe('device 259:3');
  });

  it('at a stop, says that the process waits for the reads still stuck', () => {
    const { logger, lines } = keptLines();
    const volumes = new StalledVolumes(
      logger,
      new IngestorEvents(),
      () => T0,
      () => '/mnt/nfs',
    );
    volumes.atStop();
    expect(lines).toEqual([]);
    volumes.stuck(1, '/mnt/nfs/a', 40, T0);
    volumes.atStop();
    expect(lines[1]).toEqual([
      'warn',
      '1 read(s) on /mnt/nfs still hung: the process ends when they return (kill -9 ends it now; nothing is lost)',
    ]);
  });
});

describe('mount points from mountinfo', () => {
  const mountinfo = [
    '22 1 259:3 / / rw,relatime - ext4 /dev/nvme0n1p3 rw',
    '40 22 0:39 / /srv/in/remote rw,nosuid - fuse.stallfs stallfs rw',
    '41 22 0:39 /sub /srv/in/remote\\040copy rw - fuse.stallfs stallfs rw',
  ].join('\n');

  it('takes the mount the file lies under, of several of the same device (bind mounts)', () => {
    expect(mountPointIn(mountinfo, 39, '/srv/in/remote copy/x')).toBe('/srv/in/remote copy');
    expect(mountPointIn(mountinfo, 39, '/srv/in/remote/x')).toBe('/srv/in/remote');
    expect(mountPointIn(mountinfo, 39, '/elsewhere/x')).toBe('/srv/in/remote');
    expect(mountPointIn(mountinfo, 66307, '/home/x')).toBe('/');
    expect(mountPointIn(mountinfo, 7, '/x')).toBeUndefined();
  });

  it('splits device numbers as the kernel does', () => {
    expect(majorMinor(39)).toBe('0:39');
    expect(majorMinor(66307)).toBe('259:3');
    // A minor past 255 and a major past 4095 use the high bits.
    expect(majorMinor(0x1234_5678_9abc)).toBe('6298:591751100');
  });
});
