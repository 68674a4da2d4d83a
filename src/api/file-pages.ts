import type { FileRow } from '../interfaces.js';
import type { HistoryFilter, StateReader } from '../state/store.js';
import { badParameter } from './errors.js';

/**
 * How much of the state one request of `/v1/files` may read. A filter that matches few rows
 * (a rare `q`, `status=quarantined`) would otherwise scan every row in one call, and the state
 * answers the daemon's claims on the same thread: a request reads ids a window at a time and
 * stops after `maxIds`, answering with what it found and a cursor to go on from.
 */
export interface ScanBounds {
  /** Ids read per call of the state. */
  windowIds: number;
  /** Ids read per request at most. */
  maxIds: number;
}

export const DEFAULT_SCAN: ScanBounds = Object.freeze({ windowIds: 20_000, maxIds: 1_000_000 });

export interface FilesPage {
  rows: FileRow[];
  /** Ids below this one are the next page's; undefined: there are no more rows to read. */
  next: number | undefined;
}

const CURSOR_PREFIX = 'below:';

/** The cursor a client passes back: opaque to it, so that its form can change. */
export function encodeCursor(id: number): string {
  return Buffer.from(`${CURSOR_PREFIX}${id}`, 'utf8').toString('base64url');
}

/** The id a cursor stands for; a 400 naming `cursor` for anything this API did not give. */
export function decodeCursor(cursor: string): number {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const match = new RegExp(`^${CURSOR_PREFIX}([1-9][0-9]{0,15})$`).exec(text);
  const id = match === null ? Number.NaN : Number(match[1]);
  if (!Number.isSafeInteger(id)) {
    throw badParameter(
      'cursor',
      `is not one this API gave (pass "next" as it came), got ${JSON.stringify(cursor)}`,
    );
  }
  return id;
}

/** The newest row's id, or undefined in an empty state. */
async function newestId(state: StateReader): Promise<number | undefined> {
  for await (const row of state.history({})) return row.id;
  return undefined;
}

/**
 * Up to `limit` rows matching `filter`, newest first, with ids below `below` (none: from the
 * newest). Keyset pagination on the row id: a page costs the same at row 10 as at row
 * 10,000,000, and rows added meanwhile never shift a page.
 */
export async function filesPage(
  state: StateReader,
  filter: HistoryFilter,
  limit: number,
  below: number | undefined,
  bounds: ScanBounds = DEFAULT_SCAN,
): Promise<FilesPage> {
  let high = below ?? ((await newestId(state)) ?? 0) + 1;
  const rows: FileRow[] = [];
  let read = 0;
  while (high > 1 && rows.length < limit && read < bounds.maxIds) {
    const low = Math.max(1, high - bounds.windowIds);
    for await (const row of state.history({ ...filter, idBelow: high, idAtLeast: low })) {
      rows.push(row);
      if (rows.length >= limit) break;
    }
    read += high - low;
    high = low;
  }
  if (rows.length >= limit) {
    const last = rows[rows.length - 1]!.id;
    return { rows, next: last > 1 ? last : undefined };
  }
  return { rows, next: high > 1 ? high : undefined };
}
