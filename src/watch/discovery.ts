import type fs from 'node:fs';
import type { Clock } from '../clock.js';
import { describeError } from '../errors.js';
import { lstatSyncIfExists } from '../fsutil.js';
import type { IngestorEvents } from '../events.js';
import type { Candidate, FsPath, Mode, SkipReason } from '../interfaces.js';
import type { Logger } from '../ops/logger.js';
import type { ResolvedOptions } from '../options.js';
import {
  baseName,
  dirName,
  displayPath,
  joinPath,
  pathKey,
  withSuffix,
  withoutSuffix,
} from '../paths.js';
import { identityOf } from '../identity.js';
import { isStable, observe, stableAt } from './completion.js';
import type { NameFilter } from './filters.js';
import { SIDECAR_SUFFIX, createNameFilter, isSkippedDirectory } from './filters.js';
import { PendingSet } from './pending.js';
import type { EntryType, ScanEntry } from './scanner.js';
import { scanTree, typeOf } from './scanner.js';
import { DirectoryWatcher } from './watcher.js';

export interface DiscoveryOptions {
  input: string;
  mode: Mode;
  stabilityMs: number;
  filter: NameFilter;
  clock: Clock;
  logger: Logger;
  events: IngestorEvents;
  /** True while a path is queued, being ingested, or backing off after a failure. */
  isBusy(path: FsPath): boolean;
  /**
   * Whether this daemon takes the file at `relPath` (relative to the input): with several
   * daemons on one input, each takes its share (see `Share`). Default: every file.
   */
  owns?(relPath: string): boolean;
  /**
   * Hands over a complete file. With `wait` (a scan), resolves when there is room for more
   * (backpressure). Without (a hint, a due file), takes it only if there is room now, and
   * resolves false if not: the file is looked at again shortly, and the scan finds it anyway.
   */
  submit(candidate: Candidate, wait: boolean): Promise<boolean>;
  /** Told about each regular file that is not complete yet (dry-run reports these). */
  onWaiting?(path: FsPath, relPath: string, why: string): void;
  /** Most not-yet-complete files remembered between scans. */
  pendingCapacity: number;
  /** Most hints held between two passes of the hint loop. Default 16,384. */
  hintCapacity?: number;
}

/** The parts of discovery's options that come from the resolved options as they are. */
export function discoveryOptionsOf(
  options: ResolvedOptions,
): Pick<DiscoveryOptions, 'input' | 'mode' | 'stabilityMs' | 'filter' | 'pendingCapacity'> {
  return {
    input: options.input,
    mode: options.mode,
    stabilityMs: options.stabilityMs,
    filter: createNameFilter(options),
    pendingCapacity: options.pendingCapacity,
  };
}

export interface ScanStats {
  files: number;
  complete: number;
  ms: number;
}

const SKIP_REPORT_CAPACITY = 100_000;

/**
 * A complete file that found the ready set full (files of its priority or higher fill it) is
 * looked at again after this long; the scan finds it meanwhile anyway. Long enough that
 * thousands of such files cost little: one lstat each per second.
 */
const NO_ROOM_RETRY_MS = 1_000;

/** An lstat result's type: anything that is none of the others is a device. */
function entryTypeOf(stat: fs.Stats): EntryType {
  return typeOf(stat) ?? 'device';
}

const TYPE_SKIPS: Partial<Record<EntryType, SkipReason>> = {
  __proto__: null,
  symlink: 'symlink',
  fifo: 'fifo',
  socket: 'socket',
  device: 'device',
} as Partial<Record<EntryType, SkipReason>>;

/**
 * Finds complete files: streaming scans are the authority, inotify hints make them fast, and
 * a bounded set of not-yet-complete files is re-examined the moment each can be complete.
 */
export class Discovery {
  readonly pending: PendingSet;
  readonly #o: DiscoveryOptions;
  readonly #reportedSkips = new Set<string>();
  readonly #hints = new Map<string, { dir: FsPath; name: FsPath | null }>();
  readonly #hintCapacity: number;
  #watcher: DirectoryWatcher | undefined;
  /** Set when hints were dropped (our queue or the kernel's): a scan should come soon. */
  rescanRequested = false;
  #wake: (() => void) | undefined;
  /** Set when the daemon stops: a scan under way goes no further. */
  #stopped = false;
  /** Scans of directories that appeared, one after another, beside the hint loop. */
  #subScans: Promise<void> = Promise.resolve();

  constructor(options: DiscoveryOptions) {
    this.#o = options;
    this.pending = new PendingSet(options.pendingCapacity);
    this.#hintCapacity = options.hintCapacity ?? 16_384;
  }

  /** Starts inotify hints on the input; subdirectories are added as scans meet them. */
  startWatching(onHint: () => void): void {
    this.#wake = onHint;
    this.#watcher = new DirectoryWatcher({
      onHint: (dir, name) => this.#hint(dir, name),
      onDegraded: (dir, error) => {
        const message = describeError(error);
        this.#o.logger.warn(
          { dir: displayPath(dir), err: message },
          'cannot watch directory; relying on periodic scans for it',
        );
        this.#o.events.emit('watch:degraded', { dir: displayPath(dir), error: message });
      },
    });
    this.#watcher.add(this.#o.input);
  }

  /** Resolves when the scans of new directories started so far have ended. */
  subScansDone(): Promise<void> {
    return this.#subScans;
  }

  /** Stops watching, and a scan under way at its next file (the daemon is stopping). */
  stopWatching(): void {
    this.#stopped = true;
    this.#watcher?.close();
    this.#watcher = undefined;
  }

  get hintCount(): number {
    return this.#hints.size;
  }

  #hint(dir: FsPath, name: FsPath | null): void {
    if (this.#hints.size >= this.#hintCapacity) {
      this.rescanRequested = true;
    } else {
      const key = name === null ? `dir:${pathKey(dir)}` : pathKey(joinPath(dir, name));
      this.#hints.set(key, { dir, name });
    }
    this.#wake?.();
  }

  /**
   * Looks at one file at the next turn of the hint loop, as if inotify had named it (an
   * operator released or retried it).
   */
  recheck(path: FsPath): void {
    this.#hint(dirName(path), baseName(path));
  }

  /** Examines the files that hints named since the last call. */
  async processHints(): Promise<void> {
    const hints = [...this.#hints.values()];
    this.#hints.clear();
    for (const { dir, name } of hints) {
      if (name === null) {
        this.rescanRequested = true;
        continue;
      }
      const path = joinPath(dir, name);
      const stat = lstatSyncIfExists(path);
      if (stat === undefined) {
        this.pending.delete(path);
        continue;
      }
      const relPath = this.#relative(path);
      const nameText = displayPath(name);
      const type = entryTypeOf(stat);
      if (type === 'dir') {
        // A directory that appeared: watch it first, then scan it once, so that files created
        // before the watch was in place are found now rather than at the next full scan.
        if (!isSkippedDirectory(nameText)) {
          this.#watcher?.add(path);
          // In the background, one after another, waiting for room like any scan: the hints
          // after it (an urgent file) are not held up by a directory of thousands of files.
          this.#subScans = this.#subScans.then(() =>
            this.scan(path, relPath).then(
              () => undefined,
              (error: unknown) =>
                this.#o.logger.warn(
                  { dir: displayPath(path), err: describeError(error) },
                  'cannot scan a new directory; the next full scan will',
                ),
            ),
          );
        }
        continue;
      }
      await this.#examine({ path, name, nameText, relPath, type }, stat, undefined, false);
      if (type === 'file' && this.#o.mode === 'sidecar' && !nameText.endsWith(SIDECAR_SUFFIX)) {
        // A data file that appeared after its marker.
        const marker = withSuffix(path, SIDECAR_SUFFIX);
        const markerStat = lstatSyncIfExists(marker);
        if (markerStat?.isFile()) {
          await this.#examine(
            {
              path: marker,
              name: baseName(marker),
              nameText: nameText + SIDECAR_SUFFIX,
              relPath: relPath + SIDECAR_SUFFIX,
              type: 'file',
            },
            markerStat,
            undefined,
            false,
          );
        }
      }
    }
  }

  #relative(path: FsPath): string {
    const text = displayPath(path);
    return text.startsWith(this.#o.input + '/') ? text.slice(this.#o.input.length + 1) : text;
  }

  /**
   * One full pass over `root` (default: the whole input). Every regular file is examined;
   * directories met are watched when watching is on.
   */
  async scan(root: FsPath = this.#o.input, relRoot = ''): Promise<ScanStats> {
    const started = this.#o.clock();
    // Cleared as the scan starts, not as it ends: a request made while it runs (hints dropped,
    // an operator's resume) may concern files it has already passed, and asks for another.
    if (root === this.#o.input) this.rescanRequested = false;
    let files = 0;
    let complete = 0;
    const walk = scanTree(root as string, {
      skipDirectory: isSkippedDirectory,
      onDirectoryError: (dir, error) =>
        this.#o.logger.error(
          { dir: displayPath(dir), err: describeError(error) },
          'cannot read directory; its files are not ingested until it can be read',
        ),
    });
    for await (const batch of walk) {
      if (this.#stopped) break;
      for (const entry of batch) {
        if (this.#stopped) break;
        const full: ScanEntry =
          relRoot === '' ? entry : { ...entry, relPath: `${relRoot}/${entry.relPath}` };
        if (entry.type === 'dir') {
          if (!isSkippedDirectory(entry.nameText)) this.#watcher?.add(entry.path);
          continue;
        }
        if (entry.type === 'file') files += 1;
        if (await this.#examine(full)) complete += 1;
      }
    }
    return { files, complete, ms: this.#o.clock() - started };
  }

  /** Re-examines the pending files whose window has passed. */
  async checkDue(): Promise<void> {
    for (const file of this.pending.takeDue(this.#o.clock())) {
      const stat = lstatSyncIfExists(file.path);
      if (stat === undefined) continue;
      await this.#examine(
        {
          path: file.path,
          name: baseName(file.path),
          nameText: displayPath(baseName(file.path)),
          relPath: file.relPath,
          type: entryTypeOf(stat),
        },
        stat,
        file.tracked,
        false,
      );
    }
  }

  /**
   * Puts a file back to wait another window: it changed while it was read, a process has it
   * open for writing, or ingestion is paused. `keepSince`: it has not changed, so it has been
   * quiet since its mtime (what status shows as its wait), not since now.
   */
  defer(candidate: Candidate, how: { why?: string; keepSince?: boolean } = {}): void {
    const now = this.#o.clock();
    const since = how.keepSince === true ? Math.min(candidate.identity.mtimeMs, now) : now;
    this.pending.set({
      path: candidate.path,
      relPath: candidate.relPath,
      tracked: { identity: candidate.identity, stableSince: since, observedAt: now },
      dueAt: now + this.#o.stabilityMs,
      ...(how.why === undefined ? {} : { why: how.why }),
    });
  }

  #skip(path: FsPath, reason: SkipReason, level: 'info' | 'debug'): void {
    const key = pathKey(path);
    if (this.#reportedSkips.has(key)) return;
    if (this.#reportedSkips.size >= SKIP_REPORT_CAPACITY) this.#reportedSkips.clear();
    this.#reportedSkips.add(key);
    const source = displayPath(path);
    this.#o.logger[level]({ event: 'skipped', source, reason }, `skipped: ${reason}`);
    this.#o.events.emit('file:skipped', { source, reason });
  }

  /**
   * Decides about one directory entry; true when it was handed over as complete. `wait`: a
   * scan waits for room to hand it over; a hint or a due file does not (see `submit`).
   */
  async #examine(
    entry: ScanEntry,
    known?: fs.Stats,
    tracked = this.pending.get(entry.path)?.tracked,
    wait = true,
  ): Promise<boolean> {
    const typeSkip = TYPE_SKIPS[entry.type];
    if (typeSkip !== undefined) {
      this.#skip(entry.path, typeSkip, 'info');
      return false;
    }
    if (entry.type !== 'file') return false;
    const reason = this.#o.filter(entry.nameText, entry.relPath);
    if (reason === 'sidecar-marker') return this.#examineMarker(entry, wait);
    if (reason !== undefined) {
      this.#skip(entry.path, reason, 'debug');
      return false;
    }
    if (this.#o.isBusy(entry.path)) return false;
    if (this.#o.owns?.(entry.relPath) === false) return false;
    if (this.#o.mode === 'sidecar') {
      if (
        this.#o.onWaiting !== undefined &&
        lstatSyncIfExists(withSuffix(entry.path, SIDECAR_SUFFIX)) === undefined
      ) {
        this.#o.onWaiting(entry.path, entry.relPath, `no ${entry.nameText}${SIDECAR_SUFFIX} yet`);
      }
      return false;
    }
    const stat = known ?? lstatSyncIfExists(entry.path);
    if (stat === undefined) return false;
    if (!stat.isFile()) return false;
    const now = this.#o.clock();
    const next = observe(tracked, identityOf(stat), now);
    if (isStable(next, now, this.#o.stabilityMs)) {
      this.pending.delete(entry.path);
      const candidate = {
        path: entry.path,
        relPath: entry.relPath,
        identity: next.identity,
        links: stat.nlink,
      };
      if (await this.#o.submit(candidate, wait)) return true;
      this.#notNow(entry, next);
      return false;
    }
    const dueAt = stableAt(next, this.#o.stabilityMs);
    this.pending.set({ path: entry.path, relPath: entry.relPath, tracked: next, dueAt });
    this.#o.onWaiting?.(
      entry.path,
      entry.relPath,
      `changed ${((now - next.stableSince) / 1000).toFixed(1)}s ago (window ${this.#o.stabilityMs / 1000}s)`,
    );
    return false;
  }

  /**
   * A complete file that found no room (a hint's or a due file's: they do not wait): it is
   * looked at again shortly, without losing how long it has been quiet.
   */
  #notNow(entry: ScanEntry, tracked: ReturnType<typeof observe>): void {
    const now = this.#o.clock();
    this.pending.set({
      path: entry.path,
      relPath: entry.relPath,
      tracked,
      dueAt: now + NO_ROOM_RETRY_MS,
      why: 'complete; waiting for room among the files ready to be read',
    });
  }

  /** Sidecar mode: `<name>.ok` marks `<name>` complete. */
  async #examineMarker(marker: ScanEntry, wait: boolean): Promise<boolean> {
    const dataPath = withoutSuffix(marker.path, SIDECAR_SUFFIX);
    const dataName = displayPath(baseName(dataPath));
    const dataRel = marker.relPath.slice(0, marker.relPath.length - SIDECAR_SUFFIX.length);
    if (dataName === '' || this.#o.filter(dataName, dataRel) !== undefined) {
      // A marker for a hidden, temporary or excluded file: both are left alone.
      this.#skip(marker.path, 'sidecar-marker', 'debug');
      return false;
    }
    if (this.#o.isBusy(dataPath)) return false;
    if (this.#o.owns?.(dataRel) === false) return false;
    const stat = lstatSyncIfExists(dataPath);
    if (stat === undefined) {
      this.#skip(marker.path, 'sidecar-marker', 'debug'); // a marker without data: left alone
      return false;
    }
    if (!stat.isFile()) {
      const type = entryTypeOf(stat);
      this.#skip(dataPath, TYPE_SKIPS[type] ?? 'not-regular', 'info');
      return false;
    }
    const identity = identityOf(stat);
    const candidate = { path: dataPath, relPath: dataRel, identity, links: stat.nlink };
    if (await this.#o.submit({ ...candidate, sidecar: marker.path }, wait)) return true;
    // The marker waits in the pending set: when due, it is examined again as a marker.
    this.#notNow(marker, { identity, stableSince: this.#o.clock(), observedAt: this.#o.clock() });
    return false;
  }
}
