import path from 'node:path';
import { manifestPathFor } from './manifest-line.js';

/** The name downstream jobs wait for in an hour's directory, as for Hadoop and Spark outputs. */
export const SUCCESS_NAME = '_SUCCESS';

/**
 * Where `_SUCCESS` is written before its rename: hidden (readers skip dot names), and one fixed
 * name, so a close redone after a kill overwrites what the kill left instead of adding to it.
 */
export const SUCCESS_TMP_NAME = '._SUCCESS.tmp';

/** `<root>/YYYY/MM/DD/HH`: the directory of an hour's manifest and `_SUCCESS`. */
export function hourDir(root: string, hour: number): string {
  return path.dirname(manifestPathFor(root, hour));
}

const HOUR_PATH = /(?:^|\/)(\d{4})\/(\d{2})\/(\d{2})\/(\d{2})\/[^/]+$/;

/**
 * The hour of a file in an hour's directory (`.../YYYY/MM/DD/HH/manifest.jsonl`), whatever the
 * root; undefined for a path of another shape.
 */
export function hourOfPath(file: string): number | undefined {
  const match = HOUR_PATH.exec(file);
  if (match === null) return undefined;
  const [, y, m, d, h] = match.map(Number) as [number, number, number, number, number];
  const hour = Date.UTC(y, m - 1, d, h);
  // Date.UTC rolls 2026/13/40 over into another date: such a path names no hour.
  return hourDir('', hour).endsWith(match.slice(1).join('/')) ? hour : undefined;
}
