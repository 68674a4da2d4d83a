import { isUtf8 } from 'node:buffer';
import path from 'node:path';
import type { FileRow, FsPath } from '../interfaces.js';
import { nodeTag } from '../naming.js';
import { displayPath, toBytes } from '../paths.js';

export interface ManifestRecord {
  source: FsPath;
  sha256: string;
  device: number;
  inode: number;
  size: number;
  mtimeMs: number;
  dest: FsPath;
  ingestedAt: number;
}

function pad(n: number, width = 2): string {
  return String(n).padStart(width, '0');
}

/** The manifest record of a state row (the ingestion time is the intent's). */
export function recordOf(row: FileRow): ManifestRecord {
  return {
    source: row.source,
    sha256: row.sha256,
    device: row.device,
    inode: row.inode,
    size: row.size,
    mtimeMs: row.mtimeMs,
    dest: row.dest,
    ingestedAt: row.intentAt,
  };
}

/** `YYYY-MM-DD` of a UTC instant. */
export function utcDate(atMs: number): string {
  const d = new Date(atMs);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
}

/** The warehouse partition directory name for an ingestion instant. */
export function partitionName(atMs: number): string {
  return `ingest_date=${utcDate(atMs)}`;
}

/** The manifest of a daemon alone on its state (SQLite). */
export const MANIFEST_NAME = 'manifest.jsonl';

/**
 * Manifest file names in an hour's directory: `manifest.jsonl`, or with several daemons sharing
 * a PostgreSQL state one per daemon, `manifest.<node>.jsonl` (appends from several NFS clients
 * to one file may interleave, so each daemon writes its own). Readers read them all.
 */
export const MANIFEST_FILE = /^manifest(?:\.[A-Za-z0-9_-][A-Za-z0-9._-]*)?\.jsonl$/;

/** The manifest file name of a daemon: its node's, with several daemons; else the one name. */
export function manifestFileName(node: string | undefined): string {
  return node === undefined ? MANIFEST_NAME : `manifest.${nodeTag(node)}.jsonl`;
}

/** `<root>/YYYY/MM/DD/HH/<name>` for the UTC hour of an ingestion instant. */
export function manifestPathFor(root: string, atMs: number, name = MANIFEST_NAME): string {
  const d = new Date(atMs);
  return path.join(
    root,
    String(d.getUTCFullYear()),
    pad(d.getUTCMonth() + 1),
    pad(d.getUTCDate()),
    pad(d.getUTCHours()),
    name,
  );
}

/**
 * One manifest line, fields in a fixed order: the spec's six first, then what helps. JSON
 * escapes quotes, backslashes and control characters, and JSON.stringify writes lone
 * surrogates as escapes, so any name gives valid JSON. A name that is not valid UTF-8 is also
 * given exactly as `path_base64` (and `warehouse_path_base64`), so it can be recovered.
 */
export function formatLine(r: ManifestRecord): string {
  const line: Record<string, string | number> = {
    path: displayPath(r.source),
    sha256: r.sha256,
    device: r.device,
    inode: r.inode,
    size: r.size,
    mtime: Math.floor(r.mtimeMs / 1000),
    warehouse_path: displayPath(r.dest),
    ingested_at: new Date(r.ingestedAt).toISOString(),
  };
  const source = toBytes(r.source);
  if (!isUtf8(source)) line.path_base64 = source.toString('base64');
  const dest = toBytes(r.dest);
  if (!isUtf8(dest)) line.warehouse_path_base64 = dest.toString('base64');
  return `${JSON.stringify(line)}\n`;
}

/** The substring every line of this content contains (lines are written by formatLine only). */
export function hashNeedle(sha256: string): string {
  return `"sha256":"${sha256}"`;
}
