import type { IngestorEvents } from '../events.js';

export interface ProgressSource {
  /** Files still to do that are known now (queued and in flight), for the ETA. */
  remaining(): number;
}

/** A byte count for people: `987 B`, `12.3 MiB`. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

/**
 * Rates for people, as the progress line and the `--once` summary show them:
 * `340 files/s, 10.2 MiB/s`.
 */
export function formatRates(files: number, bytes: number, seconds: number): string {
  const s = Math.max(0.001, seconds);
  return `${(files / s).toFixed(0)} files/s, ${formatBytes(bytes / s)}/s`;
}

/**
 * A one-line progress display on a terminal (stderr): files, bytes, rate and ETA, redrawn
 * four times a second. Only for terminals: the caller checks `isTTY`.
 */
export class Progress {
  readonly #out: NodeJS.WriteStream;
  readonly #label: string;
  readonly #started = Date.now();
  #files = 0;
  #bytes = 0;
  #timer: NodeJS.Timeout | undefined;
  #drawn = false;
  #source: ProgressSource | undefined;

  constructor(out: NodeJS.WriteStream, label: string) {
    this.#out = out;
    this.#label = label;
  }

  /** Counts each settled file of an ingest. */
  follow(events: IngestorEvents, source: ProgressSource): void {
    this.#source = source;
    events.on('file:committed', (e) => this.add(e.bytes));
    events.on('file:duplicate', (e) => this.add(e.bytes));
    events.on('file:quarantined', () => this.add(0));
    events.on('file:failed', () => this.add(0));
  }

  add(bytes: number): void {
    this.#files += 1;
    this.#bytes += bytes;
  }

  start(): void {
    this.#timer = setInterval(() => this.draw(), 250);
    this.#timer.unref();
  }

  line(): string {
    const seconds = Math.max(0.001, (Date.now() - this.#started) / 1000);
    const rate = this.#files / seconds;
    const remaining = this.#source?.remaining();
    const eta =
      remaining === undefined || rate === 0 ? '' : `, ETA ${Math.ceil(remaining / rate)}s`;
    return `${this.#label}: ${this.#files} files, ${formatBytes(this.#bytes)}, ${formatRates(this.#files, this.#bytes, seconds)}${eta}`;
  }

  draw(): void {
    this.#out.write(`\r\x1b[K${this.line()}`);
    this.#drawn = true;
  }

  /** Clears the line (before a log line is written to the same terminal). */
  clear(): void {
    if (this.#drawn) this.#out.write('\r\x1b[K');
    this.#drawn = false;
  }

  /** Stops redrawing and leaves the final figures on the terminal. */
  stop(): void {
    clearInterval(this.#timer);
    this.#out.write(`\r\x1b[K${this.line()}\n`);
    this.#drawn = false;
  }
}
