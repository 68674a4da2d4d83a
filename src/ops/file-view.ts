import type { FileRow } from '../interfaces.js';
import { isNoDest } from '../naming.js';
import { displayPath } from '../paths.js';

/** One file as operators see it: `ingestor list --json` and the control API's `/v1/files`. */
export interface ListedFile {
  id: number;
  status: string;
  source: string;
  dest: string | null;
  sha256: string | null;
  bytes: number;
  completedAt: string | null;
  intentAt: string;
  committedAt: string | null;
  hashMs: number | null;
  latencyMs: number | null;
  error: string | null;
  /** For a duplicate: the ingested file with the same content (null if its row is gone). */
  duplicateOf: { id: number; source: string; dest: string | null } | null;
}

const NAMES: Record<string, string> = {
  'ingest/committed': 'ingested',
  'duplicate/committed': 'duplicate',
  'quarantine/committed': 'quarantined',
  'quarantine/released': 'released',
};

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** A row as operators see it; `original` is a duplicate's ingested row, when it has one. */
export function fileView(r: FileRow, original: FileRow | undefined): ListedFile {
  return {
    id: r.id,
    status: NAMES[`${r.kind}/${r.status}`] ?? (r.status === 'intent' ? 'in-flight' : r.status),
    source: displayPath(r.source),
    dest: isNoDest(r.dest) ? null : displayPath(r.dest),
    sha256: r.sha256 === '' ? null : r.sha256,
    bytes: r.size,
    completedAt: iso(r.completedAt),
    intentAt: iso(r.intentAt)!,
    committedAt: iso(r.committedAt),
    hashMs: r.hashMs === null ? null : Math.round(r.hashMs * 10) / 10,
    latencyMs:
      r.committedAt !== null && r.completedAt !== null ? r.committedAt - r.completedAt : null,
    error: r.error,
    duplicateOf:
      original === undefined
        ? null
        : {
            id: original.id,
            source: displayPath(original.source),
            dest: isNoDest(original.dest) ? null : displayPath(original.dest),
          },
  };
}

/** Rows as operators see them, each duplicate's original read once. */
export async function fileViews(
  rows: readonly FileRow[],
  getRow: (id: number) => Promise<FileRow | undefined>,
): Promise<ListedFile[]> {
  const originals = new Map<number, FileRow | undefined>();
  for (const id of new Set(rows.flatMap((r) => (r.duplicateOf === null ? [] : [r.duplicateOf])))) {
    originals.set(id, await getRow(id));
  }
  return rows.map((r) =>
    fileView(r, r.duplicateOf === null ? undefined : originals.get(r.duplicateOf)),
  );
}
