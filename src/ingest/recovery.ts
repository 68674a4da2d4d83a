import fs from 'node:fs';
import path from 'node:path';
import type { CrashInjector } from '../crash.js';
import { fsyncDir, lstatIfExists, unlinkIfExists } from '../fsutil.js';
import type { FileRow } from '../interfaces.js';
import type { Logger } from '../ops/logger.js';
import { MANIFEST_FILE, formatLine, recordOf } from '../manifest/manifest-line.js';
import type { Fence, ManifestWriter } from '../manifest/manifest-writer.js';
import { hashesPresent, repairTornTail } from '../manifest/manifest-writer.js';
import type { ResolvedOptions } from '../options.js';
import { errnoMessage, hasCode } from '../errors.js';
import { dirName, displayPath, pathKey, withSuffix } from '../paths.js';
import type { Adoption, Finish, StateStore } from '../state/store.js';
import { identityOf, sameIdentity } from '../identity.js';
import { isNoDest, tmpDirOf } from '../naming.js';
import { sharedNode } from '../options/shared.js';

export interface RecoverySummary {
  rolledForward: number;
  rolledBack: number;
  vanished: number;
  tornBytes: number;
  temporariesRemoved: number;
  /** Each settled row as it now is, by the path key of its source. */
  settled: Map<string, FileRow>;
}

/** A recovery that settled nothing. */
export function emptyRecovery(): RecoverySummary {
  return {
    rolledForward: 0,
    rolledBack: 0,
    vanished: 0,
    tornBytes: 0,
    temporariesRemoved: 0,
    settled: new Map(),
  };
}

/** What recovery does with one intent, decided from what is on disk. */
export type Decision =
  | { action: 'roll-forward'; removeSource: boolean; appendLine: boolean }
  | { action: 'roll-back' }
  | { action: 'vanished' };

export interface DiskFacts {
  /** The destination exists as a regular file of the recorded size. */
  destWhole: boolean;
  /** Stat of whatever is at the source name now. */
  source: fs.Stats | undefined;
  /** Stat of the destination. */
  dest: fs.Stats | undefined;
  /** The manifest already has this content's line. */
  linePresent: boolean;
}

/**
 * The recovery rule for one intent, as a pure function of the row and the disk:
 * - the destination is whole: the move happened, so finish it (remove the source if it is
 *   still there and is the same file, append the manifest line if missing) and commit;
 * - it is not: the move never happened (names are placed only after the bytes are durable),
 *   so roll back and let discovery find the source again; if the source is gone too, someone
 *   else removed it, and the row says so.
 */
export function decide(row: FileRow, facts: DiskFacts): Decision {
  if (facts.destWhole) {
    if (row.kind === 'quarantine' && isNoDest(row.dest)) {
      // Quarantined in place: the source is the quarantined file.
      return { action: 'roll-forward', removeSource: false, appendLine: false };
    }
    const src = facts.source;
    const sameAsDest =
      src !== undefined &&
      facts.dest !== undefined &&
      src.ino === facts.dest.ino &&
      src.dev === facts.dest.dev;
    const untouched =
      src !== undefined && src.isFile() && sameIdentity(identityOf(src), identityOfRow(row));
    return {
      action: 'roll-forward',
      removeSource: sameAsDest || untouched,
      appendLine: row.kind === 'ingest' && !facts.linePresent,
    };
  }
  return facts.source === undefined ? { action: 'vanished' } : { action: 'roll-back' };
}

function identityOfRow(row: FileRow) {
  return { device: row.device, inode: row.inode, size: row.size, mtimeMs: row.mtimeMs };
}

/**
 * Settles every intent left by a crash, before discovery starts: repairs torn manifest tails,
 * drives each intent forward or back from what is on disk, and removes orphan copies.
 */
export async function recover(deps: {
  options: ResolvedOptions;
  store: StateStore;
  manifest: ManifestWriter;
  crash: CrashInjector;
  logger: Logger;
  now: () => number;
  /** Remove orphan copies (only at start: a running daemon has copies in progress). */
  sweepTemporaries?: boolean;
  /** Whose intents: by default this daemon's and orphans (see `StateStore.adoptIntents`). */
  which?: Adoption;
  /** Throws when the daemon may no longer change the input or the warehouse (its lease). */
  fence?: Fence;
}): Promise<RecoverySummary> {
  // One settlement at a time in a process: a takeover and a pause's settlement running at once
  // would both take the same intents and write their lines twice.
  const turn = settling.then(() => settle(deps));
  settling = turn.catch(() => {});
  return turn;
}

/** The settlement under way in this process, if any (see `recover`). */
let settling: Promise<unknown> = Promise.resolve();

async function settle(deps: Parameters<typeof recover>[0]): Promise<RecoverySummary> {
  const { options, store, manifest, crash, logger } = deps;
  const summary = emptyRecovery();
  const intents = await store.adoptIntents(deps.which ?? 'mine-and-orphans');
  const byManifest = new Map<string, FileRow[]>();
  for (const row of intents) {
    if (row.manifest === null) continue;
    const rows = byManifest.get(row.manifest) ?? [];
    rows.push(row);
    byManifest.set(row.manifest, rows);
  }
  // This daemon's own manifests only: a torn tail there is what a kill left. Another daemon's
  // (whose intents were taken over) may be alive again and appending: it repairs its own.
  for (const file of byManifest.keys()) {
    if (path.basename(file) !== options.manifestName) continue;
    const torn = await repairTornTail(file);
    if (torn > 0) {
      summary.tornBytes += torn;
      logger.warn({ manifest: file, bytes: torn }, 'recovery: cut a torn last manifest line');
    }
  }
  // A line may be in any manifest of its hour: a daemon that settled an intent of another
  // wrote it to its own, and may have been killed before its commit said so.
  const present = new Set<string>();
  for (const [dir, shas] of hashesByHourDir(byManifest)) {
    for (const file of await manifestsIn(dir, byManifest.keys())) {
      for (const sha of await hashesPresent(file, shas)) present.add(sha);
    }
  }

  const finishes: Finish[] = [];
  // Logged once the decisions are durable: a settlement that fails half way reports nothing.
  const reports: (() => void)[] = [];
  const lines = new Map<string, string[]>();
  const dirs = new Set<string>();
  for (const row of intents) {
    crash('during-recovery');
    const noDest = isNoDest(row.dest);
    const deleted = noDest && row.kind === 'duplicate';
    const dest = deleted ? undefined : await lstatIfExists(row.dest);
    const source = await lstatIfExists(row.source);
    const facts: DiskFacts = {
      destWhole: noDest || (dest !== undefined && dest.isFile() && dest.size === row.size),
      source,
      dest,
      linePresent: present.has(row.sha256),
    };
    const decision = decide(row, facts);
    const fields = { id: row.id, source: displayPath(row.source), dest: displayPath(row.dest) };
    if (row.tmp !== null) await unlinkIfExists(row.tmp);
    if (decision.action === 'roll-forward') {
      if (decision.removeSource || (deleted && source !== undefined)) {
        deps.fence?.(`remove ${displayPath(row.source)}`);
        try {
          await unlinkIfExists(row.source);
        } catch (error) {
          if (!hasCode(error, 'EPERM')) throw error;
          // This user may not remove the source (another user's file in a sticky directory).
          // Before its line is written the move is undone: the file stays in the input only,
          // and is quarantined in place when next taken. After, it is committed, and its
          // source is left for its owner to remove (said in an error line).
          if (!noDest && !facts.linePresent) {
            await unlinkIfExists(row.dest);
            if (row.kind === 'quarantine') {
              await unlinkIfExists(withSuffix(row.dest, '.reason.json'));
            }
            finishes.push({ id: row.id, status: 'aborted', error: errnoMessage(error) });
            summary.settled.set(pathKey(row.source), { ...row, status: 'aborted' });
            summary.rolledBack += 1;
            reports.push(() =>
              logger.warn(
                { ...fields, code: 'EPERM' },
                'recovery: this user may not remove the source: the move is undone, and the file stays in the input',
              ),
            );
            continue;
          }
          reports.push(() =>
            logger.error(
              { ...fields, code: 'EPERM' },
              'recovery: this user may not remove the source, and its manifest line is written: committed, with the source left in the input for its owner to remove',
            ),
          );
        }
        dirs.add(dirName(row.source) as string);
      }
      if (row.sidecar !== null && !(noDest && row.kind === 'quarantine')) {
        // A sidecar this user may not remove is left: discovery leaves an orphan `.ok` alone.
        await unlinkIfExists(row.sidecar).catch((error: unknown) => {
          if (!hasCode(error, 'EPERM', 'EACCES')) throw error;
        });
      }
      // This daemon writes only its own manifest: the line of another's intent goes there.
      const own =
        row.manifest === null ? null : path.join(path.dirname(row.manifest), options.manifestName);
      if (decision.appendLine) {
        const list = lines.get(own!) ?? [];
        list.push(formatLine(recordOf(row)));
        lines.set(own!, list);
      }
      finishes.push({
        id: row.id,
        status: 'committed',
        ...(decision.appendLine && own !== row.manifest ? { manifest: own! } : {}),
      });
      summary.settled.set(pathKey(row.source), { ...row, status: 'committed' });
      summary.rolledForward += 1;
      reports.push(() =>
        logger.info({ ...fields, kind: row.kind }, 'recovery: completed an interrupted ingest'),
      );
    } else if (decision.action === 'roll-back') {
      if (facts.linePresent && row.kind === 'ingest') {
        logger.error(
          fields,
          'recovery: manifest has a line for a file missing from the warehouse; left as is',
        );
      }
      finishes.push({ id: row.id, status: 'aborted', error: 'rolled back by recovery' });
      if (row.kind === 'quarantine') await unlinkIfExists(withSuffix(row.dest, '.reason.json'));
      summary.settled.set(pathKey(row.source), { ...row, status: 'aborted' });
      summary.rolledBack += 1;
      reports.push(() =>
        logger.info(fields, 'recovery: rolled back an interrupted ingest; the source stays'),
      );
    } else {
      finishes.push({
        id: row.id,
        status: 'vanished',
        error: 'source and destination both missing',
      });
      summary.settled.set(pathKey(row.source), { ...row, status: 'vanished' });
      summary.vanished += 1;
      reports.push(() =>
        logger.warn(fields, 'recovery: the source was removed by someone else before it was moved'),
      );
    }
  }
  for (const [file, list] of lines) await manifest.append(file, list.join(''));
  for (const dir of dirs) await fsyncDir(dir);
  await store.finish(finishes, deps.now());
  for (const report of reports) report();
  if (deps.sweepTemporaries !== false) summary.temporariesRemoved = await sweepTemporaries(options);
  return summary;
}

/** The hashes of the intents, by the directory of their manifests (an hour's). */
function hashesByHourDir(byManifest: Map<string, FileRow[]>): Map<string, Set<string>> {
  const byDir = new Map<string, Set<string>>();
  for (const [file, rows] of byManifest) {
    const dir = path.dirname(file);
    const shas = byDir.get(dir) ?? new Set<string>();
    for (const row of rows) shas.add(row.sha256);
    byDir.set(dir, shas);
  }
  return byDir;
}

/** Every manifest file in an hour's directory, and the intents' own (they may not exist yet). */
async function manifestsIn(dir: string, named: Iterable<string>): Promise<string[]> {
  const files = new Set([...named].filter((f) => path.dirname(f) === dir));
  try {
    for (const name of await fs.promises.readdir(dir)) {
      if (MANIFEST_FILE.test(name)) files.add(path.join(dir, name));
    }
  } catch (error) {
    if (!hasCode(error, 'ENOENT')) throw error;
  }
  return [...files];
}

/**
 * Removes copies in progress: at start no copy is in progress (the lock), and an intent's own
 * copy is never needed by recovery (a placed file has its final name; an unplaced one is read
 * again from its source), so this is safe whether or not the intents could be settled.
 */
export async function sweepTemporaries(options: ResolvedOptions): Promise<number> {
  let removed = 0;
  for (const root of new Set([options.warehouse, options.duplicatesDir])) {
    const dir = tmpDirOf(root, sharedNode(options));
    let names: string[];
    try {
      names = await fs.promises.readdir(dir);
    } catch (error) {
      if (hasCode(error, 'ENOENT')) continue;
      throw error;
    }
    for (const name of names) {
      if (await unlinkIfExists(path.join(dir, name))) removed += 1;
    }
  }
  return removed;
}
