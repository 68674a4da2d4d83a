import type { Fence } from '../manifest/manifest-writer.js';
// What the steps of the pipeline hand each other: a hashed file, its place in a batch, and how
// it ended. Types only, so that every step (and the orchestrator) can import them without
// importing the steps.
import type { Clock } from '../clock.js';
import type { CrashInjector } from '../crash.js';
import type { IngestorEvents } from '../events.js';
import type { Candidate, FileIdentity, FileRow, FsPath } from '../interfaces.js';
import type { ManifestWriter } from '../manifest/manifest-writer.js';
import type { OpenHours } from '../manifest/open-hours.js';
import type { Logger } from '../ops/logger.js';
import type { ResolvedOptions } from '../options.js';
import type { StateStore } from '../state/store.js';
import type { Lease } from './lease.js';

/** What the steps are given: options, state, manifests, the clock, crash points and outputs. */
export interface StepDeps {
  options: ResolvedOptions;
  store: StateStore;
  manifest: ManifestWriter;
  /** The hours of batches in memory and the hours sealed for closing (closed hours). */
  hours: OpenHours;
  clock: Clock;
  crash: CrashInjector;
  logger: Logger;
  events: IngestorEvents;
  /**
   * Throws when this daemon may no longer place files (its lease in a shared state ran out):
   * checked right before each rename, link and unlink in the input or the warehouse.
   */
  fence?: Fence;
}

/** A complete file that has been read and hashed (and copied, across filesystems). */
export interface HashedFile {
  candidate: Candidate;
  sha256: string;
  /** Identity of the bytes that were hashed. */
  identity: FileIdentity;
  /** The copy beside the warehouse, when the source is on another filesystem. */
  tmp: FsPath | null;
  hashMs: number;
  completedAt: number;
  /**
   * The read lease taken when it was hashed, held until it is committed: a writer that opens
   * the file meanwhile breaks it, and the file is given back instead of placed. Null where the
   * kernel cannot tell (see `LeaseKeeper`) or in sidecar mode. The caller closes it.
   */
  lease: Lease | null;
}

/** How a file's way through the pipeline ended. */
export type Outcome =
  | { kind: 'committed'; row: FileRow }
  | { kind: 'duplicate'; row: FileRow; original: FileRow }
  | { kind: 'quarantined'; row: FileRow }
  | { kind: 'deferred'; reason: string; code?: string | undefined }
  | { kind: 'failed'; error: unknown; row?: FileRow };

/** A hashed file waiting in the group-commit queue, or in the batch it joined. */
export interface Entry {
  item: HashedFile;
  /** performance.now() when it was queued. */
  queuedAt: number;
  settled: boolean;
  /** Times it was carried to the next batch because its content was in flight. */
  carried: number;
  resolve(outcome: Outcome): void;
}

/** A file of a batch that got an intent row: what is moved where, and what went wrong. */
export interface Work {
  entry: Entry;
  row: FileRow;
  original?: FileRow;
  /** Where the bytes that get the final name come from. */
  from: FsPath;
  linked: boolean;
  error?: unknown;
}
