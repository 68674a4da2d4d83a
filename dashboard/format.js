// Formatting of numbers, sizes, rates and times for people.

const intFormat = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const oneDecimal = new Intl.NumberFormat('en-US', {
  minimumFractionDigits: 1,
  maximumFractionDigits: 1,
});

export const DASH = '—';

const isNum = (n) => typeof n === 'number' && Number.isFinite(n);

/** 1,234 */
export function count(n) {
  return isNum(n) ? intFormat.format(n) : DASH;
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** 12.3 MiB (binary units, as the command line writes them) */
export function bytes(n) {
  if (!isNum(n)) return DASH;
  let value = Math.abs(n);
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const sign = n < 0 ? '-' : '';
  if (unit === 0) return `${sign}${intFormat.format(value)} B`;
  return `${sign}${value >= 100 ? intFormat.format(value) : oneDecimal.format(value)} ${UNITS[unit]}`;
}

/** 4.5 MiB/s */
export function rate(n) {
  return isNum(n) ? `${bytes(n)}/s` : DASH;
}

/** 12.3 files/s */
export function fileRate(n) {
  if (!isNum(n)) return DASH;
  return `${n >= 100 ? intFormat.format(n) : oneDecimal.format(n)} files/s`;
}

/** 1.5 % */
export function percent(n) {
  return isNum(n) ? `${oneDecimal.format(n)} %` : DASH;
}

/** 1.2 ms */
export function ms(n) {
  if (!isNum(n)) return DASH;
  if (n >= 1000) return `${oneDecimal.format(n / 1000)} s`;
  return `${oneDecimal.format(n)} ms`;
}

/** 3 s, 4 min 5 s, 2 h 3 min, 1 d 2 h */
export function duration(seconds) {
  if (!isNum(seconds) || seconds < 0) return DASH;
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

function toMs(time) {
  if (time === null || time === undefined || time === '') return NaN;
  return typeof time === 'number' ? time : Date.parse(time);
}

/** "3 s ago", "in 4 s" */
export function ago(time, now = Date.now()) {
  const t = toMs(time);
  if (!Number.isFinite(t)) return DASH;
  const diff = (now - t) / 1000;
  if (Math.abs(diff) < 1) return 'now';
  return diff > 0 ? `${duration(diff)} ago` : `in ${duration(-diff)}`;
}

/** 2026-11-24 06:27:02 (local time) */
export function dateTime(time) {
  const t = toMs(time);
  if (!Number.isFinite(t)) return DASH;
  const d = new Date(t);
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** The ISO time for a <time datetime>, or undefined. */
export function isoTime(time) {
  const t = toMs(time);
  return Number.isFinite(t) ? new Date(t).toISOString() : undefined;
}

/** The last part of a path. */
export function baseName(path) {
  if (typeof path !== 'string' || path === '') return DASH;
  const trimmed = path.replace(/\/+$/, '');
  const i = trimmed.lastIndexOf('/');
  return shown(i < 0 ? trimmed : trimmed.slice(i + 1) || trimmed);
}

// eslint-disable-next-line no-control-regex -- control characters are what it looks for
const CONTROL = /[\x00-\x1f\x7f]/;
const ESCAPES = { '\n': '\\n', '\t': '\\t', '\r': '\\r' };

/**
 * A name as people read it, as the command line shows it: control characters escaped (\n, \t,
 * \x1b), and in such a name a backslash doubled, so that two names never look the same.
 */
export function shown(text) {
  if (typeof text !== 'string' || !CONTROL.test(text)) return text;
  // eslint-disable-next-line no-control-regex -- the same
  return text.replace(/[\\\x00-\x1f\x7f]/g, (c) =>
    c === '\\' ? '\\\\' : (ESCAPES[c] ?? `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`),
  );
}

/** Text or a dash. */
export function text(value) {
  return value === null || value === undefined || value === '' ? DASH : String(value);
}
