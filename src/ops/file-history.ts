import type { FileRow } from '../interfaces.js';
import { isNoDest } from '../naming.js';
import { displayPath } from '../paths.js';
import type { JournalEvent } from '../state/store.js';

/** One step of a file's history as operators see it. */
export interface HistoryEntry {
  at: string;
  type: string;
  /** The certificate subject of the operator who did it; null for the daemon's own steps. */
  actor: string | null;
  /** Read from the file's row (the ordinary path), or stored in the journal. */
  from: 'row' | 'journal';
  detail: Record<string, unknown>;
}

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * The ordinary path of a file, read from its row: complete, hashed, claimed (ingest, or the
 * duplicate of which row), moved, written to which manifest, committed; or quarantined,
 * released, rolled back. The daemon writes nothing more than the row for these
 * (docs/DESIGN.md), so their times are the row's: the move and the manifest line happen
 * between the intent and the commit and carry the commit's time.
 */
export function derivedHistory(row: FileRow, original: FileRow | undefined): HistoryEntry[] {
  const entries: HistoryEntry[] = [];
  const add = (at: number, type: string, detail: Record<string, unknown> = {}) =>
    entries.push({ at: iso(at), type, actor: null, from: 'row', detail });
  const dest = isNoDest(row.dest) ? null : displayPath(row.dest);
  const source = displayPath(row.source);
  if (row.kind === 'quarantine') {
    add(row.intentAt, 'quarantined', { source, dest, reason: row.error });
    if (row.status === 'released' && row.committedAt !== null) {
      add(row.committedAt, 'released', { restored: true });
    }
    return entries;
  }
  if (row.completedAt !== null) {
    add(row.completedAt, 'complete', { source, bytes: row.size });
    add(row.completedAt + (row.hashMs ?? 0), 'hashed', {
      sha256: row.sha256,
      hashMs: row.hashMs === null ? null : Math.round(row.hashMs * 10) / 10,
    });
  }
  add(
    row.intentAt,
    'claimed',
    row.kind === 'ingest'
      ? { outcome: 'ingest', dest }
      : {
          outcome: 'duplicate',
          duplicateOf:
            row.duplicateOf === null
              ? null
              : {
                  id: row.duplicateOf,
                  source: original === undefined ? null : displayPath(original.source),
                },
          dest,
        },
  );
  if (row.committedAt === null) return entries; // in flight: claimed and not yet committed
  if (row.status !== 'committed') {
    add(row.committedAt, row.status, { error: row.error });
    return entries;
  }
  add(row.committedAt, 'moved', { dest });
  if (row.manifest !== null) add(row.committedAt, 'manifest', { manifest: row.manifest });
  add(row.committedAt, 'committed', {});
  return entries;
}

/** A journal event as a history entry. */
export function journalEntry(event: JournalEvent): HistoryEntry {
  return {
    at: iso(event.at),
    type: event.type,
    actor: event.actor,
    from: 'journal',
    detail: { ...event.detail },
  };
}

/** The row's steps and the journal's events, in time order (the row's first on a tie). */
export function fileHistory(
  row: FileRow,
  original: FileRow | undefined,
  journal: readonly JournalEvent[],
): HistoryEntry[] {
  const all = [...derivedHistory(row, original), ...journal.map(journalEntry)];
  // A stable sort: each side keeps its own order; ISO strings of one format sort as times.
  return all.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
}
