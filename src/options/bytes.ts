import { FlagValueError } from './values.js';

// Sizes and rates as operators write them: `52428800`, `50MiB`, `1.5G`, `500MB`, and for the
// free-space floor `10%`. Binary units (KiB, K) are powers of 1024 and decimal ones (KB) of 1000,
// as GNU coreutils reads them (`df -B`, `dd bs=`); a bare number is bytes.

const UNITS: Readonly<Record<string, number>> = {
  '': 1,
  b: 1,
  k: 1024,
  kib: 1024,
  kb: 1000,
  m: 1024 ** 2,
  mib: 1024 ** 2,
  mb: 1000 ** 2,
  g: 1024 ** 3,
  gib: 1024 ** 3,
  gb: 1000 ** 3,
  t: 1024 ** 4,
  tib: 1024 ** 4,
  tb: 1000 ** 4,
};

const SIZE = /^(\d+(?:\.\d*)?|\.\d+)\s*([a-z]*)$/i;
const PERCENT = /^(\d+(?:\.\d*)?|\.\d+)\s*%$/;

/** The free-space floor: bytes, or a percentage of each volume's size. */
export type SpaceFloor = { readonly bytes: number } | { readonly percent: number };

/** A byte count, from a number (bytes) or a string with an optional unit. */
function bytesOf(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const match = SIZE.exec(value.trim());
  if (match === null) return undefined;
  const unit = UNITS[match[2]!.toLowerCase()];
  if (unit === undefined) return undefined;
  const bytes = Math.floor(Number(match[1]) * unit);
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

/** `--max-file-size`, `--max-bytes-per-second`: a positive number of bytes. */
export function parseByteSize(flag: string, value: unknown): number {
  const bytes = bytesOf(value);
  if (bytes === undefined || bytes <= 0) {
    throw new FlagValueError(
      flag,
      `must be a positive size in bytes, optionally with a unit (50MiB, 2G, 500MB), got ${JSON.stringify(value)}`,
    );
  }
  return bytes;
}

/** `--min-free-space`: a size (as parseByteSize) or a percentage below 100 (`10%`). */
export function parseSpaceFloor(flag: string, value: unknown): SpaceFloor {
  const percent = typeof value === 'string' ? PERCENT.exec(value.trim()) : null;
  if (percent !== null) {
    const n = Number(percent[1]);
    if (n > 0 && n < 100) return { percent: n };
    throw new FlagValueError(
      flag,
      `must be a percentage above 0 and below 100, got ${JSON.stringify(value)}`,
    );
  }
  const bytes = bytesOf(value);
  if (bytes === undefined || bytes <= 0) {
    throw new FlagValueError(
      flag,
      `must be a size in bytes, optionally with a unit (500MiB, 2G), or a percentage of the volume (10%), got ${JSON.stringify(value)}`,
    );
  }
  return { bytes };
}

/** The floor in bytes on a volume of `totalBytes`. */
export function floorBytes(floor: SpaceFloor, totalBytes: number): number {
  return 'bytes' in floor ? floor.bytes : Math.ceil((totalBytes * floor.percent) / 100);
}

/**
 * The floor for people, on a volume of `totalBytes`: `500.0 MiB`, or `10% (3.2 GiB)` for a
 * percentage.
 */
export function describeFloor(
  floor: SpaceFloor,
  totalBytes: number,
  format: (bytes: number) => string,
): string {
  const bytes = format(floorBytes(floor, totalBytes));
  return 'bytes' in floor ? bytes : `${floor.percent}% (${bytes})`;
}
