import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { fileURLToPath } from 'node:url';

/** native/fcntl.c: the few Linux system calls Node has no binding for, built at install. */
export interface Native {
  setLease(fd: number, type: number): number;
  getLease(fd: number): number;
  ofdLock(fd: number, type: number, start: number, length: number): number;
  ofdConflict(fd: number, type: number, start: number, length: number): number;
  dupFd(fd: number): number;
  /** Re-executes this process with `flags` after node's name (same pid); errno if it failed. */
  execSelf(flags: string[]): number;
  F_RDLCK: number;
  F_WRLCK: number;
  F_UNLCK: number;
}

let loaded: { native: Native } | { error: string } | undefined;

/** The built addon (beside the sources under a test runner, or beside dist/), loaded once. */
function load(): { native: Native } | { error: string } {
  if (loaded !== undefined) return loaded;
  const require = createRequire(import.meta.url);
  for (const relative of [
    '../build/Release/ingestor_fcntl.node',
    '../../build/Release/ingestor_fcntl.node',
  ]) {
    const file = fileURLToPath(new URL(relative, import.meta.url));
    if (!fs.existsSync(file)) continue;
    loaded = { native: require(file) as Native };
    return loaded;
  }
  loaded = { error: 'the native helper is not built (run npm run build:native)' };
  return loaded;
}

/** The addon, or undefined (nativeMissingReason says why). */
export function nativeHelper(): Native | undefined {
  const l = load();
  return 'native' in l ? l.native : undefined;
}

export function nativeMissingReason(): string | undefined {
  const l = load();
  return 'error' in l ? l.error : undefined;
}

// EAGAIN and EWOULDBLOCK share a number on Linux: the first name given wins.
const ERRNO_NAMES = new Map<number, string>();
for (const [name, n] of Object.entries(os.constants.errno)) {
  if (!ERRNO_NAMES.has(n)) ERRNO_NAMES.set(n, name);
}

export function errnoName(n: number): string {
  return ERRNO_NAMES.get(n) ?? `errno ${n}`;
}
