import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import pLimit from 'p-limit';
import type { Clock } from '../clock.js';
import type { CrashInjector } from '../crash.js';
import { FULL_VOLUME_CODES, IngestError, describeError, errnoCode, hasCode } from '../errors.js';
import type { IngestorEvents } from '../events.js';
import {
  ensureDir,
  ensureOutputDir,
  fsyncDir,
  lstatSyncIfExists,
  unlinkIfExists,
  unlinkSyncIfExists,
} from '../fsutil.js';
import type { Candidate, FileIdentity, FileRow, FsPath, RowKind } from '../interfaces.js';
import type { Logger } from '../ops/logger.js';
import {
  formatLine,
  manifestPathFor,
  partitionName,
  recordOf,
  utcDate,
} from '../manifest/manifest-line.js';
import type { ManifestWriter } from '../manifest/manifest-writer.js';
import type { ResolvedOptions } from '../options.js';
import { baseName, dirName, displayPath, pathKey, withSuffix } from '../paths.js';
import type { ClaimInput, Placement, StateStore } from '../state/store.js';
import { identityOf, sameIdentity } from '../identity.js';
import { backoffMs } from './failures.js';
import type { Hasher } from './hash-pool.js';
import { inThreadHasher } from './hash-pool.js';
import type { ReadResult } from './hasher.js';
import { hashFile, readAndHash } from './hasher.js';
import type { Lease } from './lease.js';
import type { UnseenVolume } from './lease.js';
import { LeaseKeeper, UnseenVolumes } from './lease.js';
import { giveBackReopened, reopened, reportReopenedAfterCommit } from './give-back.js';
import { placeNoReplace } from './move.js';
import { NO_DEST, TMP_DIR_NAME, freeName, temporaryName } from './naming.js';
import { recover } from './recovery.js';

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

export type Outcome =
  | { kind: 'committed'; row: FileRow }
  | { kind: 'duplicate'; row: FileRow; original: FileRow }
  | { kind: 'quarantined'; row: FileRow }
  | { kind: 'deferred'; reason: string; code?: string | undefined }
  | { kind: 'failed'; error: unknown; row?: FileRow };

export interface PipelineDeps {
  options: ResolvedOptions;
  store: StateStore;
  manifest: ManifestWriter;
  clock: Clock;
  crash: CrashInjector;
  logger: Logger;
  events: IngestorEvents;
  /** Where files are read and hashed. Default: on this thread. */
  hasher?: Hasher;
}

interface Entry {
  item: HashedFile;
  /** performance.now() when it was queued. */
  queuedAt: number;
  settled: boolean;
  /** Times it was carried to the next batch because its content was in flight. */
  carried: number;
  resolve(outcome: Outcome): void;
}

export interface Work {
  entry: Entry;
  row: FileRow;
  original?: FileRow;
  /** Where the bytes that get the final name come from. */
  from: FsPath;
  linked: boolean;
  error?: unknown;
}

/**
 * How long a batch may wait to fill while more files are being hashed: a batch's fixed costs
 * (two transactions, a manifest fsync, directory fsyncs) are then shared by many files.
 */
const LINGER_MS = 20;

/** How many batches a file whose content is in flight waits before it is deferred. */
const MAX_CARRIES = 3;

/** Pauses start at 1 s and double up to 30 s (with jitter) while the failure persists. */
const PAUSE_BASE_MS = 1_000;
const PAUSE_CAP_MS = 30_000;

/**
 * Where the kernel cannot say whether a file is open for writing, an empty file waits this
 * long after its last change: writers such as `rsync --inplace` and `dd` create the file and
 * leave it empty for seconds before the first byte, and the stability window alone would take
 * it then.
 */
export const EMPTY_WITHOUT_LEASE_MS = 60_000;

/**
 * The per-file pipeline: hash (copy) -> claim -> move -> manifest -> commit. Claims, manifest
 * appends and commits are grouped: every file that is ready while a batch runs joins the next
 * batch, which costs one transaction for its intents, one fsync per manifest file and one
 * transaction for its commits, whatever its size. A batch that is not full waits up to
 * LINGER_MS while `moreComing()` says files are still being hashed.
 *
 * When an output volume fails (full, read-only, locked), ingestion pauses with backoff: a batch
 * that failed after its intents were written is settled at once by the same rules as start-up
 * recovery, and new work waits until the pause ends. If that settlement fails too (the manifest
 * volume is the full one), the batch's files are held, neither failed nor committed, and each
 * end of the pause tries the settlement again on its own, new files or not.
 */
export class Pipeline {
  readonly #d: PipelineDeps;
  readonly #tmpDir: string;
  readonly #warehouseDevice: number;
  readonly #quarantineDevice: number;
  /** Source devices from which link(2) into the warehouse failed with EXDEV (bind mounts). */
  readonly #copyDevices = new Set<number>();
  readonly #leases = new LeaseKeeper();
  /** Set by a pause for a full volume: copies are made one at a time (`#oneCopy`). */
  #probing = false;
  #pauseCount = 0;
  readonly #oneCopy = pLimit(1);
  readonly #unseen: UnseenVolumes;
  #queue: Entry[] = [];
  readonly #roomWaiters: (() => void)[] = [];
  #running: Promise<void> | undefined;
  #pause:
    | { until: number; attempts: number; since: number; reason: string; code: string | undefined }
    | undefined;
  #lastPause: { code: string | undefined; resumedAt: number; attempts: number } | undefined;
  #pauseTimer: NodeJS.Timeout | undefined;
  #lingerTimer: NodeJS.Timeout | undefined;
  /** Whether more files are being read and hashed (the batch may wait for them). */
  moreComing: () => boolean = () => false;
  /** Intents of a failed batch could not be settled yet: settle them before anything else. */
  #needsRecovery = false;
  /** Files of that batch, resolved when their intents are settled. */
  #held: { entries: Entry[]; error: unknown } | undefined;
  #stopping = false;

  private constructor(deps: PipelineDeps, warehouseDevice: number, quarantineDevice: number) {
    this.#d = deps;
    this.#tmpDir = path.join(deps.options.warehouse, TMP_DIR_NAME);
    this.#warehouseDevice = warehouseDevice;
    this.#quarantineDevice = quarantineDevice;
    this.#unseen = new UnseenVolumes(deps.logger, deps.events);
  }

  static async create(deps: PipelineDeps): Promise<Pipeline> {
    const tmpDir = path.join(deps.options.warehouse, TMP_DIR_NAME);
    await ensureOutputDir('warehouse', tmpDir);
    await ensureOutputDir('quarantine-dir', deps.options.quarantineDir);
    const { dev } = await fs.promises.stat(deps.options.warehouse);
    const quarantine = await fs.promises.stat(deps.options.quarantineDir);
    return new Pipeline(deps, dev, quarantine.dev);
  }

  get queued(): number {
    return this.#queue.length;
  }

  /** Backoff steps taken by pauses so far (a pass counts those that let nothing in). */
  get pauseCount(): number {
    return this.#pauseCount;
  }

  /** Files of a batch that could not be recorded, held until a pause ends. */
  get heldCount(): number {
    return this.#held?.entries.length ?? 0;
  }

  /** Intents left by a failure wait to be settled (they are settled before any new batch). */
  get unsettled(): boolean {
    return this.#needsRecovery;
  }

  /** Why ingestion is paused, or undefined. */
  get pausedReason(): string | undefined {
    return this.#pause?.reason;
  }

  #needsCopy(device: number): boolean {
    return device !== this.#warehouseDevice || this.#copyDevices.has(device);
  }

  /** Resolves when ingestion is not paused; throws INGEST_ERR_STOPPING when stopping. */
  async whenNotPaused(): Promise<void> {
    for (;;) {
      if (this.#stopping) throw new IngestError('INGEST_ERR_STOPPING', 'stopping');
      const wait = this.#pause === undefined ? 0 : this.#pause.until - this.#d.clock();
      if (wait <= 0) return;
      await new Promise((resolve) => setTimeout(resolve, Math.min(wait, 250)));
    }
  }

  /** Pauses all ingestion because an output volume failed; backs off while it goes on. */
  pause(error: unknown): void {
    const now = this.#d.clock();
    // Several workers see the same full disk at once: one pause, one backoff step.
    if (this.#pause !== undefined && now < this.#pause.until) return;
    const code = errnoCode(error);
    // A volume that filled up again soon after a resume (some files fitted, the rest did not)
    // is the same incident: its backoff goes on growing instead of starting again at 1 s.
    const last = this.#lastPause;
    const again =
      this.#pause === undefined &&
      last !== undefined &&
      last.code === code &&
      now - last.resumedAt < PAUSE_CAP_MS * 2;
    const attempts = (this.#pause?.attempts ?? (again ? last.attempts : 0)) + 1;
    this.#pauseCount += 1;
    const wasPaused = this.#pause !== undefined;
    // After a full volume, copies go one at a time until a batch commits: all of them at once
    // can each fail where one would fit, and then no file ever gets through.
    if (code !== undefined && FULL_VOLUME_CODES.includes(code)) this.#probing = true;
    const delay = backoffMs(attempts, PAUSE_BASE_MS, PAUSE_CAP_MS);
    const reason = describeError(error);
    this.#pause = { until: now + delay, attempts, since: this.#pause?.since ?? now, reason, code };
    const held = this.#needsRecovery ? this.#openIntentCount() : 0;
    const where =
      held === 0
        ? 'sources stay in the input'
        : `${held} moved files wait to be recorded, other sources stay in the input`;
    // One warn line when ingestion stops (again); each retry while it stays paused is debug.
    this.#d.logger[wasPaused ? 'debug' : 'warn'](
      { event: 'paused', err: reason, code, retryInMs: delay, attempts, held },
      `ingestion paused: ${reason}; ${where}; retrying in ${(delay / 1000).toFixed(1)}s`,
    );
    this.#d.events.emit('pipeline:paused', { reason, code: errnoCode(error), retryInMs: delay });
  }

  /**
   * Moved files waiting to be recorded once a settlement has failed: the open intents (a held
   * batch's, or those start-up recovery could not settle). Read only when pausing, which backs
   * off; 0 if the state cannot be read either.
   */
  #openIntentCount(): number {
    try {
      return this.#d.store.openIntents().length;
    } catch {
      return 0;
    }
  }

  /** Starts paused with intents that start-up recovery could not settle (a full volume). */
  startPaused(error: unknown): void {
    this.#needsRecovery = true;
    this.pause(error);
    this.#kick();
  }

  #resumed(): void {
    if (this.#pause === undefined) return;
    const now = this.#d.clock();
    const pausedMs = now - this.#pause.since;
    this.#lastPause = { code: this.#pause.code, resumedAt: now, attempts: this.#pause.attempts };
    this.#probing = false;
    this.#pause = undefined;
    this.#d.logger.info({ event: 'resumed', pausedMs }, 'ingestion resumed');
    this.#d.events.emit('pipeline:resumed', { pausedMs });
  }

  /** Volumes where writers cannot be seen: for `ingestor status`. */
  get volumesWithoutLeases(): UnseenVolume[] {
    return this.#unseen.list();
  }

  /**
   * Reads and hashes a complete file, under a read lease in stability mode (a file some process
   * has open for writing is refused: INGEST_ERR_OPEN_FOR_WRITING). Copies it beside the
   * warehouse across filesystems, and when it has other hard links: a warehouse file never
   * shares its inode with a name outside the warehouse.
   */
  async hashAndCopy(candidate: Candidate): Promise<HashedFile> {
    const completedAt = this.#d.clock();
    const linked = candidate.links > 1;
    // Where writers cannot be seen, a writer may still hold the file: a copy keeps what it
    // writes later out of the warehouse (it goes to the removed source instead).
    const unseen = this.#unseen.has(candidate.identity.device);
    let tmp =
      this.#needsCopy(candidate.identity.device) || linked || unseen
        ? path.join(this.#tmpDir, temporaryName())
        : null;
    const hasher = this.#d.hasher ?? inThreadHasher;
    const hash = () =>
      hasher.hash(
        candidate.path,
        candidate.identity,
        tmp ?? undefined,
        () => this.#d.crash('during-copy'),
        this.#d.options.mode === 'stability',
      );
    let read: ReadResult;
    try {
      read = await (tmp !== null && this.#probing ? this.#oneCopy(hash) : hash());
    } catch (error) {
      // The hasher removes its copy when the read fails, but not when its thread died: a partial
      // copy must never be left to fill the volume.
      if (tmp !== null) await unlinkIfExists(tmp);
      throw error;
    }
    const lease = read.leaseFd === null ? null : this.#leases.adopt(read.leaseFd);
    try {
      const name = displayPath(candidate.path);
      if (read.leaseUnavailable !== null) {
        this.#unseen.note(candidate.path, read.identity.device, read.leaseUnavailable);
        if (tmp === null) {
          // The first file of a volume where writers cannot be seen: copied now, like the rest.
          tmp = path.join(this.#tmpDir, temporaryName());
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
      if (tmp !== null && linked && (await hashFile(tmp)) !== read.sha256) {
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

  /** Claims, moves, records and commits a prepared file, in the next group commit. */
  ingestInNextBatch(item: HashedFile): Promise<Outcome> {
    return new Promise((resolve) => {
      const entry: Entry = {
        item,
        queuedAt: performance.now(),
        settled: false,
        carried: 0,
        resolve: (outcome) => {
          if (entry.settled) return;
          entry.settled = true;
          resolve(outcome);
        },
      };
      this.#queue.push(entry);
      this.#kick();
    });
  }

  /** Resolves when the commit queue has room (two batches' worth), or when stopping. */
  async whenBatchRoom(): Promise<void> {
    while (!this.#stopping && this.#queue.length >= this.#d.options.batchSize * 2) {
      await new Promise<void>((resolve) => this.#roomWaiters.push(resolve));
    }
  }

  #wakeRoomWaiters(): void {
    for (const wake of this.#roomWaiters.splice(0)) wake();
  }

  /** Resolves when no batch is running and none is queued. */
  async drain(): Promise<void> {
    while (this.#running !== undefined || (this.#hasWork() && this.#pause === undefined)) {
      await (this.#running ?? new Promise((r) => setTimeout(r, 10)));
    }
  }

  /** Stops: queued files that cannot be committed now (paused) are left in the input. */
  async stop(): Promise<void> {
    this.#stopping = true;
    clearTimeout(this.#pauseTimer);
    this.#kick();
    this.#wakeRoomWaiters();
    await this.drain();
    for (const entry of this.#queue.splice(0)) {
      if (entry.item.tmp !== null) await unlinkIfExists(entry.item.tmp);
      entry.resolve({ kind: 'deferred', reason: 'stopping while ingestion is paused' });
    }
    // Held files are settled by the recovery of the next start.
    for (const entry of this.#held?.entries.splice(0) ?? []) {
      entry.resolve({ kind: 'deferred', reason: 'stopping', code: 'INGEST_ERR_STOPPING' });
    }
    this.#leases.close();
  }

  #hasWork(): boolean {
    return this.#queue.length > 0 || this.#needsRecovery;
  }

  #kick(): void {
    if (this.#running !== undefined || !this.#hasWork()) return;
    const wait = this.#pause === undefined ? 0 : this.#pause.until - this.#d.clock();
    if (wait > 0) {
      if (this.#pauseTimer === undefined && !this.#stopping) {
        this.#pauseTimer = setTimeout(() => {
          this.#pauseTimer = undefined;
          this.#kick();
        }, wait);
      }
      return;
    }
    if (this.#queue.length === 0) {
      this.#running = this.#settleHeld().finally(() => {
        this.#running = undefined;
        this.#kick();
      });
      return;
    }
    const { batchSize } = this.#d.options;
    if (this.#queue.length < batchSize && !this.#stopping && this.moreComing()) {
      const linger = this.#queue[0]!.queuedAt + LINGER_MS - performance.now();
      if (linger > 0) {
        this.#lingerTimer ??= setTimeout(() => {
          this.#lingerTimer = undefined;
          this.#kick();
        }, linger);
        return;
      }
    }
    clearTimeout(this.#lingerTimer);
    this.#lingerTimer = undefined;
    const batch = this.#queue.splice(0, batchSize);
    this.#wakeRoomWaiters();
    this.#running = this.#runBatch(batch).finally(() => {
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
        return { dest: NO_DEST, tmp, manifest: null };
      }
      const dir = kind === 'ingest' ? partition : duplicates;
      const dest = freeName(dir, baseName(input.source), input.sha256, reserved);
      return { dest, tmp, manifest: kind === 'ingest' ? manifest : null };
    };
  }

  /** Settles the intents of a batch that failed and could not be settled then. */
  async #settleHeld(): Promise<void> {
    try {
      await this.#settleIntents();
      this.#resumed();
    } catch (error) {
      // The pause line said it; each failed retry of the settlement is a debug line.
      this.#d.logger.debug(
        { err: describeError(error) },
        'interrupted batch still cannot be settled; will retry when the pause ends',
      );
      this.pause(error);
    }
  }

  async #runBatch(batch: Entry[]): Promise<void> {
    if (this.#needsRecovery) {
      try {
        await this.#settleIntents();
      } catch (error) {
        // Nothing of this batch was written: its files stay in the input and wait for the
        // pause to end, like any file during a pause.
        for (const entry of batch) {
          if (entry.item.tmp !== null) await unlinkIfExists(entry.item.tmp);
          entry.resolve({ kind: 'failed', error });
        }
        this.pause(error);
        return;
      }
    }
    try {
      await this.#commitBatch(batch);
      this.#resumed();
    } catch (error) {
      // Nothing of the batch is half done on disk for long: intents written before the
      // failure are settled by the recovery rules (forward if the file has its final name,
      // back otherwise), the rest of the batch returns to the input's waiting files.
      let held: Entry[] = [];
      try {
        await this.#settleIntents(batch);
      } catch (recoveryError) {
        this.#needsRecovery = true;
        held = batch.filter((entry) => !entry.settled);
        this.#d.logger.warn(
          { err: describeError(recoveryError), files: held.length },
          'interrupted batch cannot be settled yet; its files are held until the pause ends',
        );
      }
      for (const entry of batch) {
        if (entry.item.tmp !== null && !entry.settled) await unlinkIfExists(entry.item.tmp);
        if (!held.includes(entry)) entry.resolve({ kind: 'failed', error });
      }
      if (held.length > 0) {
        const before = this.#held?.entries ?? [];
        this.#held = { entries: [...before, ...held], error };
      }
      this.pause(error);
    }
  }

  /** Settles open intents like start-up recovery; resolves the entries of `batch` they were. */
  async #settleIntents(batch: Entry[] = []): Promise<void> {
    const { options, store, manifest, logger, clock } = this.#d;
    const result = await recover({
      options,
      store,
      manifest,
      crash: () => {},
      logger,
      now: clock,
      sweepTemporaries: false,
    });
    this.#needsRecovery = false;
    const held = this.#held;
    this.#held = undefined;
    for (const entry of [...batch, ...(held?.entries ?? [])]) {
      const key = pathKey(entry.item.candidate.path);
      const row = result.settled.get(key);
      if (row?.status === 'committed' && row.kind === 'ingest') {
        entry.resolve({ kind: 'committed', row });
      } else if (row?.status === 'committed' && row.kind === 'duplicate') {
        const original = row.duplicateOf === null ? undefined : store.getRow(row.duplicateOf);
        if (original !== undefined) entry.resolve({ kind: 'duplicate', row, original });
      }
    }
    // Rolled back: the source is still in the input and waits for the pause to end.
    for (const entry of held?.entries ?? []) entry.resolve({ kind: 'failed', error: held!.error });
  }

  async #commitBatch(all: Entry[]): Promise<void> {
    const { store, crash, clock } = this.#d;
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
    const results = store.claim(inputs, now, (input, kind) => place(input, kind, tmps.get(input)!));
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

    await this.#placeAll(works);
    crash('after-rename');
    await giveBackReopened(works, false, this.#d.logger);
    await this.#removeSources(works);
    crash('after-source-removed');
    await giveBackReopened(works, true, this.#d.logger);

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
          : { id: w.row.id, status: 'aborted', error: describeError(w.error) },
      ),
      clock(),
    );
    crash('after-commit');
    reportReopenedAfterCommit(works, this.#d.logger);
    this.#queue.unshift(...carried);
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
      if (w.row.dest === NO_DEST) continue;
      const destDir = dirName(w.row.dest) as string;
      try {
        await ensureDir(destDir);
        await this.#place(w);
        dirs.add(destDir);
      } catch (error) {
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

  async #place(w: Work): Promise<void> {
    const { row } = w;
    const item = w.entry.item;
    try {
      w.linked = placeNoReplace(w.from, row.dest) === 'linked';
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
          `${displayPath(row.source)} changed before it was moved`,
        );
      }
      item.tmp = tmp;
      w.from = tmp;
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
  async #removeSources(works: Work[]): Promise<void> {
    const dirs = new Set<string>();
    for (const w of works) {
      if (w.error !== undefined) continue;
      const item = w.entry.item;
      try {
        if (item.tmp !== null) unlinkSyncIfExists(item.tmp);
        if (item.tmp !== null || w.linked || w.row.dest === NO_DEST) {
          const source = lstatSyncIfExists(item.candidate.path);
          if (source !== undefined && sameIdentity(identityOf(source), item.identity)) {
            fs.unlinkSync(item.candidate.path);
          }
        }
        if (item.candidate.sidecar !== undefined) unlinkSyncIfExists(item.candidate.sidecar);
        dirs.add(dirName(item.candidate.path) as string);
      } catch (error) {
        // The file has its final name but its source could not be removed: undo the move so
        // that it stays in exactly one place, and try again later.
        w.error = error;
        if (w.row.dest !== NO_DEST) await unlinkIfExists(w.row.dest);
      }
    }
    if (works.some((w) => w.entry.item.tmp !== null)) dirs.add(this.#tmpDir);
    for (const dir of dirs) await fsyncDir(dir);
  }

  /**
   * Moves a file that can never be ingested as it is to the quarantine directory, with a
   * `<name>.reason.json` beside it, through an intent row like any move. A file on another
   * filesystem than the quarantine directory cannot be moved without reading it (which is
   * what failed), so it is quarantined in place: left where it is and skipped until
   * `ingestor retry`.
   */
  async quarantine(candidate: Candidate, error: unknown, attempts: number): Promise<Outcome> {
    const { store, clock, options } = this.#d;
    const now = clock();
    const reason = describeError(error);
    const movable = candidate.identity.device === this.#quarantineDevice;
    const dir = path.join(options.quarantineDir, utcDate(now));
    const dest = movable
      ? freeName(dir, baseName(candidate.path), randomBytes(8).toString('hex'), new Set())
      : NO_DEST;
    const row = store.recordQuarantine(
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
    store.finish([{ id: row.id, status: 'committed', error: reason }], clock());
    return { kind: 'quarantined', row: store.getRow(row.id)! };
  }
}
