import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { ensureDir } from '../fsutil.js';
import { hasCode } from '../errors.js';
import { hashNeedle } from './manifest-line.js';

/**
 * Appends lines to hourly manifest files, durably: one write and one fsync per file per batch.
 * Single writer: the daemon's lock guarantees nobody else appends.
 */
export class ManifestWriter {
  #open: { file: string; handle: fs.promises.FileHandle } | undefined;

  async append(file: string, text: string): Promise<void> {
    if (this.#open?.file !== file) {
      await this.close();
      await ensureDir(path.dirname(file));
      const existed = fs.existsSync(file);
      const handle = await fs.promises.open(file, 'a');
      if (!existed) {
        await handle.sync();
        const dir = await fs.promises.open(path.dirname(file), fs.constants.O_RDONLY);
        await dir.sync().finally(() => dir.close());
      }
      this.#open = { file, handle };
    }
    await this.#open.handle.write(text);
    await this.#open.handle.sync();
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
  const lines = readline.createInterface({ input: stream, crlfDelay: Infinity });
  for await (const line of lines) {
    const at = line.indexOf('"sha256":"');
    if (at < 0) continue;
    const sha = line.slice(at + 10, at + 74);
    if (hashes.has(sha) && line.includes(hashNeedle(sha))) found.add(sha);
  }
  return found;
}
