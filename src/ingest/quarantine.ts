import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describeError, errnoCode } from '../errors.js';
import { ensureDir, fsyncDir, unlinkIfExists } from '../fsutil.js';
import type { Candidate, FsPath } from '../interfaces.js';
import { utcDate } from '../manifest/manifest-line.js';
import { baseName, dirName, displayPath, withSuffix } from '../paths.js';
import { immovableSource, placeNoReplace } from './move.js';
import { NO_DEST, freeName } from '../naming.js';
import type { Outcome, StepDeps } from './outcome.js';
import { classifyFailure } from './failures.js';
import type { Webhooks } from '../webhooks/webhooks.js';

/** What quarantining needs from the pipeline. */
export interface QuarantineDeps extends Pick<
  StepDeps,
  'options' | 'store' | 'clock' | 'crash' | 'fence'
> {
  /** The device of the quarantine directory: only files on it can be moved there. */
  quarantineDevice: number;
  /** Announces the quarantine (`file.quarantined`, and `file.failed` when retries ran out). */
  webhooks?: Pick<Webhooks, 'announce' | 'written'>;
}

/**
 * Moves a file that can never be ingested as it is to the quarantine directory, with a
 * `<name>.reason.json` beside it, through an intent row like any move. A file on another
 * filesystem than the quarantine directory cannot be moved without reading it (which is
 * what failed), and one this user may not move (another user's file in a sticky directory,
 * an immutable one: see immovableSource) cannot be moved at all: either is quarantined in
 * place, left where it is and skipped until `ingestor retry`.
 */
export async function quarantine(
  deps: QuarantineDeps,
  candidate: Candidate,
  error: unknown,
  attempts: number,
): Promise<Outcome> {
  // One this user may not move is not tried again: it stays where it is.
  const movable = errnoCode(error) !== 'INGEST_ERR_SOURCE_IMMOVABLE';
  if (movable && candidate.identity.device === deps.quarantineDevice) {
    try {
      return await moveAside(deps, candidate, error, attempts);
    } catch (moveError) {
      // This user may not move it (see immovableSource): it is quarantined in place instead.
      if (errnoCode(moveError) !== 'INGEST_ERR_SOURCE_IMMOVABLE') throw moveError;
      return record(deps, candidate, error, attempts, NO_DEST, async () => {});
    }
  }
  return record(deps, candidate, error, attempts, NO_DEST, async () => {});
}

/** Moves the file to the quarantine directory with its `.reason.json`. */
async function moveAside(
  deps: QuarantineDeps,
  candidate: Candidate,
  error: unknown,
  attempts: number,
): Promise<Outcome> {
  const now = deps.clock();
  const dir = path.join(deps.options.quarantineDir, utcDate(now));
  const dest = freeName(dir, baseName(candidate.path), randomBytes(8).toString('hex'), new Set());
  const note = withSuffix(dest, '.reason.json');
  return record(deps, candidate, error, attempts, dest, async (id) => {
    await ensureDir(dir);
    const reason = {
      source: displayPath(candidate.path),
      reason: describeError(error),
      code: errnoCode((error as { cause?: unknown }).cause) ?? errnoCode(error) ?? null,
      attempts,
      quarantinedAt: new Date(now).toISOString(),
      stateRow: id,
    };
    await fs.promises.writeFile(note, `${JSON.stringify(reason)}\n`);
    deps.fence?.(`quarantine ${displayPath(candidate.path)}`);
    try {
      const linked = placeNoReplace(candidate.path, dest) === 'linked';
      if (linked) {
        try {
          await fs.promises.unlink(candidate.path);
        } catch (unlinkError) {
          await unlinkIfExists(dest); // in one place only
          throw unlinkError;
        }
      }
    } catch (moveError) {
      // Still in the input, and only there: the intent is rolled back here.
      await unlinkIfExists(note);
      const failure = immovableSource(moveError, candidate.path, dir);
      await deps.store.finish(
        [{ id, status: 'aborted', error: describeError(failure) }],
        deps.clock(),
      );
      throw failure;
    }
    // The file is aside now: a sidecar this user may not remove is left (discovery leaves an
    // orphan `.ok` alone), never a reason to undo the quarantine.
    if (candidate.sidecar !== undefined) await unlinkIfExists(candidate.sidecar).catch(() => {});
    await fsyncDir(dir);
    await fsyncDir(dirName(candidate.path));
  });
}

/**
 * Records the quarantine through an intent row: `act` does what it takes (the move) between the
 * intent and the commit. If it throws, the intent stays for recovery to settle.
 */
async function record(
  deps: QuarantineDeps,
  candidate: Candidate,
  error: unknown,
  attempts: number,
  dest: FsPath,
  act: (id: number) => Promise<void>,
): Promise<Outcome> {
  const { store, clock } = deps;
  const reason = describeError(error);
  // Announced with the intent, sent once the row is committed (here, or by recovery after a
  // kill), deleted if it is rolled back: a crash loses neither. The store sets `data.id`.
  const data = {
    id: null,
    source: displayPath(candidate.path),
    size: candidate.identity.size,
    reason,
    code: errnoCode((error as { cause?: unknown }).cause) ?? errnoCode(error) ?? null,
    attempts,
    quarantinedTo: dest === NO_DEST ? null : displayPath(dest),
  };
  const announce = [
    ...(classifyFailure(error) === 'retry'
      ? (deps.webhooks?.announce('file.failed', data) ?? [])
      : []),
    ...(deps.webhooks?.announce('file.quarantined', data) ?? []),
  ];
  const row = await store.recordQuarantine(
    {
      source: candidate.path,
      identity: candidate.identity,
      sha256: '',
      dest,
      sidecar: candidate.sidecar ?? null,
      error: reason,
    },
    clock(),
    announce,
  );
  deps.crash('quarantine-intent');
  await act(row.id);
  await store.finish([{ id: row.id, status: 'committed', error: reason }], clock());
  if (announce.length > 0) deps.webhooks?.written();
  return { kind: 'quarantined', row: (await store.getRow(row.id))! };
}
