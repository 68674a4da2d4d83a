import type { SpaceFloor } from '../options/bytes.js';
import type { ResolvedOptions } from '../options.js';
import { ByteRate } from './byte-rate.js';

/** What an operator may change at run time besides the concurrency (`PUT /v1/limits`). */
export interface LimitChanges {
  /** null: no limit. */
  readonly maxBytesPerSecond?: number | null;
  /** null: no floor. */
  readonly minFreeSpace?: SpaceFloor | null;
  /** null: no limit. */
  readonly maxFileSize?: number | null;
  readonly readStallMs?: number;
}

/**
 * The limits in force: the options' at start, an operator's after `PUT /v1/limits` (until the
 * next start). Read where they apply, each time: the byte rate by every reading thread (its
 * memory is shared), the floor at each admission, the size before each read.
 */
export class LiveLimits {
  readonly rateMemory: SharedArrayBuffer;
  readonly rate: ByteRate;
  /** `--read-stall-timeout` in ms, an Int32 the hashing threads read (see ReadStall). */
  readonly readStallMemory = new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT);
  minFreeSpace: SpaceFloor | undefined;
  maxFileSize: number | undefined;

  constructor(
    options: Pick<
      ResolvedOptions,
      'maxBytesPerSecond' | 'minFreeSpace' | 'maxFileSize' | 'readStallMs'
    >,
  ) {
    this.rateMemory = ByteRate.memory(options.maxBytesPerSecond);
    this.rate = new ByteRate(this.rateMemory);
    this.minFreeSpace = options.minFreeSpace;
    this.maxFileSize = options.maxFileSize;
    this.readStallMs = options.readStallMs;
  }

  get readStallMs(): number {
    return Atomics.load(new Int32Array(this.readStallMemory), 0);
  }

  set readStallMs(ms: number) {
    Atomics.store(new Int32Array(this.readStallMemory), 0, ms);
  }

  get maxBytesPerSecond(): number | undefined {
    return this.rate.bytesPerSecond === 0 ? undefined : this.rate.bytesPerSecond;
  }

  /** Applies the changes given; returns what each changed field was before. */
  apply(changes: LimitChanges): Record<string, unknown> {
    const before: Record<string, unknown> = {};
    if (changes.maxBytesPerSecond !== undefined) {
      before.maxBytesPerSecond = this.maxBytesPerSecond ?? null;
      this.rate.bytesPerSecond = changes.maxBytesPerSecond ?? 0;
    }
    if (changes.minFreeSpace !== undefined) {
      before.minFreeSpace = this.minFreeSpace ?? null;
      this.minFreeSpace = changes.minFreeSpace ?? undefined;
    }
    if (changes.maxFileSize !== undefined) {
      before.maxFileSize = this.maxFileSize ?? null;
      this.maxFileSize = changes.maxFileSize ?? undefined;
    }
    if (changes.readStallMs !== undefined) {
      before.readStallMs = this.readStallMs;
      this.readStallMs = changes.readStallMs;
    }
    return before;
  }

  /** As the API shows them: bytes, `10%`, seconds; null for none. */
  view(): {
    maxBytesPerSecond: number | null;
    minFreeSpace: number | string | null;
    maxFileSize: number | null;
    readStallTimeoutSeconds: number;
  } {
    const floor = this.minFreeSpace;
    return {
      maxBytesPerSecond: this.maxBytesPerSecond ?? null,
      minFreeSpace:
        floor === undefined ? null : 'bytes' in floor ? floor.bytes : `${floor.percent}%`,
      maxFileSize: this.maxFileSize ?? null,
      readStallTimeoutSeconds: this.readStallMs / 1000,
    };
  }
}
