import { formatBytes } from '../ops/human-units.js';
import { cell, escapeControls, fit } from './format.js';
import type { StreamedEvent } from './sse.js';

/** A file being read or copied, as its progress events tell it. */
interface InFlight {
  source: string;
  bytesDone: number;
  bytes: number;
  bytesPerSecond: number;
  copying: boolean;
}

/** Events that end a file's time in flight. */
const ENDS = [
  'file.ingested',
  'file.duplicate',
  'file.failed',
  'file.deferred',
  'file.quarantined',
  'file.cancelled',
];

/** Events listed under LAST EVENTS: what happened, not how fast. */
const LISTED = (type: string) =>
  type !== 'progress' && type !== 'stats' && type !== 'file.complete';

const LAST_EVENTS = 200;

const time = (at: number) => new Date(at).toISOString().slice(11, 19);

/** A file's line of a watch: its progress, rate and name. */
function bar(f: InFlight): string {
  const share = f.bytes === 0 ? 1 : Math.min(1, f.bytesDone / f.bytes);
  const cells = 20;
  const done = Math.round(share * cells);
  return `[${'#'.repeat(done)}${'-'.repeat(cells - done)}] ${String(Math.floor(share * 100)).padStart(3)}%  ${formatBytes(f.bytesDone)} / ${formatBytes(f.bytes)}  ${formatBytes(f.bytesPerSecond)}/s  ${f.copying ? 'copy' : 'hash'}  ${escapeControls(f.source)}`;
}

/** One event as a line: the time, the type, the file and what matters of the rest. */
export function eventLine(event: StreamedEvent, at = Date.now()): string {
  const d = event.data;
  const source = typeof d.source === 'string' ? escapeControls(d.source) : '';
  const rest: string[] = [];
  if (event.type === 'progress') {
    rest.push(
      `${formatBytes(Number(d.bytesDone))} / ${formatBytes(Number(d.bytes))}`,
      `${formatBytes(Number(d.bytesPerSecond))}/s`,
    );
  } else if (event.type === 'stats') {
    rest.push(
      `${cell(d.filesPerSecond)} files/s`,
      `${formatBytes(Number(d.bytesPerSecond))}/s`,
      `queued ${cell(d.queued)}`,
      `in flight ${cell(d.inflight)}`,
      `pending ${cell(d.pending)}`,
      d.paused === true ? `paused: ${cell(d.pausedReason)}` : 'running',
    );
  } else {
    if (typeof d.id === 'number') rest.push(`#${d.id}`);
    if (typeof d.hour === 'string') rest.push(`hour ${cell(d.hour)}`); // manifest.closed
    if (typeof d.bytes === 'number') rest.push(formatBytes(d.bytes));
    for (const key of ['lines', 'reason', 'error', 'kind', 'files', 'actor']) {
      if (d[key] !== undefined && d[key] !== null) rest.push(`${key}=${cell(d[key])}`);
    }
    const original = (d.duplicateOf as { source?: unknown } | null | undefined)?.source;
    if (typeof original === 'string') rest.push(`original=${cell(original)}`);
  }
  return [time(at), event.type.padEnd(16), source, ...rest].filter((s) => s !== '').join('  ');
}

/**
 * The state of a watch screen, from the event stream: the files in flight with their progress,
 * the last events, the last stats, and whether the stream is connected. `render` draws it for
 * a terminal of the given size.
 */
export class WatchScreen {
  readonly #inFlight = new Map<string, InFlight>();
  readonly #last: string[] = [];
  #stats: Record<string, unknown> | undefined;
  #note = 'connecting';

  constructor(readonly server: string) {}

  set note(note: string) {
    this.#note = note;
  }

  add(event: StreamedEvent, at = Date.now()): void {
    const d = event.data;
    const source = typeof d.source === 'string' ? d.source : undefined;
    if (event.type === 'stats') this.#stats = d;
    else if (event.type === 'file.complete' && source !== undefined) {
      this.#inFlight.set(source, {
        source,
        bytesDone: 0,
        bytes: Number(d.bytes),
        bytesPerSecond: 0,
        copying: false,
      });
    } else if (event.type === 'progress' && source !== undefined) {
      this.#inFlight.set(source, {
        source,
        bytesDone: Number(d.bytesDone),
        bytes: Number(d.bytes),
        bytesPerSecond: Number(d.bytesPerSecond),
        copying: d.copying === true,
      });
    } else if (ENDS.includes(event.type) && source !== undefined) this.#inFlight.delete(source);
    if (LISTED(event.type)) {
      this.#last.unshift(eventLine(event, at));
      this.#last.length = Math.min(this.#last.length, LAST_EVENTS);
    }
  }

  /** The screen as lines, at most `rows` of at most `columns` characters. */
  render(columns: number, rows: number): string[] {
    const s = this.#stats;
    const head =
      s === undefined
        ? `ingestor ctl watch  ${this.server}  ${this.#note}`
        : `ingestor ctl watch  ${this.server}  ${cell(s.filesPerSecond)} files/s  ${formatBytes(Number(s.bytesPerSecond))}/s  queued ${cell(s.queued)}  in flight ${cell(s.inflight)}  pending ${cell(s.pending)}  ${s.paused === true ? `PAUSED: ${cell(s.pausedReason)}` : this.#note}`;
    const lines = [head, ''];
    // Files with progress first (the large ones), then those just started; each a line.
    const files = [...this.#inFlight.values()].sort((a, b) => b.bytes - a.bytes);
    const room = Math.max(1, Math.floor((rows - 5) / 2));
    lines.push(`IN FLIGHT (${files.length})`);
    for (const f of files.slice(0, room)) lines.push(`  ${bar(f)}`);
    if (files.length > room) lines.push(`  … and ${files.length - room} more`);
    lines.push('', 'LAST EVENTS');
    const left = Math.max(0, rows - lines.length);
    for (const line of this.#last.slice(0, left)) lines.push(`  ${line}`);
    return lines.slice(0, rows).map((line) => fit(line, columns));
  }
}
