import { nativeHelper } from './native.js';

/**
 * The main thread's heap limits, set by the program itself so that they hold however it is
 * started (`npx ingestor`, `node dist/bin/ingestor.js`, the systemd unit, a container). V8's
 * defaults let the young generation grow to 48 MB and the old one to a quarter of the host's
 * memory: the daemon's live heap is about 13 MB, but with room to spare V8 collects late and
 * the process grew past 200 MB on 200,000 small files (docs/DESIGN.md, "Bounded memory").
 * The worker threads have their own limits (`resourceLimits` where each is started). Only the
 * daemon (`run`) restarts itself so: `verify` keeps per-line maps that may be large.
 */
export const HEAP_FLAGS: readonly string[] = ['--max-semi-space-size=2', '--max-old-space-size=64'];

/** libuv's pool for the daemon, unless UV_THREADPOOL_SIZE says otherwise. */
export const THREADPOOL_SIZE = 32;

/** A V8 flag's name, with `_` and `-` alike (V8 accepts both spellings). */
const flagName = (flag: string): string =>
  flag.replace(/^--/, '').split('=')[0]!.replace(/_/g, '-');

/**
 * Restarts this process with HEAP_FLAGS, in place (execve: the same pid, so that a supervisor,
 * a shell and `kill -9` see one process), each unless it was given already, by the user (on
 * node's command line or in NODE_OPTIONS, in either spelling) or by this restart: a user who
 * sets one limit keeps it and gets ours for the other. Must run before any work: nothing opened
 * or started survives it. Without the native helper (not built), the process goes on with
 * V8's defaults.
 */
export function withHeapLimits(): void {
  // libuv's pool of 4 threads serves every asynchronous file call of the process: reads stuck
  // on a hung mount before the stall timeout notices them (up to --concurrency) could take all
  // 4 and hold up the rest. Read at the pool's first use, so set for the restarted process.
  process.env.UV_THREADPOOL_SIZE ??= String(THREADPOOL_SIZE);
  const given = new Set(
    [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)].map(flagName),
  );
  const missing = HEAP_FLAGS.filter((flag) => !given.has(flagName(flag)));
  if (missing.length === 0) return;
  // Returns only if execve failed (it cannot for our own binary short of a broken /proc):
  // running with the defaults is then better than not running.
  nativeHelper()?.execSelf(missing);
}
