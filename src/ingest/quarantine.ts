import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describeError, errnoCode } from '../errors.js';
import { ensureDir, fsyncDir, unlinkIfExists } from '../fsutil.js';
import type { Candidate } from '../interfaces.js';
import { utcDate } from '../manifest/manifest-line.js';
import { baseName, dirName, displayPath, withSuffix } from '../paths.js';
import { placeNoReplace } from './move.js';
import { NO_DEST, freeName } from '../naming.js';
import type { Outcome, StepDeps } from './outcome.js';

/** What quarantining needs from the pipeline. */
export interface QuarantineDeps extends Pick<StepDeps, 'options' | 'store' | 'clock'> {
  /** The device of the quarantine directory: only files on it can be moved there. */
  quarantineDevice: number;
}

/**
 * Moves a file that can never be ingested as it is to the quarantine directory, with a
 * `<name>.reason.json` beside it, through an intent row like any move. A file on another
 * filesystem than the quarantine directory cannot be moved without reading it (which is
 * what failed), so it is quarantined in place: left where it is and skipped until
 * `ingestor retry`.
 */
export async function quarantine(
  deps: QuarantineDeps,
  candidate: Candidate,
  error: unknown,
  attempts: number,
): Promise<Outcome> {
  const { store, clock, options } = deps;
  const now = clock();
  const reason = describeError(error);
  const movable = candidate.identity.device === deps.quarantineDevice;
  const dir = path.join(options.quarantineDir, utcDate(now));
  const dest = movable
    ? freeName(dir, baseName(candidate.path), randomBytes(8).toString('hex'), new Set())
    : NO_DEST;
  const row = await store.recordQuarantine(
    {
      source: candidate.path,
      identity: candidate.identity,
      sha256: '',
      dest,
      sidecar: candidate.sidecar ?? null,
      error: reason,
    },
    now,
  );
  if (movable) {
    await ensureDir(dir);
    const note = {
      source: displayPath(candidate.path),
      reason,
      code: errnoCode((error as { cause?: unknown }).cause) ?? errnoCode(error) ?? null,
      attempts,
      quarantinedAt: new Date(now).toISOString(),
      stateRow: row.id,
    };
    await fs.promises.writeFile(withSuffix(dest, '.reason.json'), `${JSON.stringify(note)}\n`);
    const linked = placeNoReplace(candidate.path, dest) === 'linked';
    if (linked) await fs.promises.unlink(candidate.path);
    if (candidate.sidecar !== undefined) await unlinkIfExists(candidate.sidecar);
    await fsyncDir(dir);
    await fsyncDir(dirName(candidate.path));
  }
  await store.finish([{ id: row.id, status: 'committed', error: reason }], clock());
  return { kind: 'quarantined', row: (await store.getRow(row.id))! };
}
