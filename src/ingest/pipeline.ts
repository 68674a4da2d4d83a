import fs from 'node:fs';
import path from 'node:path';
import type { Clock } from '../clock.js';
import type { CrashInjector } from '../crash.js';
import { IngestError, hasCode } from '../errors.js';
import { ensureDir, fsyncDir, lstatIfExists, unlinkIfExists } from '../fsutil.js';
import type { Candidate, FileIdentity, FileRow, FsPath, RowKind } from '../interfaces.js';
import { formatLine, manifestPathFor, partitionName, utcDate } from '../manifest/manifest-line.js';
import type { ManifestWriter } from '../manifest/manifest-writer.js';
import type { ResolvedOptions } from '../options.js';
import { baseName, dirName, joinPath, pathKey } from '../paths.js';
import type { ClaimInput, Placement, StateStore } from '../state/store.js';
import { sameIdentity } from '../watch/completion.js';
import { readAndHash } from './hasher.js';
import { placeNoReplace } from './move.js';
import { TMP_DIR_NAME, candidateName, temporaryName } from './naming.js';

/** A complete file that has been read and hashed (and copied, across filesystems). */
export interface Prepared {
  candidate: Candidate;
  sha256: string;
  /** Identity of the bytes that were hashed. */
  identity: FileIdentity;
  /** The copy beside the warehouse, when the source is on another filesystem. */
  tmp: FsPath | null;
  hashMs: number;
  completedAt: number;
}

export type Outcome =
  | { kind: 'committed'; row: FileRow }
  | { kind: 'duplicate'; row: FileRow; original: FileRow }
  | { kind: 'deferred'; reason: string }
  | { kind: 'failed'; error: unknown; row?: FileRow };

export interface PipelineDeps {
  options: ResolvedOptions;
  store: StateStore;
  manifest: ManifestWriter;
  clock: Clock;
  crash: CrashInjector;
}

interface Entry {
  item: Prepared;
  resolve(outcome: Outcome): void;
}

interface Work {
  entry: Entry;
  row: FileRow;
  original?: FileRow;
  /** Where the bytes that get the final name come from. */
  from: FsPath | null;
  linked: boolean;
  error?: unknown;
}

/** No name in the warehouse can be this: marks a duplicate that is deleted, not moved. */
const DELETED = '';

/**
 * The per-file pipeline: hash (copy) -> claim -> move -> manifest -> commit. Claims, manifest
 * appends and commits are grouped: every file that is ready while a batch runs joins the next
 * batch, which costs one transaction for its intents, one fsync per manifest file and one
 * transaction for its commits, whatever its size.
 */
export class Pipeline {
  readonly #d: PipelineDeps;
  readonly #tmpDir: string;
  readonly #warehouseDevice: number;
  /** Source devices from which link(2) into the warehouse failed with EXDEV (bind mounts). */
  readonly #copyDevices = new Set<number>();
  #queue: Entry[] = [];
  #running: Promise<void> | undefined;
  /** A batch failed in a way that leaves intents to recovery; no further batch runs. */
  fatal: unknown;

  private constructor(deps: PipelineDeps, warehouseDevice: number) {
    this.#d = deps;
    this.#tmpDir = path.join(deps.options.warehouse, TMP_DIR_NAME);
    this.#warehouseDevice = warehouseDevice;
  }

  static async create(deps: PipelineDeps): Promise<Pipeline> {
    const tmpDir = path.join(deps.options.warehouse, TMP_DIR_NAME);
    await ensureDir(tmpDir);
    const { dev } = await fs.promises.stat(deps.options.warehouse);
    return new Pipeline(deps, dev);
  }

  get queued(): number {
    return this.#queue.length;
  }

  #needsCopy(device: number): boolean {
    return device !== this.#warehouseDevice || this.#copyDevices.has(device);
  }

  /** Reads and hashes a complete file; copies it beside the warehouse across filesystems. */
  async prepare(candidate: Candidate): Promise<Prepared> {
    const completedAt = this.#d.clock();
    const tmp = this.#needsCopy(candidate.identity.device)
      ? path.join(this.#tmpDir, temporaryName())
      : null;
    const read = await readAndHash(candidate.path, candidate.identity, tmp ?? undefined, () =>
      this.#d.crash('during-copy'),
    );
    return {
      candidate,
      sha256: read.sha256,
      identity: read.identity,
      tmp,
      hashMs: read.ms,
      completedAt,
    };
  }

  /** Claims, moves, records and commits a prepared file, in the next group commit. */
  commit(item: Prepared): Promise<Outcome> {
    if (this.fatal !== undefined) return Promise.resolve({ kind: 'failed', error: this.fatal });
    return new Promise((resolve) => {
      this.#queue.push({ item, resolve });
      this.#kick();
    });
  }

  /** Resolves when no batch is running and none is queued. */
  async drain(): Promise<void> {
    while (this.#running !== undefined) await this.#running;
  }

  #kick(): void {
    if (this.#running !== undefined || this.#queue.length === 0) return;
    const batch = this.#queue.splice(0, this.#d.options.batchSize);
    this.#running = this.#runBatch(batch)
      .catch((error: unknown) => {
        this.fatal = error;
        for (const entry of [...batch, ...this.#queue.splice(0)]) {
          entry.resolve({ kind: 'failed', error });
        }
      })
      .finally(() => {
        this.#running = undefined;
        this.#kick();
      });
  }

  #placer(now: number) {
    const { options } = this.#d;
    const partition = path.join(options.warehouse, partitionName(now));
    const duplicates = path.join(options.duplicatesDir, utcDate(now));
    const manifest = manifestPathFor(options.manifests, now);
    const reserved = new Set<string>();
    return (input: ClaimInput, kind: RowKind, tmp: FsPath | null): Placement => {
      if (kind === 'duplicate' && options.onDuplicate === 'delete') {
        return { dest: DELETED, tmp, manifest: null };
      }
      const dir = kind === 'ingest' ? partition : duplicates;
      const name = baseName(input.source);
      for (let attempt = 0; ; attempt += 1) {
        const dest = joinPath(dir, candidateName(name, input.sha256, attempt));
        const key = pathKey(dest);
        if (!reserved.has(key) && !fs.existsSync(dest)) {
          reserved.add(key);
          return { dest, tmp, manifest: kind === 'ingest' ? manifest : null };
        }
      }
    };
  }

  async #runBatch(batch: Entry[]): Promise<void> {
    const { store, crash, clock } = this.#d;
    const now = clock();
    const place = this.#placer(now);
    const inputs: ClaimInput[] = batch.map(({ item }) => ({
      sha256: item.sha256,
      source: item.candidate.path,
      identity: item.identity,
      sidecar: item.candidate.sidecar ?? null,
      completedAt: item.completedAt,
      hashMs: item.hashMs,
    }));
    const tmps = new Map(batch.map(({ item }, i) => [inputs[i]!, item.tmp]));
    let results;
    try {
      results = store.claim(inputs, now, (input, kind) => place(input, kind, tmps.get(input)!));
    } catch (error) {
      await Promise.all(batch.map(({ item }) => item.tmp !== null && unlinkIfExists(item.tmp)));
      throw error;
    }
    crash('after-intent');

    const works: Work[] = [];
    for (const [i, result] of results.entries()) {
      const entry = batch[i]!;
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

    await this.#placeAll(works);
    crash('after-rename');
    await this.#removeSources(works);
    crash('after-source-removed');

    const ingested = works.filter((w) => w.error === undefined && w.row.kind === 'ingest');
    if (ingested.length > 0) {
      const text = ingested.map((w) => formatLine(recordOf(w.row))).join('');
      await this.#d.manifest.append(ingested[0]!.row.manifest!, text);
    }
    crash('after-manifest');
    crash('before-commit');
    store.finish(
      works.map((w) =>
        w.error === undefined
          ? { id: w.row.id, status: 'committed' }
          : { id: w.row.id, status: 'aborted', error: String(w.error) },
      ),
      clock(),
    );
    crash('after-commit');
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

  /** Gives every file its final name, then makes those names durable. */
  async #placeAll(works: Work[]): Promise<void> {
    const dirs = new Set<string>();
    for (const w of works) {
      if (w.row.dest === DELETED) continue;
      const destDir = dirName(w.row.dest) as string;
      try {
        await ensureDir(destDir);
        await this.#place(w);
        dirs.add(destDir);
      } catch (error) {
        const gone = hasCode(error, 'ENOENT') && !fs.existsSync(w.entry.item.candidate.path);
        w.error = gone
          ? new IngestError('INGEST_ERR_VANISHED', `${String(w.row.source)} disappeared`, {
              cause: error,
            })
          : error;
        if (w.entry.item.tmp !== null) await unlinkIfExists(w.entry.item.tmp);
      }
    }
    for (const dir of dirs) await fsyncDir(dir);
  }

  async #place(w: Work): Promise<void> {
    const { row } = w;
    const item = w.entry.item;
    try {
      w.linked = (await placeNoReplace(w.from!, row.dest)) === 'linked';
    } catch (error) {
      if (!hasCode(error, 'EXDEV')) throw error;
      // Same device number but another mount (a bind mount): copy instead, now and from now on.
      this.#copyDevices.add(item.identity.device);
      const tmp = path.join(this.#tmpDir, temporaryName());
      const read = await readAndHash(item.candidate.path, item.identity, tmp);
      if (read.sha256 !== item.sha256) {
        await unlinkIfExists(tmp);
        throw new IngestError(
          'INGEST_ERR_CHANGED',
          `${String(row.source)} changed before it was moved`,
        );
      }
      item.tmp = tmp;
      w.from = tmp;
      w.linked = (await placeNoReplace(tmp, row.dest)) === 'linked';
    }
    if (item.tmp === null) {
      // Linking by name: make sure the name still held the bytes that were hashed.
      const placed = await fs.promises.lstat(row.dest);
      if (placed.ino !== item.identity.inode || placed.size !== item.identity.size) {
        await fs.promises.unlink(row.dest);
        throw new IngestError(
          'INGEST_ERR_CHANGED',
          `${String(row.source)} was replaced before it was moved`,
        );
      }
    }
  }

  /** Removes sources, temporary names and sidecars of placed files, durably. */
  async #removeSources(works: Work[]): Promise<void> {
    const dirs = new Set<string>();
    for (const w of works) {
      if (w.error !== undefined) continue;
      const item = w.entry.item;
      try {
        if (item.tmp !== null) await unlinkIfExists(item.tmp);
        if (item.tmp !== null || w.linked || w.row.dest === DELETED) {
          const source = await lstatIfExists(item.candidate.path);
          if (source !== undefined && sameIdentity(identityOf(source), item.identity)) {
            await fs.promises.unlink(item.candidate.path);
          }
        }
        if (item.candidate.sidecar !== undefined) await unlinkIfExists(item.candidate.sidecar);
        dirs.add(dirName(item.candidate.path) as string);
      } catch (error) {
        // The file has its final name but its source could not be removed: undo the move so
        // that it stays in exactly one place, and try again later.
        w.error = error;
        if (w.row.dest !== DELETED) await unlinkIfExists(w.row.dest);
      }
    }
    if (works.some((w) => w.entry.item.tmp !== null)) dirs.add(this.#tmpDir);
    for (const dir of dirs) await fsyncDir(dir);
  }
}

export function identityOf(stat: fs.Stats): FileIdentity {
  return { device: stat.dev, inode: stat.ino, size: stat.size, mtimeMs: stat.mtimeMs };
}

export function recordOf(row: FileRow) {
  return {
    source: row.source,
    sha256: row.sha256,
    device: row.device,
    inode: row.inode,
    size: row.size,
    mtimeMs: row.mtimeMs,
    dest: row.dest,
    ingestedAt: row.intentAt,
  };
}

export { DELETED };
