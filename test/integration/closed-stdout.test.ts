import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Dirs } from '../helpers/ingestor.js';
import { BIN, baseArgs, makeDirs, run, treeDigest, writeOld } from '../helpers/ingestor.js';

interface PipedResult {
  /** The ingestor's own exit code (PIPESTATUS), not the reader's. */
  code: number | null;
  /** What the reader printed. */
  stdout: string;
  stderr: string;
}

function bash(script: string, args: string[], env: Record<string, string> = {}): PipedResult {
  const r = spawnSync('bash', ['-c', script, process.execPath, BIN, ...args], {
    encoding: 'utf8',
    timeout: 30_000,
    env: { ...process.env, ...env },
  });
  if (r.error !== undefined) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `ingestor ARGS | READER`, as a shell runs it (no pipefail), with the ingestor's exit code. */
function piped(args: string[], reader: string, env?: Record<string, string>): PipedResult {
  return bash(`"$0" "$@" | ${reader}; exit "\${PIPESTATUS[0]}"`, args, env);
}

/**
 * The ingestor with its stdout on a pipe whose reader is already gone, so that its first write
 * fails with EPIPE whatever the timing: a FIFO opened for reading and writing, then for
 * writing, then closed for reading.
 */
function readerGone(args: string[]): PipedResult {
  return bash(
    'fifo=$(mktemp -u) && mkfifo "$fifo" && exec 3<>"$fifo" 4>"$fifo" && rm "$fifo" && exec 3<&- && exec "$0" "$@" >&4',
    args,
  );
}

/** What a crash on an unhandled 'error' event leaves on stderr. */
function expectQuiet(r: PipedResult, what: string): void {
  expect(r.stderr, what).not.toMatch(/EPIPE|Error|^\s+at /m);
  expect(r.code, `${what}: ${r.stderr}`).toBe(0);
}

async function ingested(files: number): Promise<Dirs> {
  const d = makeDirs();
  // Long names, so that list's report is larger than a pipe holds and `head -1` leaves first.
  for (let i = 0; i < files; i += 1) {
    writeOld(path.join(d.input, `a-rather-long-file-name-for-the-report-${i}.csv`), `row ${i}\n`);
  }
  const r = await run([...baseArgs(d), '--once', '--log-level', 'warn']);
  expect(r.code, r.stderr).toBe(0);
  return d;
}

describe('a reader that closes stdout early', () => {
  it('ends list, status, verify and retry quietly with their own exit code', async () => {
    const d = await ingested(600);
    const state = ['--state-path', d.state];

    const head = piped(['list', ...state, '--limit', '1000'], 'head -1');
    expectQuiet(head, 'list | head -1');
    expect(head.stdout).toMatch(/^#600 +ingested .*\.csv.*\n$/);

    for (const args of [
      ['list', ...state],
      ['list', ...state, '--json'],
      ['status', ...state],
      ['status', ...state, '--json'],
      ['verify', '--warehouse', d.warehouse, '--manifests', d.manifests, ...state],
      ['retry', ...state],
    ]) {
      expectQuiet(readerGone(args), args.join(' '));
    }
  });

  it('stops a dry-run at once, leaving nothing behind: no snapshot of the state, no change', async () => {
    const d = makeDirs();
    // A state at rest (no -wal beside it), which a dry-run reads through a private snapshot.
    expect((await run([...baseArgs(d), '--once'])).code).toBe(0);
    expect(fs.existsSync(`${d.state}-wal`)).toBe(false);
    const files = 2000;
    for (let i = 0; i < files; i += 1) {
      writeOld(path.join(d.input, `file-${i}.csv`), `content ${i}\n`);
    }
    const trees = [d.input, d.warehouse, d.manifests, path.dirname(d.state)];
    const digests = trees.map(treeDigest);
    // Access times tell which files the dry-run reads: treeDigest has just read them all, so
    // they are set back (utimes also makes the ctime new, and relatime then updates the access
    // time of a file read), leaving the mtimes that treeDigest compares as they were.
    const names = fs.readdirSync(d.input);
    for (const name of names) {
      const { mtime } = fs.statSync(path.join(d.input, name));
      fs.utimesSync(path.join(d.input, name), mtime, mtime);
    }
    const stamp = (f: string) => fs.statSync(path.join(d.input, f)).atimeMs;
    const before = names.map(stamp);
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dry-run-tmp-'));

    const r = piped([...baseArgs(d), '--dry-run'], 'head -2', { TMPDIR: tmp });
    const after = names.map(stamp);
    expectQuiet(r, '--dry-run | head -2');
    expect(r.stdout.split('\n')).toEqual([
      expect.stringMatching(/^ingest +.*file-\d+\.csv -> /),
      expect.stringMatching(/^ingest +.*file-\d+\.csv -> /),
      '',
    ]);
    // It stopped reading soon after the reader left: a report of about 200 bytes a line
    // fills a pipe after some 350 files, far from all 2000.
    const read = after.filter((t, i) => t !== before[i]).length;
    expect(read).toBeGreaterThan(0);
    expect(read).toBeLessThan(files / 2);
    expect(fs.readdirSync(tmp)).toEqual([]); // its snapshot of the state was removed
    expect(trees.map(treeDigest)).toEqual(digests);
  });

  it('reports any other failure to write stdout in one line, exit 1', async () => {
    const d = await ingested(3);
    const r = bash('exec "$0" "$@" > /dev/full', ['list', '--state-path', d.state]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /^ingestor: cannot write to stdout: ENOSPC: no space left on device\n$/,
    );
  });
});
