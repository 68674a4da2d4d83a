import fs from 'node:fs';
import type { Clock } from '../clock.js';
import { systemClock } from '../clock.js';
import { IngestError, errnoCode } from '../errors.js';
import type { IngestorEvents } from '../events.js';
import type { FsPath } from '../interfaces.js';
import type { Logger } from '../ops/logger.js';
import { displayPath } from '../paths.js';

/** A volume whose reads hang: a read there was abandoned and has not returned yet. */
export interface StalledVolume {
  device: number;
  /** Its mount point (or `device MAJOR:MINOR` when it cannot be found). */
  mount: string;
  /** When the first stuck read began (ms since the epoch). */
  since: number;
  /** Reads abandoned there that have not returned. */
  reads: number;
}

/** Finds the mount point of `device`, preferring the one `path` lies under (bind mounts). */
export type MountOf = (device: number, path: string) => string | undefined;

/**
 * The per-volume gate of `--read-stall-timeout`. A read abandoned because it made no progress
 * keeps a thread (a pool thread, or a hashing thread) inside a system call until the mount
 * answers. While any such read of a volume is out, no new read of a file there is started:
 * it fails at once with INGEST_ERR_VOLUME_STALLED and waits, uncounted, so that a hung mount
 * holds one thread, not one per file. Files on other volumes go on. One warn line when a
 * volume's reads hang, one info line when every stuck read there has returned.
 */
export class StalledVolumes {
  /** The stuck reads, by the token their owner gave (a hashing job's id). */
  readonly #reads = new Map<number, number>();
  readonly #volumes = new Map<number, StalledVolume>();
  readonly #logger: Logger;
  readonly #events: IngestorEvents;
  readonly #clock: Clock;
  readonly #mountOf: MountOf;

  constructor(
    logger: Logger,
    events: IngestorEvents,
    clock: Clock = systemClock,
    mountOf: MountOf = mountPointOf,
  ) {
    this.#logger = logger;
    this.#events = events;
    this.#clock = clock;
    this.#mountOf = mountOf;
  }

  /** The volumes whose reads hang now. */
  list(): StalledVolume[] {
    return [...this.#volumes.values()].map((v) => ({ ...v }));
  }

  /** Throws INGEST_ERR_VOLUME_STALLED when reads on `device` hang: `path` is not to be read now. */
  check(path: FsPath, device: number): void {
    const volume = this.#volumes.get(device);
    if (volume === undefined) return;
    throw new IngestError(
      'INGEST_ERR_VOLUME_STALLED',
      `${displayPath(path)} waits: reads on ${volume.mount} are hung; an earlier read there has made no progress since ${new Date(volume.since).toISOString()}`,
    );
  }

  /**
   * The read `token` of `path` on `device`, in its system call since `since` (ms since the
   * epoch), was abandoned; `returned(token)` says when it comes back.
   */
  stuck(token: number, path: FsPath, device: number, since: number): void {
    if (this.#reads.has(token)) return;
    this.#reads.set(token, device);
    const volume = this.#volumes.get(device);
    if (volume !== undefined) {
      volume.reads += 1;
      volume.since = Math.min(volume.since, since);
      return;
    }
    const file = displayPath(path);
    const mount = this.#mountOf(device, file) ?? `device ${majorMinor(device)}`;
    this.#volumes.set(device, { device, mount, since, reads: 1 });
    const sinceIso = new Date(since).toISOString();
    this.#logger.warn(
      { event: 'volume-stalled', mount, device, source: file, since: sinceIso },
      `reads on ${mount} are hung: ${file} has made no progress since ${sinceIso}; no other file there is read until that read returns (files elsewhere go on)`,
    );
    this.#events.emit('volume:stalled', { mount, device, source: file, since });
  }

  /** The stuck read `token` returned, or the thread that was inside it ended. */
  returned(token: number): void {
    const device = this.#reads.get(token);
    if (device === undefined) return;
    this.#reads.delete(token);
    const volume = this.#volumes.get(device)!;
    volume.reads -= 1;
    if (volume.reads > 0) return;
    this.#volumes.delete(device);
    const stalledMs = Math.round(this.#clock() - volume.since);
    this.#logger.info(
      { event: 'volume-resumed', mount: volume.mount, device, stalledMs },
      `reads on ${volume.mount} are back after ${(stalledMs / 1000).toFixed(1)} s: its files are read again`,
    );
    this.#events.emit('volume:resumed', { mount: volume.mount, device, stalledMs });
  }
  /**
   * At a stop: says why the process may outlive it. A thread inside a stuck system call cannot
   * be ended, and the process ends only once every thread has.
   */
  atStop(): void {
    for (const volume of this.#volumes.values()) {
      this.#logger.warn(
        { event: 'volume-stalled-at-stop', mount: volume.mount, reads: volume.reads },
        `${volume.reads} read(s) on ${volume.mount} still hung: the process ends when they return (kill -9 ends it now; nothing is lost)`,
      );
    }
  }
}

/** `MAJOR:MINOR` of a device number, as /proc/self/mountinfo writes it. */
export function majorMinor(device: number): string {
  const dev = BigInt(device);
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & 0xfffff000n);
  const minor = (dev & 0xffn) | ((dev >> 12n) & 0xffffff00n);
  return `${major}:${minor}`;
}

/**
 * The mount point of `device` from /proc/self/mountinfo (procfs: it cannot hang with the
 * volume): of several (bind mounts), the longest one `path` lies under.
 */
export function mountPointOf(device: number, path: string): string | undefined {
  let text: string;
  try {
    text = fs.readFileSync('/proc/self/mountinfo', 'utf8');
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return undefined; // no procfs: the device number says it
    throw error;
  }
  return mountPointIn(text, device, path);
}

/** mountPointOf over the text of a mountinfo file. */
export function mountPointIn(mountinfo: string, device: number, path: string): string | undefined {
  const id = majorMinor(device);
  const points = mountinfo
    .split('\n')
    .map((line) => line.split(' '))
    .filter((fields) => fields[2] === id && fields[4] !== undefined)
    // Spaces and other odd bytes in mount points are written as octal escapes.
    .map((fields) =>
      fields[4]!.replace(/\\([0-7]{3})/g, (_, octal: string) =>
        String.fromCharCode(parseInt(octal, 8)),
      ),
    );
  const under = points
    .filter((p) => p === '/' || path === p || path.startsWith(`${p}/`))
    .sort((a, b) => b.length - a.length);
  return under[0] ?? points[0];
}
