import { createHash } from 'node:crypto';
import type { Hash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { CrashInjector } from '../crash.js';
import { fsyncDir, writeFully } from '../fsutil.js';
import { hasCode } from '../errors.js';
import { HOUR_MS, hourLabel } from '../clock.js';
import { SUCCESS_NAME, SUCCESS_TMP_NAME } from './hours.js';
import { MANIFEST_FILE } from './manifest-line.js';

/** What a closed hour's manifest holds, as `_SUCCESS` and the state record it. */
export interface ManifestMeasure {
  /** Lines (newlines) in `manifest.jsonl`. */
  lines: number;
  bytes: number;
  /** SHA-256 of the whole file, hex; of nothing for an empty hour. */
  sha256: string;
}

/** One manifest of an hour written by several daemons, as its `_SUCCESS` lists it. */
export interface NamedMeasure extends ManifestMeasure {
  /** Its file name in the hour's directory (`manifest.<node>.jsonl`). */
  name: string;
}

/**
 * What `_SUCCESS` says: the hour (its first ms), its manifest as closed, and when. With several
 * daemons (one manifest each), `manifests` lists each, and `lines`, `bytes` and `sha256` are
 * of them all together, in the order listed (by name).
 */
export interface SuccessMarker extends ManifestMeasure {
  hour: number;
  closedAt: number;
  manifests?: NamedMeasure[];
}

const SHA = /^[0-9a-f]{64}$/;
const HOUR_LABEL = /^\d{4}-\d{2}-\d{2}T\d{2}:00:00Z$/;

/**
 * `_SUCCESS` as written: one JSON object on one line, keys in a fixed order, so that the same
 * close gives the same bytes. `hour` and `closedAt` are ISO 8601 UTC.
 */
export function formatSuccess(m: SuccessMarker): string {
  const { lines, bytes, sha256 } = m;
  const closedAt = new Date(m.closedAt).toISOString();
  const each =
    m.manifests === undefined
      ? {}
      : {
          manifests: m.manifests.map((f) => ({
            name: f.name,
            lines: f.lines,
            bytes: f.bytes,
            sha256: f.sha256,
          })),
        };
  return `${JSON.stringify({ hour: hourLabel(m.hour), lines, bytes, sha256, closedAt, ...each })}\n`;
}

/** Parses `_SUCCESS`; a string says what is wrong with it. */
export function parseSuccess(text: string): SuccessMarker | string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    // What is wrong is exactly that it does not parse: the answer says so.
    return 'not valid JSON';
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return 'not a JSON object';
  }
  const v = value as Record<string, unknown>;
  const bad = [
    typeof v.hour === 'string' && HOUR_LABEL.test(v.hour) ? undefined : 'hour',
    Number.isSafeInteger(v.lines) && (v.lines as number) >= 0 ? undefined : 'lines',
    Number.isSafeInteger(v.bytes) && (v.bytes as number) >= 0 ? undefined : 'bytes',
    typeof v.sha256 === 'string' && SHA.test(v.sha256) ? undefined : 'sha256',
    typeof v.closedAt === 'string' && !Number.isNaN(Date.parse(v.closedAt))
      ? undefined
      : 'closedAt',
  ].filter((f) => f !== undefined);
  if (bad.length > 0) return `missing or bad field(s): ${bad.join(', ')}`;
  let manifests: NamedMeasure[] | undefined;
  if (v.manifests !== undefined) {
    if (!Array.isArray(v.manifests) || !v.manifests.every(isNamedMeasure)) {
      return 'missing or bad field(s): manifests';
    }
    manifests = v.manifests;
  }
  return {
    ...(manifests === undefined ? {} : { manifests }),
    hour: Date.parse(v.hour as string),
    lines: v.lines as number,
    bytes: v.bytes as number,
    sha256: v.sha256 as string,
    closedAt: Date.parse(v.closedAt as string),
  };
}

function isNamedMeasure(m: unknown): m is NamedMeasure {
  if (m === null || typeof m !== 'object') return false;
  const f = m as Record<string, unknown>;
  return (
    typeof f.name === 'string' &&
    MANIFEST_FILE.test(f.name) &&
    Number.isSafeInteger(f.lines) &&
    Number.isSafeInteger(f.bytes) &&
    typeof f.sha256 === 'string' &&
    SHA.test(f.sha256)
  );
}

/**
 * The manifests of an hour written by several daemons, each measured, and all of them together
 * in name order (what `_SUCCESS`'s `lines`, `bytes` and `sha256` say).
 */
export async function measureManifests(
  dir: string,
  names: readonly string[],
): Promise<ManifestMeasure & { manifests: NamedMeasure[] }> {
  const all = createHash('sha256');
  const manifests: NamedMeasure[] = [];
  for (const name of [...names].sort()) {
    manifests.push({ name, ...(await measureManifest(path.join(dir, name), undefined, all)) });
  }
  return {
    lines: manifests.reduce((n, m) => n + m.lines, 0),
    bytes: manifests.reduce((n, m) => n + m.bytes, 0),
    sha256: all.digest('hex'),
    manifests,
  };
}

/** The manifest files in an hour's directory, by name. */
export async function manifestNames(dir: string): Promise<string[]> {
  try {
    return (await fs.promises.readdir(dir)).filter((n) => MANIFEST_FILE.test(n)).sort();
  } catch (error) {
    if (hasCode(error, 'ENOENT')) return [];
    throw error;
  }
}

/**
 * Counts, sizes and hashes a manifest, streamed (an hour may hold a million lines). A missing
 * file is an empty one. With `prefixBytes`, also the SHA-256 of its first that many bytes
 * (verify: was it appended to after it was closed, or changed?), when it has that many.
 */
export async function measureManifest(
  file: string,
  prefixBytes?: number,
  /** Also fed every byte (the hash of several manifests together). */
  also?: Hash,
): Promise<ManifestMeasure & { prefixSha256?: string }> {
  const whole = createHash('sha256');
  const prefix = prefixBytes === undefined ? undefined : createHash('sha256');
  let lines = 0;
  let bytes = 0;
  try {
    for await (const chunk of fs.createReadStream(file, { highWaterMark: 1 << 20 })) {
      const buffer = chunk as Buffer;
      whole.update(buffer);
      also?.update(buffer);
      if (prefix !== undefined && bytes < prefixBytes!) {
        prefix.update(buffer.subarray(0, Math.max(0, prefixBytes! - bytes)));
      }
      for (let at = buffer.indexOf(0x0a); at >= 0; at = buffer.indexOf(0x0a, at + 1)) lines += 1;
      bytes += buffer.length;
    }
  } catch (error) {
    if (!hasCode(error, 'ENOENT')) throw error;
  }
  const measured = { lines, bytes, sha256: whole.digest('hex') };
  if (prefix === undefined || bytes < prefixBytes!) return measured;
  return { ...measured, prefixSha256: prefix.digest('hex') };
}

/** Whether `marker` says what `measure` measured of its hour. */
export function sameMeasure(a: ManifestMeasure, b: ManifestMeasure): boolean {
  return a.lines === b.lines && a.bytes === b.bytes && a.sha256 === b.sha256;
}

/**
 * Reads an hour's `_SUCCESS`: undefined when there is none, a string when it is not one this
 * daemon writes (the reason).
 */
export async function readSuccess(dir: string): Promise<SuccessMarker | string | undefined> {
  let text: string;
  try {
    text = await fs.promises.readFile(path.join(dir, SUCCESS_NAME), 'utf8');
  } catch (error) {
    if (hasCode(error, 'ENOENT')) return undefined;
    throw error;
  }
  return parseSuccess(text);
}

/**
 * Writes `_SUCCESS` so that a reader sees either none or the whole one, and so that it survives
 * a power cut: a hidden temporary name in the hour's directory, written and fsynced, renamed,
 * then the directory fsynced. A kill between the steps leaves the temporary (overwritten when
 * the close is redone) or the whole `_SUCCESS`.
 */
export async function writeSuccess(
  dir: string,
  marker: SuccessMarker,
  crash: CrashInjector,
  tmpName = SUCCESS_TMP_NAME,
): Promise<void> {
  if (marker.hour % HOUR_MS !== 0) throw new RangeError(`not an hour: ${marker.hour}`);
  const tmp = path.join(dir, tmpName);
  const handle = await fs.promises.open(tmp, 'w', 0o644);
  try {
    await writeFully(handle, Buffer.from(formatSuccess(marker)), 0);
    await handle.sync();
  } finally {
    await handle.close();
  }
  crash('success-written');
  await fs.promises.rename(tmp, path.join(dir, SUCCESS_NAME));
  await fsyncDir(dir);
  crash('success-renamed');
}
