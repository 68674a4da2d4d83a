import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { ensureDir, writeFully } from '../fsutil.js';
import { IngestError, describeError, errnoCode, hasCode } from '../errors.js';
import { hourLabel } from '../clock.js';
import { hourOfPath } from './hours.js';
import { hashNeedle } from './manifest-line.js';
import type { OpenHours } from './open-hours.js';

/** Throws (a FencedError) when the daemon may no longer change the warehouse or a manifest. */
export type Fence = (step: string) => void;

/**
 * Appends lines to hourly manifest files, durably: one write and one fsync per file per batch.
 * Single writer: the daemon's lock guarantees nobody else appends. Given the daemon's
 * `OpenHours`, it refuses any line for an hour already sealed for closing.
 */
export class ManifestWriter {
  #open: { file: string; handle: fs.promises.FileHandle } | undefined;
  /** The append running: two batches overlap, and one of them may switch to the next hour. */
  #last: Promise<void> = Promise.resolve();
  readonly #hours: OpenHours | undefined;
  readonly #fence: Fence | undefined;
  /** Files whose torn tail this writer has looked for (once each). */
  readonly #repaired = new Set<string>();

  /** `fence`: throws when this daemon may no longer write (its lease in a shared state ran out). */
  constructor(hours?: OpenHours, fence?: Fence) {
    this.#hours = hours;
    this.#fence = fence;
  }

  /**
   * Appends `text` whole and makes it durable, or throws an error that names the manifest and
   * keeps the system error's code (ENOSPC pauses ingestion). A write cut short by a full volume
   * can leave part of a line: recovery cuts such a torn tail before anything else is appended.
   */
  append(file: string, text: string): Promise<void> {
    const next = this.#last.then(() => this.#append(file, text));
    this.#last = next.catch(() => {});
    return next;
  }

  async #append(file: string, text: string): Promise<void> {
    const hour = hourOfPath(file);
    if (hour !== undefined && this.#hours?.isSealed(hour) === true) {
      // The closer and the batches make this impossible (docs/DESIGN.md, "Closed hours"):
      // refused whole, before a byte is written, rather than break a published `_SUCCESS`.
      throw new IngestError(
        'INGEST_ERR_HOUR_CLOSED',
        `refusing to append to manifest ${file}: its hour ${hourLabel(hour)} is closed (its _SUCCESS is written); this is a bug, please report it`,
      );
    }
    try {
      const handle = await this.#handleFor(file);
      // Checked in the turn the write is handed to the kernel: a daemon frozen past its lease
      // (SIGSTOP) finds it ran out when it wakes, and appends nothing.
      this.#fence?.(`append to ${file}`);
      await writeFully(handle, Buffer.from(text), null);
      await handle.sync();
    } catch (error) {
      throw Object.assign(
        new Error(`cannot append to manifest ${file}: ${describeError(error)}`, { cause: error }),
        { code: errnoCode(error) },
      );
    }
  }

  async #handleFor(file: string): Promise<fs.promises.FileHandle> {
    if (this.#open?.file === file) return this.#open.handle;
    await this.close();
    await ensureDir(path.dirname(file));
    // A line a kill tore in this file (this daemon's own) is cut before anything is appended
    // after it; recovery does it at start, this covers files it had no intent in.
    if (!this.#repaired.has(file)) {
      this.#repaired.add(file);
      await repairTornTail(file);
    }
    const existed = fs.existsSync(file);
    const handle = await fs.promises.open(file, 'a');
    if (!existed) {
      await handle.sync();
      const dir = await fs.promises.open(path.dirname(file), fs.constants.O_RDONLY);
      await dir.sync().finally(() => dir.close());
    }
    this.#open = { file, handle };
    return handle;
  }

  async close(): Promise<void> {
    const open = this.#open;
    this.#open = undefined;
    await open?.handle.close();
  }
}

/**
 * Cuts a torn last line (a crash during an append) so the file ends with a whole line.
 * Returns the number of bytes removed. Only the tail is read.
 */
export async function repairTornTail(file: string): Promise<number> {
  let handle: fs.promises.FileHandle;
  try {
    handle = await fs.promises.open(file, 'r+');
  } catch (error) {
    if (hasCode(error, 'ENOENT')) return 0;
    throw error;
  }
  try {
    const { size } = await handle.stat();
    if (size === 0) return 0;
    const chunk = Buffer.alloc(64 * 1024);
    let end = size;
    while (end > 0) {
      const start = Math.max(0, end - chunk.length);
      const { bytesRead } = await handle.read(chunk, 0, end - start, start);
      const view = chunk.subarray(0, bytesRead);
      const lastNewline = view.lastIndexOf(0x0a);
      if (lastNewline >= 0) {
        const keep = start + lastNewline + 1;
        if (keep === size) return 0;
        await handle.truncate(keep);
        await handle.sync();
        return size - keep;
      }
      end = start;
    }
    await handle.truncate(0);
    await handle.sync();
    return size;
  } finally {
    await handle.close();
  }
}

/** Which of `hashes` have a line in `file` (streamed, never loaded whole). */
export async function hashesPresent(
  file: string,
  hashes: ReadonlySet<string>,
): Promise<Set<string>> {
  const found = new Set<string>();
  if (hashes.size === 0) return found;
  let stream: fs.ReadStream;
  try {
    await fs.promises.access(file);
    stream = fs.createReadStream(file, { encoding: 'utf8' });
  } catch (error) {
    if (hasCode(error, 'ENOENT')) return found;
    throw error;
  }
  // A last line without its newline is torn (a writer killed mid-append): not a line.
  const { size } = await fs.promises.stat(file);
  let complete = true;
  if (size > 0) {
    const last = Buffer.alloc(1);
    const handle = await fs.promises.open(file, 'r');
    await handle.read(last, 0, 1, size - 1).finally(() => handle.close());
    complete = last[0] === 0x0a;
  }
  const lines = readline.createInterface({ input: stream, crlfDelay: Infinity });
  let held: string | undefined;
  const take = (line: string) => {
    const at = line.indexOf('"sha256":"');
    if (at < 0) return;
    const sha = line.slice(at + 10, at + 74);
    if (hashes.has(sha) && line.includes(hashNeedle(sha))) found.add(sha);
  };
  for await (const line of lines) {
    if (held !== undefined) take(held);
    held = line;
  }
  if (held !== undefined && complete) take(held);
  return found;
}
