import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { HEAP_FLAGS, THREADPOOL_SIZE } from '../../src/heap-limits.js';
import {
  baseArgs,
  finished,
  makeDirs,
  manifestLines,
  output,
  start,
  waitFor,
} from '../helpers/ingestor.js';

/** The arguments of a live process, as the kernel has them. */
function cmdline(pid: number): string[] {
  return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(0, -1);
}

/** Pids of live processes whose arguments include `word`. */
function processesWith(word: string): number[] {
  return fs
    .readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .filter((pid) => {
      try {
        return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(word);
      } catch {
        return false;
      }
    })
    .map(Number);
}

const daemonArgs = (d: ReturnType<typeof makeDirs>) => [
  ...baseArgs(d),
  '--stability-seconds',
  '0.5',
];

describe('heap limits set by the program itself', () => {
  it('the daemon restarts itself with them in place: same pid, same streams, same signals', async () => {
    const d = makeDirs();
    const daemon = start(daemonArgs(d));
    await waitFor(() => output(daemon).stdout.includes('ingestor started'), 10_000, 'start');
    const args = cmdline(daemon.pid!);
    expect(args.slice(1, 1 + HEAP_FLAGS.length)).toEqual(HEAP_FLAGS);
    // Named as node was (ps -C node, pgrep -x node), not after /proc/self/exe.
    expect(fs.readFileSync(`/proc/${daemon.pid}/comm`, 'utf8').trim()).toBe('node');
    expect(args).toContain(d.input);
    // libuv's pool sized for reads stuck on a hung mount (src/heap-limits.ts).
    const environ = fs.readFileSync(`/proc/${daemon.pid}/environ`, 'utf8').split('\0');
    expect(environ).toContain(`UV_THREADPOOL_SIZE=${THREADPOOL_SIZE}`);
    fs.writeFileSync(path.join(d.input, 'a.csv'), 'first');
    await waitFor(() => manifestLines(d.manifests).length === 1, 10_000, 'ingest');
    daemon.kill('SIGTERM');
    const result = await finished(daemon);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('"msg":"stopped"');
  });

  it('kill -9 of the pid that was started leaves no process behind', async () => {
    const d = makeDirs();
    const daemon = start(daemonArgs(d));
    await waitFor(() => output(daemon).stdout.includes('ingestor started'), 10_000, 'start');
    expect(processesWith(d.input)).toEqual([daemon.pid]);
    daemon.kill('SIGKILL');
    const result = await finished(daemon);
    expect(result.signal).toBe('SIGKILL');
    expect(processesWith(d.input)).toEqual([]);
  });

  it('heap flags the user gives are kept, not overridden: with both, nothing is restarted', async () => {
    const d = makeDirs();
    const daemon = start(daemonArgs(d), {
      env: { NODE_OPTIONS: '--max-old-space-size=200 --max-semi-space-size=8' },
    });
    await waitFor(() => output(daemon).stdout.includes('ingestor started'), 10_000, 'start');
    expect(cmdline(daemon.pid!).some((arg) => arg.startsWith('--max-'))).toBe(false);
    daemon.kill('SIGTERM');
    expect((await finished(daemon)).code).toBe(0);
  });

  it('a limit the user sets is kept in either spelling, and ours is added for the other', async () => {
    const d = makeDirs();
    const daemon = start(daemonArgs(d), { env: { NODE_OPTIONS: '--max_old_space_size=256' } });
    await waitFor(() => output(daemon).stdout.includes('ingestor started'), 10_000, 'start');
    const args = cmdline(daemon.pid!);
    expect(args.filter((arg) => arg.startsWith('--max'))).toEqual(['--max-semi-space-size=2']);
    daemon.kill('SIGTERM');
    expect((await finished(daemon)).code).toBe(0);
  });

  it('SIGHUP (the terminal closed) stops as cleanly as SIGTERM', async () => {
    const d = makeDirs();
    const daemon = start(daemonArgs(d));
    await waitFor(() => output(daemon).stdout.includes('ingestor started'), 10_000, 'start');
    daemon.kill('SIGHUP');
    const result = await finished(daemon);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('"signal":"SIGHUP"');
    expect(result.stdout).toContain('"msg":"stopped"');
  });
});
