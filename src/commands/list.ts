import picomatch from 'picomatch';
import { EXIT } from '../errors.js';
import type { FileRow } from '../interfaces.js';
import { fileViews } from '../ops/file-view.js';
import type { ListedFile } from '../ops/file-view.js';
import { formatBytes } from '../ops/human-units.js';
import type { ListCommandOptions, ListOptions } from '../options/types.js';
import { parseListStatus, parseSha256, requireGlob } from '../options/values.js';
import { baseName, displayPath } from '../paths.js';
import { asLocation, openState } from '../state/open.js';
import type { StateLocation } from '../state/open.js';
import type { HistoryFilter } from '../state/store.js';

export type { ListedFile };

/** Validates the status name and turns the options into the store's filter. */
function historyFilter(options: ListOptions): HistoryFilter {
  const filter: HistoryFilter = {};
  if (options.status !== undefined) {
    const named = parseListStatus(options.status);
    filter.status = named.status;
    if (named.kind !== null) filter.kind = named.kind;
  }
  if (options.since !== undefined) filter.since = options.since;
  if (options.sha256 !== undefined) filter.sha256Prefix = parseSha256(options.sha256);
  return filter;
}

/**
 * `--path`, matched as `--exclude` matches as far as a row allows: the state keeps absolute
 * sources and `list` does not know the input. A glob from `/` is matched against the whole
 * source path; any other glob with a `/` against every trailing part of it made of whole names
 * (`orders/*.csv` finds `/in/orders/a.csv` and `/in/2026/orders/a.csv`; a leading `./` is
 * dropped); every glob also against the bare name (`*.csv`).
 */
function pathMatcher(glob: string | undefined): ((row: FileRow) => boolean) | undefined {
  if (glob === undefined) return undefined;
  requireGlob('path', glob);
  const relative = glob.includes('/') && !glob.startsWith('/');
  const matches = picomatch(relative ? `**/${glob.replace(/^(\.\/)+/, '')}` : glob, { dot: true });
  return (row) => {
    const source = displayPath(row.source);
    return matches(source) || matches(displayPath(baseName(row.source)));
  };
}

/**
 * The history of files, newest first. Bad options throw at once (a UsageError naming the flag),
 * before the state is opened.
 */
export function list(state: string | StateLocation, options: ListOptions): Promise<ListedFile[]> {
  return listed(
    asLocation(state),
    options.limit,
    historyFilter(options),
    pathMatcher(options.path),
  );
}

async function listed(
  location: StateLocation,
  limit: number,
  filter: HistoryFilter,
  matches: ((row: FileRow) => boolean) | undefined,
): Promise<ListedFile[]> {
  const store = await openState(location, { readonly: true, mustExist: true });
  try {
    const rows: FileRow[] = [];
    if (limit > 0) {
      for await (const row of store.history(filter)) {
        if (matches !== undefined && !matches(row)) continue;
        rows.push(row);
        if (rows.length >= limit) break;
      }
    }
    return await fileViews(rows, (id) => store.getRow(id));
  } finally {
    await store.close();
  }
}

/** What `list` says when nothing matches: the filters it applied, or that the state is empty. */
export function describeNoMatch(options: ListOptions): string {
  const filters = [
    options.status === undefined ? undefined : `status=${options.status}`,
    options.since === undefined ? undefined : `since=${new Date(options.since).toISOString()}`,
    options.path === undefined ? undefined : `path=${options.path}`,
    options.sha256 === undefined ? undefined : `sha256=${options.sha256}`,
  ].filter((f) => f !== undefined);
  return filters.length === 0 ? 'no files recorded yet' : `no files match (${filters.join(', ')})`;
}

export function formatListed(f: ListedFile): string {
  const original =
    f.duplicateOf === null
      ? ''
      : `same as #${f.duplicateOf.id} ${f.duplicateOf.source}${f.duplicateOf.dest === null ? '' : ` -> ${f.duplicateOf.dest}`}`;
  const parts = [
    `#${f.id}`.padEnd(7),
    f.status.padEnd(11),
    f.committedAt ?? f.intentAt,
    f.source,
    f.dest === null ? '' : `-> ${f.dest}`,
    f.sha256 === null ? '' : `sha256 ${f.sha256.slice(0, 12)}`,
    formatBytes(f.bytes),
    f.latencyMs === null ? '' : `${f.latencyMs} ms`,
    original,
    f.error === null ? '' : `error: ${f.error}`,
  ];
  return parts.filter((p) => p !== '').join('  ');
}

/** `ingestor list`: the matching files, one line (or JSON line) each, on stdout. */
export async function listCommand(o: ListCommandOptions): Promise<number> {
  const files = await list(o, o.list);
  // One write: a reader that leaves early fails it once (see the end of bin/ingestor.ts).
  process.stdout.write(
    files.map((f) => `${o.json ? JSON.stringify(f) : formatListed(f)}\n`).join(''),
  );
  // On stderr: stdout stays exactly the rows (none), for scripts.
  if (files.length === 0) process.stderr.write(`ingestor: ${describeNoMatch(o.list)}\n`);
  return EXIT.ok;
}
