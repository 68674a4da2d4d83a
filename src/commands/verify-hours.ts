import path from 'node:path';
import { HOUR_MS, hourLabel } from '../clock.js';
import { SUCCESS_NAME, hourDir } from '../manifest/hours.js';
import { MANIFEST_NAME } from '../manifest/manifest-line.js';
import {
  formatSuccess,
  manifestNames,
  measureManifest,
  readSuccess,
} from '../manifest/success-marker.js';
import type { SuccessMarker } from '../manifest/success-marker.js';
import type { ProblemKind } from '../ops/verify-advice.js';
import type { ClosedHour, HourMarks } from '../state/store.js';

/** `YYYY/MM/DD/HH/_SUCCESS` relative to the manifests, and the temporary of one being written. */
const SUCCESS_PATH = /^(\d{4})\/(\d{2})\/(\d{2})\/(\d{2})\/_SUCCESS$/;
const SUCCESS_TMP_PATH = /^\d{4}\/\d{2}\/\d{2}\/\d{2}\/\._SUCCESS(\.[^/]+)?\.tmp$/;

type Report = (kind: ProblemKind, where: string, detail: string) => void;

/**
 * What the walk of the manifests found of closed hours: each hour's `_SUCCESS`, and the
 * temporaries of closes a stop cut short.
 */
export class HourFiles {
  /** `_SUCCESS` files by hour (its first ms). */
  readonly successes = new Map<number, string>();

  /**
   * Takes a file of the manifests' walk (`rel`: relative to them) that is about closed hours;
   * false for any other.
   */
  take(file: string, rel: string, problem: Report): boolean {
    const match = SUCCESS_PATH.exec(rel);
    if (match !== null) {
      const [, y, m, d, h] = match.map(Number) as [number, number, number, number, number];
      this.successes.set(Date.UTC(y, m - 1, d, h), file);
      return true;
    }
    if (SUCCESS_TMP_PATH.test(rel)) {
      problem(
        'temporary-file',
        file,
        'a _SUCCESS being written when the daemon stopped (the next start finishes closing the hour)',
      );
      return true;
    }
    return false;
  }
}

function describe(m: Pick<SuccessMarker, 'lines' | 'bytes' | 'sha256'>): string {
  return `${m.lines} lines, ${m.bytes} bytes, sha256 ${m.sha256}`;
}

/**
 * Checks each `_SUCCESS` against its manifest as it is now (lines, bytes, SHA-256), and with a
 * state, against the hours it closed: each closed hour has its `_SUCCESS`, saying what the
 * state recorded, and no other hour has one. A manifest that grew past what its `_SUCCESS`
 * says, with its first bytes unchanged, was appended to after the hour was closed.
 */
export async function verifyClosedHours(
  manifests: string,
  found: HourFiles,
  state: { marks: HourMarks; closed: readonly ClosedHour[] } | undefined,
  problem: Report,
): Promise<void> {
  const closed = new Map(state?.closed.map((c) => [c.hour, c]));
  for (const [hour, file] of [...found.successes].sort(([a], [b]) => a - b)) {
    const marker = await readSuccess(path.dirname(file));
    if (marker === undefined) continue; // removed since the walk
    if (typeof marker === 'string') {
      problem('success-bad', file, marker);
      continue;
    }
    if (marker.hour !== hour) {
      problem(
        'success-bad',
        file,
        `says hour ${hourLabel(marker.hour)}, in the directory of ${hourLabel(hour)}`,
      );
      continue;
    }
    const dir = path.dirname(file);
    const closedAt = new Date(marker.closedAt).toISOString();
    // One manifest (`manifest.jsonl`), or with several daemons each one `_SUCCESS` lists.
    const listed = marker.manifests ?? [{ name: MANIFEST_NAME, ...marker }];
    for (const said of listed) {
      const manifest = path.join(dir, said.name);
      const now = await measureManifest(manifest, said.bytes);
      if (now.lines !== said.lines || now.bytes !== said.bytes || now.sha256 !== said.sha256) {
        problem(
          'success-mismatch',
          manifest,
          now.bytes > said.bytes && now.prefixSha256 === said.sha256
            ? `appended to after its hour was closed at ${closedAt}: ${now.lines - said.lines} lines (${now.bytes - said.bytes} bytes) past the ${said.lines} lines its _SUCCESS counts`
            : `changed after its hour was closed at ${closedAt}: it has ${describe(now)}; its _SUCCESS says ${describe(said)}`,
        );
      }
    }
    if (marker.manifests !== undefined) {
      const names = new Set(listed.map((m) => m.name));
      for (const name of await manifestNames(dir)) {
        if (names.has(name)) continue;
        problem(
          'success-mismatch',
          path.join(dir, name),
          `a manifest its hour's _SUCCESS (closed at ${closedAt}) does not list: written after the hour was closed`,
        );
      }
    }
    if (state === undefined) continue;
    const record = closed.get(hour);
    if (record === undefined) {
      const through = state.marks.closedThrough;
      problem(
        'success-unexpected',
        file,
        `the state has not closed hour ${hourLabel(hour)} (${through === undefined ? 'no hour closed yet' : `closed through ${hourLabel(through)}`})`,
      );
    } else if (
      record.lines !== marker.lines ||
      record.bytes !== marker.bytes ||
      record.sha256 !== marker.sha256
    ) {
      problem(
        'success-mismatch',
        file,
        `says ${describe(marker)}; the state recorded ${describe(record)} when it closed the hour`,
      );
    }
  }
  for (const record of state?.closed ?? []) {
    if (found.successes.has(record.hour)) continue;
    problem(
      'success-missing',
      path.join(hourDir(manifests, record.hour), SUCCESS_NAME),
      `hour ${hourLabel(record.hour)} was closed at ${new Date(record.closedAt).toISOString()}, but its _SUCCESS is gone: jobs waiting for it wait forever; it said ${formatSuccess(record).trim()}`,
    );
  }
  // Hours close in order, each with its row: a gap in the rows would be a bug of the state.
  const rows = state?.closed ?? [];
  for (let i = 1; i < rows.length; i += 1) {
    if (rows[i]!.hour !== rows[i - 1]!.hour + HOUR_MS) {
      problem(
        'success-missing',
        `state hours ${hourLabel(rows[i - 1]!.hour)} to ${hourLabel(rows[i]!.hour)}`,
        'the state has no record of the hours between these two closed hours',
      );
    }
  }
}
