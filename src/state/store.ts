import type { FileIdentity, FileRow, FsPath, RowKind, RowStatus } from '../interfaces.js';

/** A complete, hashed file asking for a place. */
export interface ClaimInput {
  sha256: string;
  source: FsPath;
  identity: FileIdentity;
  sidecar: FsPath | null;
  completedAt: number;
  hashMs: number;
}

/** Where a claimed file goes; chosen by the pipeline once the store has said what it is. */
export interface Placement {
  dest: FsPath;
  tmp: FsPath | null;
  manifest: string | null;
}

export interface QuarantineInput {
  source: FsPath;
  identity: FileIdentity;
  sha256: string;
  dest: FsPath;
  sidecar: FsPath | null;
  error: string;
}

export type ClaimResult =
  | { outcome: 'ingest'; row: FileRow }
  | { outcome: 'duplicate'; row: FileRow; original: FileRow }
  /** The same content is being ingested right now under another name: try again later. */
  | { outcome: 'busy' };

/** Which rows `history` returns; every field narrows, none given means all rows. */
export interface HistoryFilter {
  kind?: RowKind;
  status?: RowStatus;
  /** Only rows whose intent was written at or after this instant (ms). */
  since?: number;
  /** Only rows whose SHA-256 starts with these lowercase hex digits (all 64: that hash). */
  sha256Prefix?: string;
}

/** Counts over the whole state, for `ingestor status`. */
export interface StateTotals {
  ingestedFiles: number;
  ingestedBytes: number;
  /** When the last ingest was committed (ms), or null. */
  lastIngestAt: number | null;
  duplicates: number;
  duplicateBytes: number;
  quarantined: number;
  inFlight: number;
  aborted: number;
  vanished: number;
}

/**
 * What a running daemon records about itself for `ingestor status`: what only it knows (pending
 * files live in its memory). Written every few seconds and on SIGUSR2.
 */
export interface RuntimeSnapshot {
  pid: number;
  startedAt: number;
  queueDepth: number;
  inflight: number;
  pending: number;
  paused: string | null;
  /**
   * The file waiting longest for completion; `reason`, when the daemon knows it, says why (`open
   * for writing by another process`). Absent in snapshots of older daemons.
   */
  oldestPending: { path: string; since: number; reason?: string } | null;
  /**
   * Volumes where the kernel cannot tell whether a file is open for writing (no file leases
   * there, or no permission), so the stability window alone decides. Absent in snapshots of
   * older daemons.
   */
  writersUnseen?: { dir: string; code: string; reason: string }[];
}

/** What the daemon last recorded about itself (`writeRuntime`). */
export interface RuntimeRecord {
  snapshot: RuntimeSnapshot;
  /** When it was written (ms, the daemon's clock). */
  updatedAt: number;
}

export interface Finish {
  id: number;
  status: Exclude<RowStatus, 'intent'>;
  error?: string;
}

/**
 * Everything the pipeline asks of durable state. SQLite implements it today; a shared
 * PostgreSQL implementation for several hosts implements the same calls.
 */
export interface StateStore {
  /**
   * Decides for each input, in one durable transaction, whether its content is new (an ingest
   * intent), already committed (a duplicate intent) or in flight (busy), and records the
   * intents with the placement `place` chooses. Returns when the intents are durable.
   */
  claim(
    inputs: readonly ClaimInput[],
    at: number,
    place: (input: ClaimInput, kind: RowKind) => Placement,
  ): ClaimResult[];
  /** Marks intents final in one durable transaction. */
  finish(finishes: readonly Finish[], at: number): void;
  /**
   * Records the intent to quarantine a file (dest '' = left in place), durably.
   * `sha256` is '' when the file could not be read.
   */
  recordQuarantine(input: QuarantineInput, at: number): FileRow;
  /** Quarantined files not yet released, oldest first. */
  quarantined(): FileRow[];
  /** Records what the daemon says about itself (status reads it). */
  writeRuntime(snapshot: RuntimeSnapshot, at: number): void;
  /** Sources of files quarantined in place (not moved), not released: discovery skips them. */
  quarantinedInPlace(): FsPath[];
  /** How many files are quarantined and not released. */
  countQuarantined(): number;
  /**
   * When the newest committed ingest (by claim order) was committed (ms), if any: what the
   * daemon last ingested, read once at start.
   */
  lastIngestAt(): number | undefined;
  /** Marks a quarantined file as put back (`ingestor retry`). */
  release(id: number, at: number): void;
  /** Rows still in the intent state: what recovery must settle. */
  openIntents(): FileRow[];
  /** The committed (or in-flight) ingest of this content, if any. */
  findContent(sha256: string): FileRow | undefined;
  getRow(id: number): FileRow | undefined;
  /** Rows matching `filter`, newest first, read lazily: a loop that stops early reads less. */
  history(filter: HistoryFilter): IterableIterator<FileRow>;
  /** Every row in id order, read lazily (verify). */
  rows(): IterableIterator<FileRow>;
  /** What `ingestor status` counts. */
  totals(): StateTotals;
  /** The daemon's last runtime record, if it ever wrote one. */
  readRuntime(): RuntimeRecord | undefined;
  close(): void;
}
