import type { FileRow, FsPath, RowKind } from '../interfaces.js';
import type { ClaimInput, Placement, QuarantineInput } from './store.js';
import { fromBytes, toBytes } from '../paths.js';

/** A row of `files` as SQLite returns it: paths as bytes, columns in snake case. */
export interface RawRow {
  id: number;
  kind: RowKind;
  status: FileRow['status'];
  sha256: string;
  source: Buffer;
  dest: Buffer;
  tmp: Buffer | null;
  manifest: string | null;
  sidecar: Buffer | null;
  device: number;
  inode: number;
  size: number;
  mtime_ms: number;
  duplicate_of: number | null;
  intent_at: number;
  committed_at: number | null;
  completed_at: number | null;
  hash_ms: number | null;
  error: string | null;
}

export function toRow(raw: RawRow): FileRow {
  return {
    id: raw.id,
    kind: raw.kind,
    status: raw.status,
    sha256: raw.sha256,
    source: fromBytes(raw.source),
    dest: fromBytes(raw.dest),
    tmp: raw.tmp === null ? null : fromBytes(raw.tmp),
    manifest: raw.manifest,
    sidecar: raw.sidecar === null ? null : fromBytes(raw.sidecar),
    device: raw.device,
    inode: raw.inode,
    size: raw.size,
    mtimeMs: raw.mtime_ms,
    duplicateOf: raw.duplicate_of,
    intentAt: raw.intent_at,
    committedAt: raw.committed_at,
    completedAt: raw.completed_at,
    hashMs: raw.hash_ms,
    error: raw.error,
  };
}

/** The fields of a new intent row; the store adds its id, status and commit time. */
export type IntentFields = Omit<FileRow, 'id' | 'status' | 'committedAt'>;

/** A claimed file's intent, placed by its claim (both stores). */
export function claimFields(
  input: ClaimInput,
  kind: RowKind,
  placement: Placement,
  duplicateOf: number | null,
  at: number,
): IntentFields {
  return {
    kind,
    sha256: input.sha256,
    source: input.source,
    dest: placement.dest,
    tmp: placement.tmp,
    manifest: placement.manifest,
    sidecar: input.sidecar,
    device: input.identity.device,
    inode: input.identity.inode,
    size: input.identity.size,
    mtimeMs: input.identity.mtimeMs,
    duplicateOf,
    intentAt: at,
    completedAt: input.completedAt,
    hashMs: input.hashMs,
    error: null,
  };
}

/** A quarantine's intent (both stores). */
export function quarantineFields(input: QuarantineInput, at: number): IntentFields {
  return {
    kind: 'quarantine',
    sha256: input.sha256,
    source: input.source,
    dest: input.dest,
    tmp: null,
    manifest: null,
    sidecar: input.sidecar,
    device: input.identity.device,
    inode: input.identity.inode,
    size: input.identity.size,
    mtimeMs: input.identity.mtimeMs,
    duplicateOf: null,
    intentAt: at,
    completedAt: at,
    hashMs: null,
    error: input.error,
  };
}

/**
 * The values of the intent insert (sqlite-statements.ts), in its column order.
 * Positional parameters: binding seventeen named ones costs more than the insert itself.
 */
export function intentValues(fields: IntentFields): unknown[] {
  const bytes = (p: FsPath | null) => (p === null ? null : toBytes(p));
  return [
    fields.kind,
    fields.sha256,
    fields.kind === 'ingest' ? Buffer.from(fields.sha256, 'hex') : null,
    toBytes(fields.source),
    toBytes(fields.dest),
    bytes(fields.tmp),
    fields.manifest,
    bytes(fields.sidecar),
    fields.device,
    fields.inode,
    fields.size,
    fields.mtimeMs,
    fields.duplicateOf,
    fields.intentAt,
    fields.completedAt,
    fields.hashMs,
    fields.error,
  ];
}
