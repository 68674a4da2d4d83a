import type { Candidate } from '../interfaces.js';
import { displayPath, pathKey } from '../paths.js';
import { pendingId } from '../pending-id.js';

/** A file submitted and not settled: what a cancel reaches. */
export interface InFlightJob {
  readonly candidate: Candidate;
  /** Aborted by a cancel: a copy stops at its next chunk. */
  readonly controller: AbortController;
  /** Hashing began (its slot was given). */
  hashing: boolean;
  /** Claimed or about to be: past the point where a cancel can stop it. */
  placing: boolean;
  cancelled: boolean;
  /** When hashing began (ms), once it has. */
  hashingSince?: number;
}

/** A file being read, hashed, copied or placed, as the dashboard lists it. */
export interface InFlightView {
  /** Its pending id (a cancel's id). */
  id: string;
  source: string;
  bytes: number;
  phase: 'hashing' | 'placing';
  /** When hashing began (ms). */
  since: number | null;
}

/** The files submitted and not settled, by path. */
export class InFlightJobs {
  readonly #jobs = new Map<string, InFlightJob>();

  /** Records that a file is in flight; `settled` forgets it. */
  track(candidate: Candidate): InFlightJob {
    const job: InFlightJob = {
      candidate,
      controller: new AbortController(),
      hashing: false,
      placing: false,
      cancelled: false,
    };
    this.#jobs.set(pathKey(candidate.path), job);
    return job;
  }

  settled(job: InFlightJob): void {
    const key = pathKey(job.candidate.path);
    if (this.#jobs.get(key) === job) this.#jobs.delete(key);
  }

  get size(): number {
    return this.#jobs.size;
  }

  values(): IterableIterator<InFlightJob> {
    return this.#jobs.values();
  }

  /** The files being hashed or placed, the largest first, at most `limit`, and how many. */
  list(limit: number): { files: InFlightView[]; total: number } {
    const busy = [...this.#jobs.values()].filter((job) => job.hashing || job.placing);
    busy.sort((a, b) => b.candidate.identity.size - a.candidate.identity.size);
    return {
      total: busy.length,
      files: busy.slice(0, limit).map((job) => ({
        id: pendingId(job.candidate.path),
        source: displayPath(job.candidate.path),
        bytes: job.candidate.identity.size,
        phase: job.placing ? 'placing' : 'hashing',
        since: job.hashingSince ?? null,
      })),
    };
  }
}
