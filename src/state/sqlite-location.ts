import fs from 'node:fs';
import path from 'node:path';
import { IngestError, errnoCode, flagPathMessage } from '../errors.js';
import { checkWritableFile, lstatSyncIfExists, noSpaceHint } from '../fsutil.js';

/** A state database that cannot be opened or used, naming it and the cause. */
export function stateError(statePath: string, what: string, cause: unknown): IngestError {
  const detail = cause instanceof Error ? cause.message : String(cause);
  return new IngestError(
    'INGEST_ERR_STATE',
    `state database ${JSON.stringify(statePath)} ${what}: ${detail}${noSpaceHint(statePath)}`,
    { cause },
  );
}

/**
 * Makes the state's directory and checks that each of `files` (the state, its lock) can be
 * created or written there, so that a read-only or impossible --state-path is reported with its
 * cause (`--state-path "/x/y.db" cannot be created: EROFS: read-only file system`) instead of
 * SQLite's "unable to open database file".
 */
export function prepareStateLocation(statePath: string, ...files: string[]): void {
  let exists: boolean | undefined;
  try {
    exists = lstatSyncIfExists(statePath) !== undefined;
    fs.mkdirSync(path.dirname(statePath), { recursive: true });
    for (const file of files) checkWritableFile(file);
  } catch (error) {
    if (errnoCode(error) === undefined) throw error;
    const problem =
      exists === undefined
        ? 'cannot be opened'
        : exists
          ? 'cannot be written'
          : 'cannot be created';
    throw new IngestError(
      'INGEST_ERR_STATE',
      `${flagPathMessage('state-path', statePath, problem, error)}${noSpaceHint(statePath)}`,
      { cause: error },
    );
  }
}
