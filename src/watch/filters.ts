import picomatch from 'picomatch';
import type { Mode, SkipReason } from '../interfaces.js';

/** Suffixes of files still being written by common tools (case-insensitive). */
export const TEMPORARY_SUFFIXES: readonly string[] = ['.tmp', '.part', '.swp'];

/** The sidecar that marks `<name>` complete in sidecar mode. */
export const SIDECAR_SUFFIX = '.ok';

export interface NameFilterOptions {
  mode: Mode;
  exclude: readonly string[];
}

/**
 * Returns why a file name is never ingested, or undefined when it may be. `name` is the last
 * component, `relPath` the path relative to the input (matched against `--exclude`).
 */
export type NameFilter = (name: string, relPath: string) => SkipReason | undefined;

export function createNameFilter(options: NameFilterOptions): NameFilter {
  const excluded =
    options.exclude.length === 0
      ? () => false
      : picomatch([...options.exclude], { dot: true, basename: false });
  const sidecar = options.mode === 'sidecar';
  return (name, relPath) => {
    if (name.startsWith('.')) return 'hidden';
    const lower = name.toLowerCase();
    if (TEMPORARY_SUFFIXES.some((suffix) => lower.endsWith(suffix))) return 'temporary';
    if (sidecar && name.endsWith(SIDECAR_SUFFIX)) return 'sidecar-marker';
    if (excluded(relPath) || excluded(name)) return 'excluded';
    return undefined;
  };
}

/** Directories never descended into: hidden ones (rsync and editors keep scratch there). */
export function isSkippedDirectory(name: string): boolean {
  return name.startsWith('.');
}

/** A file's `--priority`: the first rule whose glob matches its path (as --exclude), else 0. */
export type PriorityOf = (relPath: string) => number;

export function createPriorityOf(rules: readonly { glob: string; priority: number }[]): PriorityOf {
  if (rules.length === 0) return () => 0;
  const matchers = rules.map(({ glob, priority }) => ({
    matches: picomatch(glob, { dot: true, basename: false }),
    priority,
  }));
  return (relPath) => {
    const name = relPath.slice(relPath.lastIndexOf('/') + 1);
    for (const { matches, priority } of matchers) {
      if (matches(relPath) || matches(name)) return priority;
    }
    return 0;
  };
}
