import type { FsPath } from '../interfaces.js';
import { pathKey } from '../paths.js';
import type { Tracked } from './completion.js';

export interface PendingFile {
  path: FsPath;
  relPath: string;
  tracked: Tracked;
  /** When to look again (ms). */
  dueAt: number;
  /** Why it was put back to wait, when it was (shown by `ingestor status`). */
  why?: string;
}

/**
 * Files seen but not complete yet, so that they are looked at again the moment they can be
 * complete instead of at the next full scan. Bounded: past `capacity` a file is simply not
 * tracked, and the next scan finds it again (its mtime carries what we need), so memory does
 * not grow with the directory.
 */
export class PendingSet {
  readonly #files = new Map<string, PendingFile>();
  readonly capacity: number;
  /** Set when a file could not be tracked for lack of room since the last reset. */
  overflowed = false;

  constructor(capacity: number) {
    this.capacity = capacity;
  }

  get size(): number {
    return this.#files.size;
  }

  get(path: FsPath): PendingFile | undefined {
    return this.#files.get(pathKey(path));
  }

  /** Tracks or updates a file; false when there was no room. */
  set(file: PendingFile): boolean {
    const key = pathKey(file.path);
    if (!this.#files.has(key) && this.#files.size >= this.capacity) {
      this.overflowed = true;
      return false;
    }
    this.#files.set(key, file);
    return true;
  }

  delete(path: FsPath): void {
    this.#files.delete(pathKey(path));
  }

  /** Every file tracked, in the order they were first seen (the API lists a bounded part). */
  files(): IterableIterator<PendingFile> {
    return this.#files.values();
  }

  /** Files whose time has come, removed from the set. */
  takeDue(now: number): PendingFile[] {
    const due: PendingFile[] = [];
    for (const [key, file] of this.#files) {
      if (file.dueAt <= now) {
        due.push(file);
        this.#files.delete(key);
      }
    }
    return due;
  }

  /** The file waiting longest (earliest stable-since), or undefined when empty. */
  oldest(): PendingFile | undefined {
    let oldest: PendingFile | undefined;
    for (const file of this.#files.values()) {
      if (oldest === undefined || file.tracked.stableSince < oldest.tracked.stableSince) {
        oldest = file;
      }
    }
    return oldest;
  }

  /** The earliest due time, or undefined when empty. */
  nextDue(): number | undefined {
    let next: number | undefined;
    for (const file of this.#files.values()) {
      if (next === undefined || file.dueAt < next) next = file.dueAt;
    }
    return next;
  }
}
