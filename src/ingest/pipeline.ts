import fs from 'node:fs';
import { ensureOutputDir } from '../fsutil.js';
import type { Candidate } from '../interfaces.js';
import type { BatchDeps } from './batch.js';
import { ingestBatch } from './batch.js';
import { GroupCommit } from './group-commit.js';
import type { HashAndCopyDeps } from './hash-and-copy.js';
import { hashAndCopy } from './hash-and-copy.js';
import { LiveLimits } from './live-limits.js';
import type { Webhooks } from '../webhooks/webhooks.js';
import type { Hasher, ReadStall } from './hash-pool.js';
import { inThreadHasher } from './hash-pool.js';
import type { UnseenVolume } from './lease.js';
import { LeaseKeeper, UnseenVolumes } from './lease.js';
import { tmpDirOf } from '../naming.js';
import { sharedNode } from '../options/shared.js';
import type { HashedFile, Outcome, StepDeps } from './outcome.js';
import { Pause } from './pause.js';
import type { QuarantineDeps } from './quarantine.js';
import { quarantine } from './quarantine.js';
import { FreeSpaceFloor } from './space-floor.js';

// Their home is outcome.ts; importers of the pipeline find them here too.
export type { HashedFile, Outcome } from './outcome.js';

/** What the pipeline is given: what every step is, and where files are hashed. */
export interface PipelineDeps extends StepDeps {
  /** Where files are read and hashed. Default: on this thread. */
  hasher?: Hasher;
  /** The limits in force (an operator may change them). Default: the options'. */
  limits?: LiveLimits;
  /** Where quarantines are announced (`--webhook`). */
  webhooks?: Webhooks;
  /** `--read-stall-timeout`, for the default hasher (a given one has its own). */
  stall?: ReadStall;
}

/**
 * The per-file pipeline: hash (copy) -> claim -> move -> manifest -> commit. Each step has a
 * module of its own; this class puts them together for the orchestrator:
 * `hashAndCopy` (hash-and-copy.ts), the group-commit queue (group-commit.ts) whose batches
 * are ingested by `ingestBatch` (batch.ts), pausing when an output volume fails (pause.ts),
 * and quarantine (quarantine.ts).
 */
export class Pipeline {
  readonly #leases = new LeaseKeeper();
  readonly #unseen: UnseenVolumes;
  readonly #pause: Pause;
  readonly #queue: GroupCommit;
  readonly #hashing: HashAndCopyDeps;
  readonly #quarantining: QuarantineDeps;
  readonly #options: PipelineDeps['options'];

  private constructor(
    deps: PipelineDeps,
    tmpDir: string,
    warehouseDevice: number,
    quarantineDevice: number,
    floor: FreeSpaceFloor,
    limits: LiveLimits,
  ) {
    // Source devices from which link(2) into the warehouse failed with EXDEV (bind mounts).
    const copyDevices = new Set<number>();
    this.#options = deps.options;
    this.#unseen = new UnseenVolumes(deps.logger, deps.events);
    this.#pause = new Pause(deps);
    const batch: BatchDeps = {
      ...deps,
      tmpDir,
      copyDevices,
      carry: (entries) => this.#queue.carry(entries),
    };
    this.#queue = new GroupCommit({
      options: deps.options,
      pause: this.#pause,
      ingest: (entries, placed) => ingestBatch(batch, entries, placed),
    });
    this.#hashing = {
      ...deps,
      hasher: deps.hasher ?? inThreadHasher(deps.crash, limits.rate, deps.stall),
      limits,
      rate: limits.rate,
      tmpDir,
      leases: this.#leases,
      unseen: this.#unseen,
      needsCopy: (device) => device !== warehouseDevice || copyDevices.has(device),
      runCopy: (copy) => this.#pause.runCopy(copy),
      space: {
        whenRoom: (copyBytes) => this.#whenRoom(floor, copyBytes),
        done: (copyBytes) => {
          floor.done(copyBytes);
          if (copyBytes > 0) this.#pause.spaceChanged();
        },
      },
    };
    this.#quarantining = {
      ...deps,
      quarantineDevice,
      ...(deps.webhooks === undefined ? {} : { webhooks: deps.webhooks }),
    };
  }

  /** Makes sure the warehouse's temporary directory and the quarantine directory exist first. */
  static async create(deps: PipelineDeps): Promise<Pipeline> {
    const tmpDir = tmpDirOf(deps.options.warehouse, sharedNode(deps.options));
    await ensureOutputDir('warehouse', tmpDir);
    await ensureOutputDir('quarantine-dir', deps.options.quarantineDir);
    const { dev } = await fs.promises.stat(deps.options.warehouse);
    const quarantine = await fs.promises.stat(deps.options.quarantineDir);
    const limits = deps.limits ?? new LiveLimits(deps.options);
    const floor = new FreeSpaceFloor(() => limits.minFreeSpace, deps.options);
    return new Pipeline(deps, tmpDir, dev, quarantine.dev, floor, limits);
  }

  /** Backoff steps taken by pauses so far (a pass counts those that let nothing in). */
  get pauseCount(): number {
    return this.#pause.pauseCount;
  }

  /** Files of a batch that could not be recorded, held until a pause ends. */
  get heldCount(): number {
    return this.#pause.heldCount;
  }

  /**
   * Calls `listener` at the next change of the pause: it begins or ends, files are held, or a
   * stop. Returns what removes it.
   */
  onPauseChange(listener: () => void): () => void {
    return this.#pause.onChange(listener);
  }

  /** Intents left by a failure wait to be settled (they are settled before any new batch). */
  get unsettled(): boolean {
    return this.#pause.unsettled;
  }

  /** Why ingestion is paused, or undefined. */
  get pausedReason(): string | undefined {
    return this.#pause.pausedReason;
  }

  /** Volumes where writers cannot be seen: for `ingestor status`. */
  get volumesWithoutLeases(): UnseenVolume[] {
    return this.#unseen.list();
  }

  /** Says whether more files are being read and hashed (the batch may wait for them). */
  set moreComing(moreComing: () => boolean) {
    this.#queue.moreComing = moreComing;
  }

  /** Resolves when ingestion is not paused; throws INGEST_ERR_STOPPING when stopping. */
  whenNotPaused(): Promise<void> {
    return this.#pause.whenNotPaused();
  }

  /** Pauses all ingestion because an output volume failed; backs off while it goes on. */
  pause(error: unknown): void {
    this.#pause.pause(error);
  }

  /** Starts paused with intents that start-up recovery could not settle (a full volume). */
  startPaused(error: unknown, openIntents: number): void {
    this.#pause.startPaused(error, openIntents);
    this.#queue.kick();
  }

  /**
   * Waits until `--min-free-space` lets the file be read (see FreeSpaceFloor): the pause while a
   * volume is low, a wait of its own while only this file's copy would not fit. A `--once` pass
   * does not wait for space: the file fails as on a full volume, and the pass ends.
   */
  async #whenRoom(floor: FreeSpaceFloor, copyBytes: number): Promise<void> {
    for (;;) {
      const admission = floor.admit(copyBytes);
      if (admission.kind !== 'wait') {
        this.#pause.lowSpace(admission.kind === 'low' ? admission.error : undefined);
      }
      if (admission.kind === 'admitted') return;
      if (admission.kind === 'low' && this.#options.once) throw admission.error;
      // Woken when a copy under way ends (room may be back), else after a second.
      await this.#pause.whenSpaceMayBeBack();
    }
  }

  /** Reads, hashes and copies a complete file under a read lease: see `hashAndCopy`. */
  hashAndCopy(candidate: Candidate, signal?: AbortSignal): Promise<HashedFile> {
    return hashAndCopy(this.#hashing, candidate, signal);
  }

  /** Claims, moves, records and commits a prepared file, in the next group commit. */
  ingestInNextBatch(item: HashedFile): Promise<Outcome> {
    return this.#queue.ingestInNextBatch(item);
  }

  /** Resolves when the commit queue has room for a file of `priority` (see GroupCommit). */
  whenBatchRoom(priority = 0): Promise<void> {
    return this.#queue.whenBatchRoom(priority);
  }

  /** Resolves when no batch is running and none is queued. */
  drain(): Promise<void> {
    return this.#queue.drain();
  }

  /** Stops: queued files that cannot be committed now (paused) are left in the input. */
  async stop(): Promise<void> {
    this.#pause.stop();
    await this.#queue.stop();
    // Held files are settled by the recovery of the next start.
    this.#pause.releaseHeld();
    this.#leases.close();
  }

  /** Moves a file that can never be ingested to quarantine: see `quarantine`. */
  quarantine(candidate: Candidate, error: unknown, attempts: number): Promise<Outcome> {
    return quarantine(this.#quarantining, candidate, error, attempts);
  }
}
