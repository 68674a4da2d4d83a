// Durations and sizes for people, as `status` and `list` show them. The progress line and the
// --once summary have their own formatBytes (src/ops/progress.ts), which shows a rate's
// fractional bytes rounded and does not round before choosing the unit.

/** An age, rounded to the largest unit that keeps it readable: `45s`, `12m`, `5h`, `3d`. */
export function ago(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  if (s < 172_800) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86_400)}d`;
}

/** An age with a tenth of a second while it is short (`4.2 s`), else as `ago` (`5m`). */
export function age(ms: number): string {
  return ms < 60_000 ? `${(Math.max(0, ms) / 1000).toFixed(1)} s` : ago(ms);
}

const BYTE_UNITS = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'] as const;

/** A size for people: `512 B`, `1.2 GiB` (binary units, one decimal). */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  let value = bytes / 1024;
  let unit = 0;
  // Round first, so that 1023.96 KiB is shown as 1.0 MiB rather than 1024.0 KiB.
  while (Math.round(value * 10) / 10 >= 1024 && unit < BYTE_UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(1)} ${BYTE_UNITS[unit]!}`;
}
