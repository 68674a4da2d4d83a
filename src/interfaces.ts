/**
 * A filesystem path as the kernel knows it. Names that are valid UTF-8 are strings; a name
 * whose bytes are not valid UTF-8 stays a Buffer, so that the exact file can still be opened,
 * moved and recorded (Node would otherwise replace the bad bytes with U+FFFD).
 */
export type FsPath = string | Buffer;

/** How a file is judged complete. */
export type Mode = 'stability' | 'sidecar';

/** What happens to a file whose content is already in the warehouse. */
export type OnDuplicate = 'move' | 'delete';

/** The identity of one version of a file: the spec's (device, inode, size, mtime). */
export interface FileIdentity {
  device: number;
  inode: number;
  size: number;
  /** Milliseconds since the epoch, with the sub-millisecond fraction the kernel gives. */
  mtimeMs: number;
}

/** A file found by discovery that is complete and may be ingested. */
export interface Candidate {
  path: FsPath;
  /** Path relative to the input directory, for display and --exclude matching. */
  relPath: string;
  identity: FileIdentity;
  /** Hard links when found: a file with more than one is copied, never linked, into place. */
  links: number;
  /** In sidecar mode: the `.ok` file that marked this file complete. */
  sidecar?: FsPath;
  /** `--priority` (0 unless a rule matched): higher goes first among complete files. */
  priority?: number;
}

/** Why a file was not ingested (yet). */
export type SkipReason =
  | 'hidden'
  | 'temporary'
  | 'excluded'
  | 'sidecar-marker'
  | 'symlink'
  | 'fifo'
  | 'socket'
  | 'device'
  | 'not-regular';

/** What one row of the state says about a file that was claimed. */
export type RowKind = 'ingest' | 'duplicate' | 'quarantine';
export type RowStatus = 'intent' | 'committed' | 'aborted' | 'vanished' | 'released';

export interface FileRow {
  id: number;
  kind: RowKind;
  status: RowStatus;
  sha256: string;
  source: FsPath;
  dest: FsPath;
  /** The copy written beside the destination on a cross-filesystem move. */
  tmp: FsPath | null;
  /** Manifest file (absolute) holding this file's line; null for duplicates. */
  manifest: string | null;
  sidecar: FsPath | null;
  device: number;
  inode: number;
  size: number;
  mtimeMs: number;
  /** For duplicates: the id of the committed row with the same content. */
  duplicateOf: number | null;
  /** When the intent was written (ms); the ingestion time in the manifest. */
  intentAt: number;
  committedAt: number | null;
  completedAt: number | null;
  hashMs: number | null;
  error: string | null;
}

/** A summary of one run (`--once`) or of the daemon's lifetime so far. */
export interface RunSummary {
  ingested: number;
  duplicates: number;
  bytes: number;
  skipped: number;
  waiting: number;
  failed: number;
  quarantined: number;
  seconds: number;
}

/**
 * What a failure means for the file and for the daemon:
 * - `changed`: the file is not ready after all (changed, replaced, vanished): wait again;
 * - `retry`: reading this file failed in a way that may pass (EIO, EBUSY...): try the file again
 *   later with backoff, counting attempts; when they run out it is quarantined;
 * - `quarantine`: this file can never be read as it is (permissions, not a regular file...):
 *   move it aside at once so that it does not block the queue;
 * - `pause`: an output volume (warehouse, manifests, state) is full, read-only, locked or
 *   failing: no file is to blame, so all ingestion pauses and backs off, attempts uncounted.
 */
export type FailureClass = 'changed' | 'retry' | 'quarantine' | 'pause';
