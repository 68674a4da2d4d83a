import fs from 'node:fs';
import { IngestError } from '../errors.js';
import { fsyncDir, lstatSyncIfExists, unlinkIfExists } from '../fsutil.js';
import type { Logger } from '../ops/logger.js';
import { baseName, dirName, displayPath } from '../paths.js';
import { NO_DEST, freeName } from '../naming.js';
import type { HashedFile, Work } from './outcome.js';

// What the pipeline does when a writer opened a file between its hash and its commit (the read
// lease taken when it was hashed broke): see docs/DESIGN.md ("Writers that are still writing").

/**
 * Gives back the files that a writer opened since they were hashed (their leases broke):
 * before the sources are removed, the placed names are removed again; after, a linked or
 * renamed file's name is given back in the input (under a free name if the old one was
 * reused), so that the writer's bytes stay there and the file waits again. A copied file or
 * a deleted duplicate whose source is already removed cannot be given back: the copy stays,
 * with an error line.
 */
export async function giveBackReopened(
  works: Work[],
  sourcesRemoved: boolean,
  logger: Logger,
): Promise<void> {
  const dirs = new Set<string>();
  for (const w of works) {
    const item = w.entry.item;
    if (w.error !== undefined || item.lease === null || item.lease.intact()) continue;
    const source = item.candidate.path;
    const { dest } = w.row;
    const renamed = item.tmp === null && !w.linked;
    // A copy's source, or a deleted duplicate, is gone with its bytes: nothing to give back.
    if (sourcesRemoved && (item.tmp !== null || dest === NO_DEST)) {
      logger.error(
        { event: 'reopened-while-removed', source: displayPath(source) },
        `a process opened ${displayPath(source)} for writing as it was removed; what it writes now goes to the removed file${dest === NO_DEST ? '' : `, and ${displayPath(dest)} holds the bytes from before`}`,
      );
      continue;
    }
    w.error = reopened(item);
    if (dest === NO_DEST) continue;
    if (item.tmp !== null || (w.linked && !sourcesRemoved)) {
      await unlinkIfExists(dest);
      if (item.tmp !== null) await unlinkIfExists(item.tmp);
    } else {
      const back =
        lstatSyncIfExists(source) === undefined
          ? source
          : freeName(dirName(source), baseName(source), item.sha256, new Set());
      if (renamed) {
        fs.renameSync(dest, back);
      } else {
        fs.linkSync(dest, back);
        fs.unlinkSync(dest);
      }
      dirs.add(dirName(source) as string);
    }
    dirs.add(dirName(dest) as string);
  }
  for (const dir of dirs) await fsyncDir(dir);
}

/**
 * Seen only if a writer's open() took milliseconds between finding the name and reaching the
 * lease, as the file was committed: it now writes to the committed file. Only a linked file
 * shares its inode with what the writer opened.
 */
export function reportReopenedAfterCommit(works: Work[], logger: Logger): void {
  for (const w of works) {
    const { tmp, lease } = w.entry.item;
    if (
      w.error === undefined &&
      tmp === null &&
      w.row.dest !== NO_DEST &&
      lease?.intact() === false
    ) {
      logger.error(
        {
          event: 'reopened-after-commit',
          source: displayPath(w.row.source),
          dest: displayPath(w.row.dest),
        },
        `a process opened ${displayPath(w.row.source)} for writing as it was committed; ${displayPath(w.row.dest)} may change: check it with ingestor verify --rehash`,
      );
    }
  }
}

/** The error a file given back fails with: it waits again (class `changed`). */
export function reopened(item: HashedFile): IngestError {
  return new IngestError(
    'INGEST_ERR_OPEN_FOR_WRITING',
    `${displayPath(item.candidate.path)} was opened for writing before it was moved; it waits again`,
  );
}
