import fs from 'node:fs';
import path from 'node:path';
import { FencedError, IngestError, describeError, hasCode } from '../errors.js';
import {
  ensureDir,
  fsyncDir,
  lstatSyncIfExists,
  unlinkIfExists,
  unlinkSyncIfExists,
} from '../fsutil.js';
import { identityOf, sameIdentity } from '../identity.js';
import {
  formatLine,
  manifestPathFor,
  partitionName,
  recordOf,
  utcDate,
} from '../manifest/manifest-line.js';
import type { ResolvedOptions } from '../options.js';
import { dirName, displayPath } from '../paths.js';
import type { ClaimInput, PlacementPlan } from '../state/store.js';
import { giveBackReopened, reopened, reportReopenedAfterCommit } from './give-back.js';
import { readAndHash } from './hasher.js';
import { immovableSource, placeNoReplace } from './move.js';
import { NO_DEST, temporaryName } from '../naming.js';
import type { Entry, StepDeps, Work } from './outcome.js';

/** How many batches a file whose content is in flight waits before it is deferred. */
const MAX_CARRIES = 3;

/** What one batch needs from the pipeline. */
export interface BatchDeps extends Omit<StepDeps, 'events'> {
  /** Where copies are made: `<warehouse>/.ingestor-tmp`. */
  tmpDir: string;
  /** Source devices from which link(2) into the warehouse failed with EXDEV (bind mounts). */
  copyDevices: Set<number>;
  /** Puts files whose content is in flight back at the head of the queue, for the next batch. */
  carry(entries: Entry[]): void;
}

/**
 * Ingests one batch: claims its files (one transaction for the intents), gives each its final
 * name, removes the sources, appends the manifest lines (one fsync per manifest file) and
 * commits (one transaction), then resolves each file's outcome. Calls `placed` once the files
 * have their final names and their sources are gone: the next batch may claim then (its free
 * names see these files). Throws when a step fails for the whole batch (a full or read-only
 * volume); intents written by then are left open for the caller to settle.
 */
export async function ingestBatch(
  deps: BatchDeps,
  all: Entry[],
  placed: () => void = () => {},
): Promise<void> {
  const { clock } = deps;
  const batch: Entry[] = [];
  for (const entry of all) {
    if (entry.item.lease?.intact() !== false) {
      batch.push(entry);
      continue;
    }
    if (entry.item.tmp !== null) await unlinkIfExists(entry.item.tmp);
    entry.resolve({ kind: 'failed', error: reopened(entry.item) });
  }
  if (batch.length === 0) return;
  // The batch's hour is held from the turn its instant is taken until it ends: a close that
  // runs while its claim is still on its way to the state sees it (OpenHours). If it fails,
  // its open intents hold the hour in the state until they are settled.
  const ticket = deps.hours.enter(clock());
  try {
    await ingestAt(deps, batch, ticket.at, placed);
  } finally {
    ticket.leave();
  }
}

/** `ingestBatch` for the files still to take, at the batch's instant `now`. */
async function ingestAt(
  deps: BatchDeps,
  batch: Entry[],
  now: number,
  placed: () => void,
): Promise<void> {
  const { store, crash, clock } = deps;
  const inputs: ClaimInput[] = batch.map(({ item }) => ({
    sha256: item.sha256,
    source: item.candidate.path,
    identity: item.identity,
    sidecar: item.candidate.sidecar ?? null,
    completedAt: item.completedAt,
    hashMs: item.hashMs,
    tmp: item.tmp,
  }));
  const results = await store.claim(inputs, now, placementPlan(deps.options, now));
  crash('after-intent');

  const works: Work[] = [];
  const carried: Entry[] = [];
  for (const [i, result] of results.entries()) {
    const entry = batch[i]!;
    if (result.outcome === 'busy' && entry.carried < MAX_CARRIES) {
      // Its twin is in this batch (or another host's): by the next batch the twin is settled,
      // and this one becomes a duplicate, or the ingest if the twin was rolled back.
      entry.carried += 1;
      carried.push(entry);
      continue;
    }
    if (result.outcome === 'busy') {
      if (entry.item.tmp !== null) await unlinkIfExists(entry.item.tmp);
      entry.resolve({
        kind: 'deferred',
        reason: 'the same content is being ingested under another name',
      });
      continue;
    }
    works.push({
      entry,
      row: result.row,
      ...(result.outcome === 'duplicate' ? { original: result.original } : {}),
      from: entry.item.tmp ?? entry.item.candidate.path,
      linked: false,
    });
  }

  await placeAll(deps, works);
  crash('after-rename');
  await giveBackReopened(works, false, deps.logger);
  await removeSources(deps, works);
  crash('after-source-removed');
  await giveBackReopened(works, true, deps.logger);
  placed();

  const ingested = works.filter((w) => w.error === undefined && w.row.kind === 'ingest');
  if (ingested.length > 0) {
    const text = ingested.map((w) => formatLine(recordOf(w.row))).join('');
    await deps.manifest.append(ingested[0]!.row.manifest!, text);
  }
  crash('after-manifest');
  crash('before-commit');
  await store.finish(
    works.map((w) =>
      w.error === undefined
        ? { id: w.row.id, status: 'committed' }
        : { id: w.row.id, status: 'aborted', error: describeError(w.error) },
    ),
    clock(),
  );
  crash('after-commit');
  reportReopenedAfterCommit(works, deps.logger);
  deps.carry(carried);
  for (const w of works) {
    if (w.error !== undefined) {
      w.entry.resolve({ kind: 'failed', error: w.error, row: w.row });
    } else if (w.original !== undefined) {
      w.entry.resolve({ kind: 'duplicate', row: w.row, original: w.original });
    } else {
      w.entry.resolve({ kind: 'committed', row: w.row });
    }
  }
}

/** Where the files of a batch claimed at `now` go (the store picks free names by it). */
function placementPlan(options: ResolvedOptions, now: number): PlacementPlan {
  return {
    partition: path.join(options.warehouse, partitionName(now)),
    duplicates:
      options.onDuplicate === 'delete' ? null : path.join(options.duplicatesDir, utcDate(now)),
    manifest: manifestPathFor(options.manifests, now, options.manifestName),
  };
}

/** Gives every file its final name, then makes those names durable. */
async function placeAll(deps: BatchDeps, works: Work[]): Promise<void> {
  const dirs = new Set<string>();
  for (const w of works) {
    if (w.row.dest === NO_DEST) continue;
    const destDir = dirName(w.row.dest) as string;
    try {
      await ensureDir(destDir);
      await place(deps, w);
      dirs.add(destDir);
    } catch (error) {
      // A daemon that lost its lease stops the whole batch: the files are another's now.
      if (error instanceof FencedError) throw error;
      const gone = hasCode(error, 'ENOENT') && !fs.existsSync(w.entry.item.candidate.path);
      w.error = gone
        ? new IngestError('INGEST_ERR_VANISHED', `${displayPath(w.row.source)} disappeared`, {
            cause: error,
          })
        : error;
      if (w.entry.item.tmp !== null) await unlinkIfExists(w.entry.item.tmp);
    }
  }
  for (const dir of dirs) await fsyncDir(dir);
}

async function place(deps: BatchDeps, w: Work): Promise<void> {
  const { row } = w;
  const item = w.entry.item;
  try {
    deps.fence?.(`place ${displayPath(row.dest)}`);
    w.linked = placeNoReplace(w.from, row.dest) === 'linked';
  } catch (error) {
    if (!hasCode(error, 'EXDEV')) {
      throw item.tmp === null ? immovableSource(error, w.from, dirName(row.dest)) : error;
    }
    // Same device number but another mount (a bind mount): copy instead, now and from now on.
    deps.copyDevices.add(item.identity.device);
    const tmp = path.join(deps.tmpDir, temporaryName());
    const read = await readAndHash(item.candidate.path, item.identity, tmp);
    if (read.sha256 !== item.sha256) {
      await unlinkIfExists(tmp);
      throw new IngestError(
        'INGEST_ERR_CHANGED',
        `${displayPath(row.source)} changed before it was moved`,
      );
    }
    item.tmp = tmp;
    w.from = tmp;
    deps.fence?.(`place ${displayPath(row.dest)}`);
    w.linked = placeNoReplace(tmp, row.dest) === 'linked';
  }
  if (item.tmp === null) {
    // Linking by name: make sure the name still held the bytes that were hashed.
    const placed = fs.lstatSync(row.dest);
    if (placed.ino !== item.identity.inode || placed.size !== item.identity.size) {
      fs.unlinkSync(row.dest);
      throw new IngestError(
        'INGEST_ERR_CHANGED',
        `${displayPath(row.source)} was replaced before it was moved`,
      );
    }
    // The source's name and ours, nothing else: another name would share the inode.
    if (w.linked && placed.nlink > 2) {
      fs.unlinkSync(row.dest);
      throw new IngestError(
        'INGEST_ERR_LINKED',
        `${displayPath(row.source)} gained another hard link before it was moved; it will be copied`,
      );
    }
  }
}

/** Removes sources, temporary names and sidecars of placed files, durably. */
async function removeSources(deps: BatchDeps, works: Work[]): Promise<void> {
  const dirs = new Set<string>();
  for (const w of works) {
    if (w.error !== undefined) continue;
    const item = w.entry.item;
    try {
      if (item.tmp !== null) unlinkSyncIfExists(item.tmp);
      if (item.tmp !== null || w.linked || w.row.dest === NO_DEST) {
        const source = lstatSyncIfExists(item.candidate.path);
        if (source !== undefined && sameIdentity(identityOf(source), item.identity)) {
          deps.fence?.(`remove ${displayPath(item.candidate.path)}`);
          try {
            fs.unlinkSync(item.candidate.path);
          } catch (error) {
            throw immovableSource(error, item.candidate.path); // EPERM: the source's own doing
          }
        }
      }
    } catch (error) {
      // A daemon that lost its lease undoes nothing either: the survivor that takes the file
      // over finds it placed, with its source, and finishes the move.
      if (error instanceof FencedError) throw error;
      // The file has its final name but its source could not be removed: undo the move so
      // that it stays in exactly one place, and try again later (or quarantine it in place,
      // if this user may not remove it).
      w.error = error;
      if (w.row.dest !== NO_DEST) await unlinkIfExists(w.row.dest);
      continue;
    }
    // The source is gone: the file is in the warehouse only now, whatever becomes of its
    // sidecar. One this user may not remove is left (discovery leaves an orphan `.ok` alone).
    if (item.candidate.sidecar !== undefined) {
      try {
        unlinkSyncIfExists(item.candidate.sidecar);
      } catch (error) {
        deps.logger.warn(
          {
            event: 'sidecar-left',
            sidecar: displayPath(item.candidate.sidecar),
            err: describeError(error),
          },
          `could not remove the sidecar ${displayPath(item.candidate.sidecar)}: ${describeError(error)}; its file is ingested`,
        );
      }
    }
    dirs.add(dirName(item.candidate.path) as string);
  }
  if (works.some((w) => w.entry.item.tmp !== null)) dirs.add(deps.tmpDir);
  for (const dir of dirs) await fsyncDir(dir);
}
