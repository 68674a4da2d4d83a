import fs from 'node:fs';
import type { FsPath } from '../interfaces.js';
import { fromBytes, pathKey } from '../paths.js';
import { errnoCode } from '../errors.js';

export interface WatcherOptions {
  /** A name in `dir` changed (created, written, renamed, removed); null: something in `dir`. */
  onHint(dir: FsPath, name: FsPath | null): void;
  /** A directory could not be watched (watch limit, permissions): scans still cover it. */
  onDegraded(dir: FsPath, error: unknown): void;
  /** Most directories watched at once. Default 8192; past it scans alone cover the rest. */
  maxWatches?: number;
}

/**
 * inotify hints through fs.watch: one watch per directory (never per file), so a
 * 1,000,000-file directory costs one watch. Hints are only hints: the kernel drops events when
 * its queue overflows and libuv does not report that, so the periodic scans stay the authority.
 */
export class DirectoryWatcher {
  readonly #watchers = new Map<string, fs.FSWatcher>();
  readonly #options: WatcherOptions;
  readonly #maxWatches: number;
  #limitReported = false;
  #closed = false;

  constructor(options: WatcherOptions) {
    this.#options = options;
    this.#maxWatches = options.maxWatches ?? 8192;
  }

  get size(): number {
    return this.#watchers.size;
  }

  add(dir: FsPath): void {
    const key = pathKey(dir);
    if (this.#closed || this.#watchers.has(key)) return;
    if (this.#watchers.size >= this.#maxWatches) {
      if (!this.#limitReported) {
        this.#limitReported = true;
        this.#options.onDegraded(dir, new Error(`more than ${this.#maxWatches} directories`));
      }
      return;
    }
    let watcher: fs.FSWatcher;
    try {
      watcher = fs.watch(dir, { encoding: 'buffer', persistent: false }, (_event, name) => {
        // Names arrive as raw bytes; the same conversion as the scanner's, so that a hinted
        // path and a scanned path of one file are the same key.
        this.#options.onHint(dir, name === null ? null : fromBytes(name as unknown as Buffer));
      });
    } catch (error) {
      const code = errnoCode(error);
      if (code === 'ENOENT' || code === 'ENOTDIR') return; // gone already
      this.#options.onDegraded(dir, error);
      return;
    }
    watcher.on('error', (error) => {
      // The directory was removed or became unreadable; a later scan re-adds it if it returns.
      this.#remove(key);
      if (errnoCode(error) !== 'ENOENT') this.#options.onDegraded(dir, error);
    });
    this.#watchers.set(key, watcher);
  }

  #remove(key: string): void {
    const watcher = this.#watchers.get(key);
    if (watcher === undefined) return;
    this.#watchers.delete(key);
    watcher.close();
  }

  close(): void {
    this.#closed = true;
    for (const key of [...this.#watchers.keys()]) this.#remove(key);
  }
}
