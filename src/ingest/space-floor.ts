import fs from 'node:fs';
import path from 'node:path';
import { IngestError } from '../errors.js';
import type { SpaceFloor } from '../options/bytes.js';
import { describeFloor, floorBytes } from '../options/bytes.js';
import { formatBytes } from '../ops/human-units.js';

/**
 * Once a volume went below its floor, ingestion resumes only when it has this much more than
 * the floor (a tenth of it): files that fit just above the floor would otherwise pause and
 * resume it with every batch.
 */
const RESUME_MARGIN = 0.1;

/** A volume's free space is read again after this long (a statfs per file would cost more). */
const FRESH_MS = 200;

/** The daemon's output volumes, by the names operators know them by. */
export interface OutputDirs {
  readonly warehouse: string;
  readonly manifests: string;
  readonly statePath: string;
}

/** What is read of a volume: its free blocks for this user, its block size, its size. */
type StatFs = (dir: string) => Pick<fs.StatsFs, 'bavail' | 'bsize' | 'blocks'>;

interface Volume {
  /** `warehouse`, or `warehouse and manifests` when they share a filesystem. */
  readonly name: string;
  readonly path: string;
  /** Whether the warehouse is on it: copies across filesystems take their size there. */
  readonly warehouse: boolean;
  /** Went below the floor: it must get back above floor plus margin. */
  low: boolean;
  checkedAt: number;
  freeBytes: number;
  totalBytes: number;
}

/** Why ingestion pauses for space: which volume, how much is free, and what it waits for. */
export class LowSpaceError extends IngestError {
  readonly volume: string;
  readonly path: string;
  readonly freeBytes: number;
  readonly floorBytes: number;

  constructor(
    volume: Volume,
    floor: number,
    resumeAt: number,
    described: string,
    /** A copy that alone would cross the floor. */
    copyBytes = 0,
  ) {
    const copy =
      copyBytes > 0 ? `, and a file to copy of ${formatBytes(copyBytes)} would leave less` : '';
    const resume =
      copyBytes > 0
        ? `; resuming when it fits above the floor`
        : `; resuming at ${formatBytes(resumeAt)} free`;
    super(
      'INGEST_ERR_LOW_SPACE',
      `${volume.name} volume (${volume.path}) has ${formatBytes(volume.freeBytes)} free${copy}: below --min-free-space ${described}${resume}`,
    );
    this.name = 'LowSpaceError';
    this.volume = volume.name;
    this.path = volume.path;
    this.freeBytes = volume.freeBytes;
    this.floorBytes = floor;
  }
}

/** What `admit` says of a file. */
export type Admission =
  /** Go ahead (a copy's bytes are counted until `done`). */
  | { readonly kind: 'admitted' }
  /** A volume is below the floor: ingestion pauses until it is above floor plus margin. */
  | { readonly kind: 'low'; readonly error: LowSpaceError }
  /** This file's copy would take the volume below while copies are under way: it waits for them. */
  | { readonly kind: 'wait' };

/**
 * `--min-free-space`: ingestion pauses before an output volume (warehouse, manifests, state)
 * goes below the floor, not when a write fails. A volume is low when its free space, less the
 * copies under way into it, is below the floor, and stays low until that is above the floor
 * plus a margin; no file is read then. Above it, a file whose copy would take the warehouse
 * below the floor waits (for copies under way to end, or for room) while smaller ones go on.
 */
export class FreeSpaceFloor {
  /** The floor in force (an operator may change or lift it); undefined: none. */
  readonly #floor: () => SpaceFloor | undefined;
  readonly #dirs: OutputDirs;
  /** One per filesystem; found at the first admission under a floor (the directories exist by then). */
  #volumes: Volume[] | undefined;
  /** Bytes of copies into the warehouse admitted and not yet finished. */
  #copying = 0;
  readonly #now: () => number;
  readonly #statfs: StatFs;

  /** `now` and `statfs` are for tests. */
  constructor(
    floor: () => SpaceFloor | undefined,
    dirs: OutputDirs,
    now: () => number = Date.now,
    statfs: StatFs = fs.statfsSync,
  ) {
    this.#floor = floor;
    this.#dirs = dirs;
    this.#now = now;
    this.#statfs = statfs;
  }

  /** The output volumes, one per filesystem, by the names of the directories on each. */
  #volumesNow(): Volume[] {
    if (this.#volumes !== undefined) return this.#volumes;
    const byDevice = new Map<number, Volume>();
    const outputs: [string, string][] = [
      ['warehouse', this.#dirs.warehouse],
      ['manifests', this.#dirs.manifests],
      ['state', path.dirname(this.#dirs.statePath)],
    ];
    for (const [name, dir] of outputs) {
      const { dev } = fs.statSync(dir);
      const same = byDevice.get(dev);
      const volume: Volume = {
        name: same === undefined ? name : `${same.name} and ${name}`,
        path: same?.path ?? dir,
        warehouse: (same?.warehouse ?? false) || name === 'warehouse',
        low: false,
        checkedAt: -Infinity,
        freeBytes: 0,
        totalBytes: 0,
      };
      byDevice.set(dev, volume);
    }
    this.#volumes = [...byDevice.values()];
    return this.#volumes;
  }

  /** Whether a file with a copy of `copyBytes` into the warehouse (0: a rename) may be read now. */
  admit(copyBytes: number): Admission {
    const given = this.#floor();
    if (given === undefined) {
      for (const volume of this.#volumes ?? []) volume.low = false;
      this.#copying += copyBytes;
      return { kind: 'admitted' };
    }
    const now = this.#now();
    const volumes = this.#volumesNow();
    let warehouse: { volume: Volume; floor: number } | undefined;
    for (const volume of volumes) {
      if (now - volume.checkedAt >= FRESH_MS && !this.#read(volume, now)) continue;
      const floor = floorBytes(given, volume.totalBytes);
      const resumeAt = floor + Math.round(floor * RESUME_MARGIN);
      const left = volume.freeBytes - (volume.warehouse ? this.#copying : 0);
      volume.low = left < (volume.low ? resumeAt : floor);
      if (volume.low) {
        return {
          kind: 'low',
          error: new LowSpaceError(volume, floor, resumeAt, this.#describe(given, volume)),
        };
      }
      if (volume.warehouse) warehouse = { volume, floor };
    }
    if (copyBytes > 0 && warehouse !== undefined) {
      const { volume, floor } = warehouse;
      if (volume.freeBytes - this.#copying - copyBytes < floor) {
        // Copies under way end soon: it waits for them. With none, this copy alone would
        // cross the floor: the volume is as good as low, and ingestion pauses, saying so.
        if (this.#copying > 0) return { kind: 'wait' };
        volume.low = true;
        const resumeAt = floor + Math.round(floor * RESUME_MARGIN);
        const described = this.#describe(given, volume);
        return {
          kind: 'low',
          error: new LowSpaceError(volume, floor, resumeAt, described, copyBytes),
        };
      }
    }
    this.#copying += copyBytes;
    return { kind: 'admitted' };
  }

  /** A copy admitted with `admit(copyBytes)` is written (or failed): its space is counted by the volume now. */
  done(copyBytes: number): void {
    if (copyBytes === 0) return;
    this.#copying = Math.max(0, this.#copying - copyBytes);
    // What was written shows in the next statfs: read it at the next admission.
    for (const volume of this.#volumes ?? []) if (volume.warehouse) volume.checkedAt = -Infinity;
  }

  #describe(floor: SpaceFloor, volume: Volume): string {
    return describeFloor(floor, volume.totalBytes, formatBytes);
  }

  /** Reads a volume's free space; false if it cannot be read. */
  #read(volume: Volume, now: number): boolean {
    let s: ReturnType<StatFs>;
    try {
      s = this.#statfs(volume.path);
    } catch {
      // A directory that vanished or a volume that fails: the write that follows fails too,
      // and pauses for its own reason.
      return false;
    }
    volume.freeBytes = s.bavail * s.bsize;
    volume.totalBytes = s.blocks * s.bsize;
    volume.checkedAt = now;
    return true;
  }
}
