import fs from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * The compiled script of a worker thread, `rel` from `src/` (`ingest/hash-worker.js`): beside
 * this module when built, or the built one when this module runs from its TypeScript source (a
 * test runner), or undefined when there is none (then the caller works on its own thread).
 */
export function workerScript(rel: string): URL | undefined {
  const here = new URL(`./${rel}`, import.meta.url);
  if (fs.existsSync(fileURLToPath(here))) return here;
  const built = new URL(`../dist/src/${rel}`, import.meta.url);
  return fs.existsSync(fileURLToPath(built)) ? built : undefined;
}

/**
 * A value as it left another thread, with its byte arrays Buffers again: structured cloning
 * turns a Buffer (a path whose bytes are not UTF-8) into a plain Uint8Array.
 */
export function revived<T>(value: T): T {
  if (value instanceof Uint8Array) {
    return (
      Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.length)
    ) as T;
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i += 1) value[i] = revived(value[i]);
    return value;
  }
  if (value !== null && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    for (const key of Object.keys(record)) {
      const v = record[key];
      if (v !== null && typeof v === 'object') record[key] = revived(v);
    }
  }
  return value;
}
