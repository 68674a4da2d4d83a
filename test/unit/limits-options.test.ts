import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { floorBytes, parseByteSize, parseSpaceFloor } from '../../src/options/bytes.js';
import { FreeSpaceFloor } from '../../src/ingest/space-floor.js';
import { ByteRate } from '../../src/ingest/byte-rate.js';

describe('sizes as operators write them', () => {
  it('reads bytes, binary and decimal units, fractions, any case', () => {
    const cases: [unknown, number][] = [
      ['52428800', 52_428_800],
      [52_428_800, 52_428_800],
      ['50MiB', 50 * 1024 ** 2],
      ['50M', 50 * 1024 ** 2],
      ['50mb', 50_000_000],
      ['1.5G', 1.5 * 1024 ** 3],
      ['2 GiB', 2 * 1024 ** 3],
      ['4k', 4096],
      ['1TB', 1e12],
      ['10B', 10],
    ];
    for (const [given, bytes] of cases) expect(parseByteSize('max-file-size', given)).toBe(bytes);
  });

  it('refuses what is not a positive size, naming the flag and the value', () => {
    for (const bad of [
      '',
      '0',
      '0.1',
      '-1',
      '1e3',
      '0x10',
      '5 parsecs',
      'MiB',
      '1.5.2G',
      1.5,
      -3,
    ]) {
      expect(() => parseByteSize('max-file-size', bad)).toThrow(
        `--max-file-size must be a positive size in bytes, optionally with a unit (50MiB, 2G, 500MB), got ${JSON.stringify(bad)}`,
      );
    }
  });

  it('a floor is a size or a percentage below 100', () => {
    expect(parseSpaceFloor('min-free-space', '10%')).toEqual({ percent: 10 });
    expect(parseSpaceFloor('min-free-space', '2.5 %')).toEqual({ percent: 2.5 });
    expect(parseSpaceFloor('min-free-space', '5GiB')).toEqual({ bytes: 5 * 1024 ** 3 });
    expect(floorBytes({ percent: 10 }, 1000)).toBe(100);
    expect(floorBytes({ bytes: 7 }, 1000)).toBe(7);
    for (const bad of ['0%', '100%', '150%', '%']) {
      expect(() => parseSpaceFloor('min-free-space', bad)).toThrow(/--min-free-space must be/);
    }
  });
});

describe('FreeSpaceFloor', () => {
  const MiB = 1024 ** 2;
  /** One directory for all three outputs, on a volume of 1000 MiB whose free space a test sets. */
  const volume = (freeMiB: () => number, floor = { bytes: 100 * MiB }) => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'floor-'));
    let now = 0;
    const statfs = () => ({ bavail: freeMiB() * 256, bsize: 4096, blocks: 1000 * 256 });
    const dirs = { warehouse: root, manifests: root, statePath: path.join(root, 'state.db') };
    return {
      floor: new FreeSpaceFloor(
        () => floor,
        dirs,
        () => now,
        statfs,
      ),
      tick: () => (now += 1000),
    };
  };

  it('names the volumes that share a filesystem together, and says how much is free', () => {
    const { floor } = volume(() => 50);
    const admission = floor.admit(0);
    expect(admission).toMatchObject({ kind: 'low' });
    if (admission.kind !== 'low') return;
    expect(admission.error.volume).toBe('warehouse and manifests and state');
    expect(admission.error.code).toBe('INGEST_ERR_LOW_SPACE');
    expect(admission.error.freeBytes).toBe(50 * MiB);
    expect(admission.error.message).toMatch(
      /^warehouse and manifests and state volume \(.*\) has 50\.0 MiB free: below --min-free-space 100\.0 MiB; resuming at 110\.0 MiB free$/,
    );
  });

  it('a percentage is of the volume size', () => {
    const { floor } = volume(() => 95, { percent: 10 } as never);
    expect(floor.admit(0)).toMatchObject({ kind: 'low' });
  });

  it('counts copies under way: a copy that does not fit waits for them, and one that could never fit is low', () => {
    const { floor, tick } = volume(() => 200);
    expect(floor.admit(60 * MiB).kind).toBe('admitted');
    // 60 MiB under way: 50 more would leave 90, below the floor; it waits for the copies.
    expect(floor.admit(50 * MiB)).toMatchObject({ kind: 'wait' });
    expect(floor.admit(30 * MiB).kind).toBe('admitted');
    floor.done(60 * MiB);
    floor.done(30 * MiB);
    tick();
    expect(floor.admit(50 * MiB).kind).toBe('admitted');
    floor.done(50 * MiB);
    tick();
    // Nothing under way, and 150 MiB would leave 50: never fits, so ingestion pauses, saying so.
    const low = floor.admit(150 * MiB);
    expect(low).toMatchObject({ kind: 'low' });
    if (low.kind === 'low') {
      expect(low.error.message).toMatch(
        /has 200\.0 MiB free, and a file to copy of 150\.0 MiB would leave less: below --min-free-space 100\.0 MiB; resuming when it fits above the floor$/,
      );
    }
  });

  it('once low, resumes only above the floor plus a tenth of it', () => {
    let free = 99;
    const { floor, tick } = volume(() => free);
    expect(floor.admit(0).kind).toBe('low');
    free = 105;
    tick();
    expect(floor.admit(0).kind).toBe('low');
    free = 110;
    tick();
    expect(floor.admit(0).kind).toBe('admitted');
    // Above the floor again, it does not need the margin any more.
    free = 101;
    tick();
    expect(floor.admit(0).kind).toBe('admitted');
  });
});

describe('ByteRate', () => {
  it('holds reads to the rate, and a change of rate ends the waits at the old one', async () => {
    const rate = new ByteRate(ByteRate.memory(1000));
    // Far more than the burst at 1000 B/s: the next read would wait for hours.
    rate.reserve(16 * 1024 * 1024);
    expect(rate.reserve(4096)).toBeGreaterThan(3_600_000);
    const waiting = rate.take(4096);
    const started = performance.now();
    rate.bytesPerSecond = 100 * 1024 * 1024;
    await waiting;
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(rate.reserve(4096)).toBe(0);
    rate.bytesPerSecond = 0;
    expect(rate.reserve(1e12)).toBe(0);
  });
});
