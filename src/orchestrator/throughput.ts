import type { Clock } from '../clock.js';
import type { IngestorEvents } from '../events.js';
import type { FailureClass } from '../interfaces.js';
import type { ThroughputSeries, ThroughputView } from '../api/control.js';

/** Seconds kept: the longest window asked for. */
const SECONDS = 3600;
/** Latencies kept for the mean and the p95: the most recent, whatever their age. */
const LATENCY_SAMPLES = 4096;
const CLASSES: readonly FailureClass[] = ['changed', 'retry', 'quarantine', 'pause'];
const QUARANTINE = CLASSES.indexOf('quarantine');

/** One window's figures: what `GET /v1/stats` shows (the API's `ThroughputView`). */
export type WindowFigures = ThroughputView;

/**
 * The daemon's recent throughput, in memory and bounded: one bucket per second for an hour
 * (files, bytes, duplicates, failures by class) and the last 4,096 commit latencies with
 * their times. Fed by the event stream; nothing is stored.
 */
export class Throughput {
  readonly #clock: Clock;
  readonly #second = new Float64Array(SECONDS);
  readonly #files = new Float64Array(SECONDS);
  readonly #bytes = new Float64Array(SECONDS);
  readonly #duplicates = new Float64Array(SECONDS);
  readonly #failures = CLASSES.map(() => new Float64Array(SECONDS));
  readonly #latencyAt = new Float64Array(LATENCY_SAMPLES);
  readonly #latency = new Float64Array(LATENCY_SAMPLES);
  #latencyCount = 0;

  constructor(clock: Clock, events: IngestorEvents) {
    this.#clock = clock;
    events.on('file:committed', (e) => {
      const i = this.#bucket();
      this.#files[i]! += 1;
      this.#bytes[i]! += e.bytes;
      const slot = this.#latencyCount % LATENCY_SAMPLES;
      this.#latencyAt[slot] = this.#clock();
      this.#latency[slot] = e.ms;
      this.#latencyCount += 1;
    });
    events.on('file:duplicate', () => {
      this.#duplicates[this.#bucket()]! += 1;
    });
    // A file's outcome emits one of these two, never both (orchestrator/outcome-events.ts):
    // quarantined files are counted from `file:quarantined`. A `file:failed` of the quarantine
    // class is a file whose quarantine itself failed: it was not quarantined (ingestion
    // pauses and it is tried again), so it is not counted here; its next outcome is.
    events.on('file:quarantined', () => {
      this.#failures[QUARANTINE]![this.#bucket()]! += 1;
    });
    events.on('file:failed', (e) => {
      if (e.kind === 'quarantine') return;
      this.#failures[CLASSES.indexOf(e.kind)]![this.#bucket()]! += 1;
    });
  }

  /** The bucket of this second, emptied if it last held an older second. */
  #bucket(): number {
    const second = Math.floor(this.#clock() / 1000);
    const i = second % SECONDS;
    if (this.#second[i] !== second) {
      this.#second[i] = second;
      this.#files[i] = 0;
      this.#bytes[i] = 0;
      this.#duplicates[i] = 0;
      for (const f of this.#failures) f[i] = 0;
    }
    return i;
  }

  /** The figures of the last `seconds` (at most an hour). */
  window(seconds: number): WindowFigures {
    const now = Math.floor(this.#clock() / 1000);
    let files = 0;
    let bytes = 0;
    let duplicates = 0;
    const failures = CLASSES.map(() => 0);
    for (let s = now - seconds + 1; s <= now; s += 1) {
      const i = ((s % SECONDS) + SECONDS) % SECONDS;
      if (this.#second[i] !== s) continue;
      files += this.#files[i]!;
      bytes += this.#bytes[i]!;
      duplicates += this.#duplicates[i]!;
      CLASSES.forEach((_, c) => (failures[c]! += this.#failures[c]![i]!));
    }
    const failed = failures.reduce((a, b) => a + b, 0);
    const settled = files + duplicates + failed;
    const byClass = (values: number[]) =>
      Object.fromEntries(CLASSES.map((c, k) => [c, values[k]!])) as Record<FailureClass, number>;
    return {
      seconds,
      files,
      bytes,
      filesPerSecond: files / seconds,
      bytesPerSecond: bytes / seconds,
      duplicates,
      failures: byClass(failures),
      failureRate: byClass(failures.map((f) => (settled === 0 ? 0 : f / settled))),
      latencyMs: this.#latencies(this.#clock() - seconds * 1000),
    };
  }

  /** Files and bytes committed in each whole second of the last hour, oldest first. */
  series(): ThroughputSeries {
    const last = Math.floor(this.#clock() / 1000) - 1;
    const files: number[] = [];
    const bytes: number[] = [];
    for (let s = last - SECONDS + 1; s <= last; s += 1) {
      const i = ((s % SECONDS) + SECONDS) % SECONDS;
      const kept = this.#second[i] === s;
      files.push(kept ? this.#files[i]! : 0);
      bytes.push(kept ? this.#bytes[i]! : 0);
    }
    return { end: (last + 1) * 1000, step: 1000, files, bytes };
  }

  #latencies(since: number): WindowFigures['latencyMs'] {
    const values: number[] = [];
    const kept = Math.min(this.#latencyCount, LATENCY_SAMPLES);
    for (let k = 0; k < kept; k += 1) {
      if (this.#latencyAt[k]! >= since) values.push(this.#latency[k]!);
    }
    if (values.length === 0) return null;
    values.sort((a, b) => a - b);
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    const p95 = values[Math.min(values.length - 1, Math.ceil(values.length * 0.95) - 1)]!;
    return { mean: Math.round(mean * 10) / 10, p95, samples: values.length };
  }
}
