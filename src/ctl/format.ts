// What ctl prints for people: tables of rows and lists of fields, cut to the terminal's width,
// each value on its line (control characters escaped). JSON (--json) is the API's, exact.

/** Escapes of the control characters that have a short one; the others are `\xNN`. */
const SHORT_ESCAPES: Readonly<Record<string, string>> = {
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
  '\\': '\\\\',
};

// eslint-disable-next-line no-control-regex
const CONTROLS = /[\x00-\x1f\x7f-\x9f]/;
// eslint-disable-next-line no-control-regex
const CONTROLS_AND_BACKSLASH = /[\x00-\x1f\x7f-\x9f\\]/g;

/**
 * A string with its control characters (C0, DEL, C1) escaped, `\n` for a newline: a file name
 * may hold any of them, and one would break a table's line or move the terminal's cursor. A
 * backslash is doubled only where the string has a control character, so that ordinary names
 * read as they are and an escaped one cannot be mistaken for another.
 */
export function escapeControls(text: string): string {
  if (!CONTROLS.test(text)) return text;
  return text.replace(
    CONTROLS_AND_BACKSLASH,
    (c) => SHORT_ESCAPES[c] ?? `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`,
  );
}

/**
 * A value as one cell: numbers and strings as they are (control characters escaped), nested
 * objects as short JSON (which escapes them itself).
 */
export function cell(value: unknown): string {
  if (value === null || value === undefined) return '-';
  if (typeof value === 'string') return escapeControls(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return escapeControls(JSON.stringify(value));
}

/** Cuts a line to `width` columns (… at the end), so that a screen's lines never wrap. */
export function fit(line: string, width: number | undefined): string {
  if (width === undefined || line.length <= width) return line;
  return width <= 1 ? line.slice(0, width) : `${line.slice(0, width - 1)}…`;
}

/** Rows under a header, columns padded to their widest cell; the last column is not padded. */
export function table(
  rows: readonly Record<string, unknown>[],
  columns: readonly string[],
  width?: number,
): string {
  if (rows.length === 0) return '(none)\n';
  const cells = rows.map((row) => columns.map((c) => cell(row[c])));
  const header = columns.map((c) => c.toUpperCase());
  const widths = columns.map((_, i) =>
    Math.max(header[i]!.length, ...cells.map((r) => r[i]!.length)),
  );
  const line = (r: string[]) =>
    fit(r.map((v, i) => (i === r.length - 1 ? v : v.padEnd(widths[i]!))).join('  '), width);
  return `${[header, ...cells].map(line).join('\n')}\n`;
}

/** An object's fields as `name: value` lines, nested objects as `a.b: value`. */
export function fields(value: unknown, width?: number, prefix = ''): string {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return `${fit(`${prefix === '' ? '' : `${prefix}: `}${cell(value)}`, width)}\n`;
  }
  let out = '';
  for (const [key, v] of Object.entries(value)) {
    const name = prefix === '' ? key : `${prefix}.${key}`;
    if (typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length > 0) {
      out += fields(v, width, name);
    } else {
      out += `${fit(`${name}: ${cell(v)}`, width)}\n`;
    }
  }
  return out;
}

/** The columns of a list of rows: the first row's fields, in its order. */
export function columnsOf(rows: readonly Record<string, unknown>[], preferred?: readonly string[]) {
  const first = rows[0] ?? {};
  const present = Object.keys(first);
  return preferred === undefined ? present : preferred.filter((c) => present.includes(c));
}

/** The one array an answer holds (`files`, `events`, ...), if it holds exactly one. */
export function rowsOf(body: unknown): Record<string, unknown>[] | undefined {
  if (Array.isArray(body)) return body as Record<string, unknown>[];
  if (typeof body !== 'object' || body === null) return undefined;
  const arrays = Object.values(body).filter(Array.isArray);
  return arrays.length === 1 ? (arrays[0] as Record<string, unknown>[]) : undefined;
}
