import fs from 'node:fs';
import readline from 'node:readline';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { IntervalHistogram } from 'node:perf_hooks';
import { hasCode } from '../errors.js';
import { volumeUse } from '../ops/volumes.js';
import type { Volume, VolumeUse } from '../ops/volumes.js';

export type { Volume, VolumeUse } from '../ops/volumes.js';

/** The daemon's use of the machine, as `GET /v1/status` shows it. */
export interface ResourceUse {
  /** CPU time over the last interval, in percent of one core (threads can make it more than 100). */
  cpuPercent: number | null;
  rssBytes: number;
  heapUsedBytes: number;
  /** How late timers ran over the last interval: what every request and file waits on top. */
  eventLoopDelayMs: { mean: number; p99: number; max: number } | null;
  /** The interval the two above cover. */
  intervalMs: number | null;
  /** Open file descriptors; null where /proc cannot say. */
  openFiles: number | null;
  /** inotify watches held (one per watched directory); null where /proc cannot say. */
  inotifyWatches: number | null;
  volumes: VolumeUse[];
}

/** Figures that change slowly and cost a read of /proc: computed at most this often. */
const PROC_CACHE_MS = 1_000;

const ms = (ns: number) => Math.round(ns / 1e4) / 100;

/** /proc's errors that mean "cannot say here" (no procfs, a sandbox), not a fault. */
const NO_PROC = ['ENOENT', 'EACCES', 'EPERM'];

/** Open descriptors: entries of /proc/self/fd, less the one that lists them. */
async function countOpenFiles(): Promise<number | null> {
  try {
    return (await fs.promises.readdir('/proc/self/fd')).length - 1;
  } catch (error) {
    if (hasCode(error, ...NO_PROC)) return null;
    throw error;
  }
}

/** inotify watches: the `inotify` lines of the fdinfo of each inotify descriptor. */
async function countInotifyWatches(): Promise<number | null> {
  let fds: string[];
  try {
    fds = await fs.promises.readdir('/proc/self/fd');
  } catch (error) {
    if (hasCode(error, ...NO_PROC)) return null;
    throw error;
  }
  let watches = 0;
  for (const fd of fds) {
    try {
      if (!(await fs.promises.readlink(`/proc/self/fd/${fd}`)).includes('inotify')) continue;
      // Streamed: one line per watch, and a daemon may watch many directories.
      const lines = readline.createInterface({
        input: fs.createReadStream(`/proc/self/fdinfo/${fd}`),
        crlfDelay: Infinity,
      });
      for await (const line of lines) if (line.startsWith('inotify')) watches += 1;
    } catch (error) {
      // The descriptor closed meanwhile (the listing's own one, a file just finished).
      if (!hasCode(error, ...NO_PROC)) throw error;
    }
  }
  return watches;
}

/**
 * Samples CPU time and event-loop delay every `intervalMs`, so that a status shows the last
 * interval rather than the process's lifetime; reads /proc and the volumes when asked, at most
 * once a second however many clients ask.
 */
export class ResourceMonitor {
  readonly #intervalMs: number;
  readonly #delay: IntervalHistogram;
  #timer: NodeJS.Timeout | undefined;
  #last = { at: process.hrtime.bigint(), cpu: process.cpuUsage() };
  #sample: Pick<ResourceUse, 'cpuPercent' | 'eventLoopDelayMs' | 'intervalMs'> = {
    cpuPercent: null,
    eventLoopDelayMs: null,
    intervalMs: null,
  };
  #proc: { at: number; value: Promise<[number | null, number | null]> } | undefined;

  constructor(intervalMs = 2_000) {
    this.#intervalMs = intervalMs;
    this.#delay = monitorEventLoopDelay({ resolution: 10 });
  }

  start(): void {
    this.#delay.enable();
    this.#last = { at: process.hrtime.bigint(), cpu: process.cpuUsage() };
    this.#timer = setInterval(() => this.#takeSample(), this.#intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#delay.disable();
  }

  #takeSample(): void {
    const at = process.hrtime.bigint();
    const cpu = process.cpuUsage(this.#last.cpu);
    const wallMicros = Number(at - this.#last.at) / 1000;
    this.#sample = {
      cpuPercent: Math.round(((cpu.user + cpu.system) / wallMicros) * 1000) / 10,
      eventLoopDelayMs:
        this.#delay.count === 0
          ? null
          : {
              mean: ms(this.#delay.mean),
              p99: ms(this.#delay.percentile(99)),
              max: ms(this.#delay.max),
            },
      intervalMs: Math.round(wallMicros / 1000),
    };
    this.#delay.reset();
    this.#last = { at, cpu: process.cpuUsage() };
  }

  #procFigures(): Promise<[number | null, number | null]> {
    const now = Date.now();
    if (this.#proc === undefined || now - this.#proc.at >= PROC_CACHE_MS) {
      this.#proc = { at: now, value: Promise.all([countOpenFiles(), countInotifyWatches()]) };
    }
    return this.#proc.value;
  }

  /** The figures now: the last interval's CPU and delay, memory, descriptors, volumes. */
  async read(volumes: readonly Volume[]): Promise<ResourceUse> {
    const memory = process.memoryUsage();
    const [[openFiles, inotifyWatches], use] = await Promise.all([
      this.#procFigures(),
      Promise.all(volumes.map(volumeUse)),
    ]);
    return {
      ...this.#sample,
      rssBytes: memory.rss,
      heapUsedBytes: memory.heapUsed,
      openFiles,
      inotifyWatches,
      volumes: use,
    };
  }
}
