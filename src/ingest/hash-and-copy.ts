import path from 'node:path';
import type { Clock } from '../clock.js';
import type { CrashInjector } from '../crash.js';
import { IngestError } from '../errors.js';
import { unlinkIfExists } from '../fsutil.js';
import type { Candidate } from '../interfaces.js';
import type { ResolvedOptions } from '../options.js';
import { formatBytes } from '../ops/human-units.js';
import { displayPath } from '../paths.js';
import type { ByteRate } from './byte-rate.js';
import type { Hasher } from './hash-pool.js';
import type { ReadResult } from './hasher.js';
import { hashFile } from './hasher.js';
import type { LeaseKeeper, UnseenVolumes } from './lease.js';
import { temporaryName } from '../naming.js';
import type { HashedFile } from './outcome.js';
import { PROGRESS_INTERVAL_MS } from './hash-messages.js';
import type { IngestorEvents } from '../events.js';

/**
 * Where the kernel cannot say whether a file is open for writing, an empty file waits this
 * long after its last change: writers such as `rsync --inplace` and `dd` create the file and
 * leave it empty for seconds before the first byte, and the stability window alone would take
 * it then.
 */
export const EMPTY_WITHOUT_LEASE_MS = 60_000;

/** What reading, hashing and copying a candidate needs from the pipeline. */
export interface HashAndCopyDeps {
  options: ResolvedOptions;
  clock: Clock;
  crash: CrashInjector;
  /** Where files are read and hashed. */
  hasher: Hasher;
  /** Where copies are made: `<warehouse>/.ingestor-tmp`. */
  tmpDir: string;
  /** Adopts the descriptors that hold read leases; closes them all at a stop. */
  leases: LeaseKeeper;
  /** Volumes where writers cannot be seen (no leases there). */
  unseen: UnseenVolumes;
  /** Whether a file on `device` is copied into the warehouse (not linked). */
  needsCopy(device: number): boolean;
  /** Where `file:complete` and `file:progress` go. */
  events: IngestorEvents;
  /** `--max-bytes-per-second`, for reading a copy back on this thread. */
  rate?: ByteRate;
  /** `--max-file-size` in force (an operator may change it). */
  limits: { readonly maxFileSize: number | undefined };
  /** Runs a copy: one at a time while a pause for a full volume probes (see `Pause`). */
  runCopy(copy: () => Promise<ReadResult>): Promise<ReadResult>;
  /**
   * Resolves when the output volumes have room for a copy of `copyBytes` (0: a rename) above
   * `--min-free-space`, pausing ingestion until then; `done` once the copy is written or failed.
   */
  space: {
    whenRoom(copyBytes: number): Promise<void>;
    done(copyBytes: number): void;
  };
}

/**
 * Tells the events how far a large read or a copy has got, with its rate since hashing began:
 * at most every PROGRESS_INTERVAL_MS (a hashing thread already sends no more than that; a
 * read on this thread reports every chunk). A margin keeps the thread's reports, which arrive
 * with some jitter, from being dropped here.
 */
function progressOf(
  deps: HashAndCopyDeps,
  candidate: Candidate,
  startedAt: number,
  copying: boolean,
): (bytesDone: number) => void {
  let last = -Infinity;
  const source = displayPath(candidate.path);
  return (bytesDone) => {
    const now = deps.clock();
    if (now - last < PROGRESS_INTERVAL_MS * 0.8) return;
    last = now;
    const seconds = Math.max(0.001, (now - startedAt) / 1000);
    deps.events.emit('file:progress', {
      source,
      bytesDone,
      bytes: candidate.identity.size,
      bytesPerSecond: Math.round(bytesDone / seconds),
      copying,
    });
  };
}

/**
 * Reads and hashes a complete file, under a read lease in stability mode (a file some process
 * has open for writing is refused: INGEST_ERR_OPEN_FOR_WRITING). Copies it beside the
 * warehouse across filesystems, and when it has other hard links: a warehouse file never
 * shares its inode with a name outside the warehouse.
 */
export async function hashAndCopy(
  deps: HashAndCopyDeps,
  candidate: Candidate,
  signal?: AbortSignal,
): Promise<HashedFile> {
  const { hasher, tmpDir, unseen: unseenVolumes } = deps;
  const { maxFileSize } = deps.limits;
  if (maxFileSize !== undefined && candidate.identity.size > maxFileSize) {
    // Never read, never copied: quarantined whole, beside the input or in place.
    throw new IngestError(
      'INGEST_ERR_TOO_LARGE',
      `${displayPath(candidate.path)} is ${formatBytes(candidate.identity.size)} (${candidate.identity.size} bytes), larger than --max-file-size ${formatBytes(maxFileSize)}`,
    );
  }
  const completedAt = deps.clock();
  const linked = candidate.links > 1;
  // Where writers cannot be seen, a writer may still hold the file: a copy keeps what it
  // writes later out of the warehouse (it goes to the removed source instead).
  const unseen = unseenVolumes.has(candidate.identity.device);
  let tmp =
    deps.needsCopy(candidate.identity.device) || linked || unseen
      ? path.join(tmpDir, temporaryName())
      : null;
  deps.events.emit('file:complete', {
    source: displayPath(candidate.path),
    bytes: candidate.identity.size,
  });
  const hash = () =>
    hasher.hash(
      candidate.path,
      candidate.identity,
      tmp ?? undefined,
      progressOf(deps, candidate, completedAt, tmp !== null),
      deps.options.mode === 'stability',
      signal,
    );
  const copyBytes = tmp === null ? 0 : candidate.identity.size;
  await deps.space.whenRoom(copyBytes);
  let read: ReadResult;
  try {
    read = await (tmp !== null ? deps.runCopy(hash) : hash());
  } catch (error) {
    // The hasher removes its copy when the read fails, but not when its thread died: a partial
    // copy must never be left to fill the volume.
    if (tmp !== null) await unlinkIfExists(tmp);
    throw error;
  } finally {
    deps.space.done(copyBytes);
  }
  const lease = read.leaseFd === null ? null : deps.leases.adopt(read.leaseFd);
  try {
    const name = displayPath(candidate.path);
    if (read.leaseUnavailable !== null) {
      unseenVolumes.note(candidate.path, read.identity.device, read.leaseUnavailable);
      if (tmp === null) {
        // The first file of a volume where writers cannot be seen: copied now, like the rest.
        tmp = path.join(tmpDir, temporaryName());
        const copy = await hasher.hash(candidate.path, candidate.identity, tmp);
        if (copy.sha256 !== read.sha256) {
          throw new IngestError('INGEST_ERR_CHANGED', `${name} changed while it was copied`);
        }
      }
      if (
        read.identity.size === 0 &&
        completedAt - read.identity.mtimeMs < EMPTY_WITHOUT_LEASE_MS
      ) {
        throw new IngestError(
          'INGEST_ERR_EMPTY_UNSEEN',
          `${name} is empty and its writer cannot be seen on this volume; empty files wait ${EMPTY_WITHOUT_LEASE_MS / 1000} s after their last change there`,
        );
      }
    }
    if (tmp === null && read.links > 1) {
      throw new IngestError(
        'INGEST_ERR_LINKED',
        `${name} has ${read.links} hard links now; it will be copied, not linked`,
      );
    }
    if (lease !== null && !lease.intact()) {
      throw new IngestError(
        'INGEST_ERR_OPEN_FOR_WRITING',
        `${name} was opened for writing after it was read`,
      );
    }
    if (tmp !== null && linked && (await hashFile(tmp, deps.rate)) !== read.sha256) {
      // The copy is the only inode the warehouse will hold: it is read back and checked.
      throw new IngestError('INGEST_ERR_CHANGED', `the copy of ${name} does not match its hash`);
    }
  } catch (error) {
    lease?.close();
    if (tmp !== null) await unlinkIfExists(tmp);
    throw error;
  }
  return {
    candidate,
    sha256: read.sha256,
    identity: read.identity,
    tmp,
    hashMs: read.ms,
    completedAt,
    lease,
  };
}
