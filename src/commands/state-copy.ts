import { performance } from 'node:perf_hooks';
import { EXIT, IngestError } from '../errors.js';
import type { StateCommandOptions } from '../options/types.js';
import type { CopiedCounts } from '../state/copied-tables.js';
import { COPIED_TABLES } from '../state/copied-tables.js';
import { StateLock, lockHolderPid } from '../state/lock.js';
import { redactUrl } from '../state/pg/connect.js';
import { copyIntoPg } from '../state/pg/copy.js';
import { SqliteExport } from '../state/sqlite-export.js';

/**
 * Rows read from SQLite and inserted into PostgreSQL at a time: one statement each. Large
 * enough that the round trips do not count (500 for a million files, each sent while the
 * client prepares the next); larger pages copy no faster and hold more memory (a million
 * files: 2,000 rows 210 MB peak RSS, 5,000 rows 315 MB, about 12 s either way; docs/BENCHMARKS.md).
 */
export const COPY_PAGE_ROWS = 2000;

export interface StateCopyOptions {
  /** Rows per page. Default: COPY_PAGE_ROWS. */
  pageRows?: number;
}

/**
 * The SQLite state's own lock, as a daemon takes it: held for the whole copy, so that no daemon
 * starts on the state meanwhile and ingests files the copy would miss. Refused, naming the
 * daemon's pid, while one runs.
 */
function lockState(from: string): StateLock {
  try {
    return StateLock.acquire(from);
  } catch (error) {
    if (!(error instanceof IngestError) || error.code !== 'INGEST_ERR_LOCKED') throw error;
    const pid = lockHolderPid(from);
    throw new IngestError(
      'INGEST_ERR_LOCKED',
      `--from ${JSON.stringify(from)} is in use by a running ingestor${pid === undefined ? '' : ` (pid ${pid})`}: stop it, then copy (a state that changes while it is copied cannot be copied whole)`,
      { cause: error },
    );
  }
}

/**
 * Copies the SQLite state `from` into the empty PostgreSQL state `to`: every table, ids kept,
 * in one PostgreSQL transaction (src/state/pg/copy.ts), read from SQLite a page at a time in
 * one read transaction, under the SQLite state's lock. Resolves with the rows copied by table.
 */
export async function copyState(
  from: string,
  to: string,
  options: StateCopyOptions = {},
): Promise<CopiedCounts> {
  const pageRows = options.pageRows ?? COPY_PAGE_ROWS;
  const source = SqliteExport.open(from, 'from');
  let lock: StateLock | undefined;
  try {
    lock = lockState(from);
    source.begin();
    return await copyIntoPg(to, { pages: (table) => source.pages(table, pageRows) }, 'to');
  } finally {
    source.close();
    lock?.release();
  }
}

/** `state copy: 1,000,000 files, 1,234 events, ... copied to postgres://u:***@h/db in 42.0 s`. */
export function formatCopySummary(counts: CopiedCounts, to: string, ms: number): string {
  const parts = COPIED_TABLES.map(({ name, noun }) => {
    const n = counts[name];
    return `${n.toLocaleString('en-US')} ${noun[n === 1 ? 0 : 1]}`;
  });
  return `state copy: ${parts.join(', ')} copied to ${redactUrl(to)} in ${(ms / 1000).toFixed(1)} s`;
}

/** `ingestor state copy`: the copy, then its summary on stdout. */
export async function stateCommand(
  o: StateCommandOptions,
  now: () => number = () => performance.now(),
): Promise<number> {
  const started = now();
  const counts = await copyState(o.from, o.to);
  process.stdout.write(`${formatCopySummary(counts, o.to, now() - started)}\n`);
  return EXIT.ok;
}
