import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach } from 'vitest';

export const BIN = path.resolve(import.meta.dirname, '../../dist/bin/ingestor.js');

if (!fs.existsSync(BIN)) {
  throw new Error(`${BIN} is missing: run "npm run build" first (npm test does)`);
}

const children = new Set<ChildProcess>();
const mounts: string[] = [];

/** Fails a test that leaves a daemon running or a mount behind; cleans up either way. */
afterEach(() => {
  const leaked = [...children].filter((c) => c.exitCode === null && c.signalCode === null);
  for (const child of leaked) child.kill('SIGKILL');
  children.clear();
  for (const dir of mounts.splice(0)) spawnSync('umount', ['-l', dir]);
  if (leaked.length > 0) throw new Error(`test leaked ${leaked.length} ingestor process(es)`);
});

export interface Dirs {
  root: string;
  input: string;
  warehouse: string;
  manifests: string;
  state: string;
}

/**
 * The built binary at a path that another user can reach: the checkout may live below a
 * directory only root can enter (CI clones into `mktemp -d`, mode 0700), so it is bind-mounted
 * under a world-traversable directory. Unmounted after the test file.
 */
export function binForOtherUsers(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ingestor-pkg-'));
  fs.chmodSync(dir, 0o755);
  const root = path.resolve(path.dirname(BIN), '../..');
  const r = spawnSync('mount', ['--bind', root, dir], { encoding: 'utf8' });
  if (r.status !== 0)
    throw new Error(`cannot bind-mount the checkout (tests need root): ${r.stderr}`);
  packageMounts.push(dir);
  return path.join(dir, path.relative(root, BIN));
}

const packageMounts: string[] = [];
afterAll(() => {
  for (const dir of packageMounts.splice(0)) spawnSync('umount', ['-l', dir]);
});

/** A fresh temporary tree per test: input (created), warehouse and manifests (not yet). */
export function makeDirs(options: { tmpfsWarehouse?: boolean } = {}): Dirs {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ingestor-test-'));
  const input = path.join(root, 'in');
  fs.mkdirSync(input);
  let warehouse = path.join(root, 'wh');
  if (options.tmpfsWarehouse === true) {
    const mount = path.join(root, 'mnt');
    fs.mkdirSync(mount);
    mountTmpfs(mount);
    warehouse = path.join(mount, 'wh');
  }
  return {
    root,
    input,
    warehouse,
    manifests: path.join(root, 'mf'),
    state: path.join(root, 'state', 'ingestor.db'),
  };
}

/** Mounts a tmpfs (these tests run as root, as CI does); unmounted after the test. */
export function mountTmpfs(dir: string, size = '512m'): void {
  const result = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], {
    encoding: 'utf8',
  });
  if (result.status !== 0) {
    throw new Error(`cannot mount a tmpfs at ${dir} (tests need root): ${result.stderr}`);
  }
  mounts.push(dir);
}

export function baseArgs(d: Dirs): string[] {
  return [
    '--input',
    d.input,
    '--warehouse',
    d.warehouse,
    '--manifests',
    d.manifests,
    '--state-path',
    d.state,
  ];
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs the built binary to completion. */
export interface StartOptions {
  env?: Record<string, string>;
  /** Run as this user (and group): tests of permissions run the daemon as `nobody`. */
  uid?: number;
  /** The binary to run (default BIN). */
  bin?: string;
}

export function run(
  args: string[],
  options: StartOptions & { timeoutMs?: number } = {},
): Promise<RunResult> {
  const child = start(args, options);
  return finished(child, options.timeoutMs ?? 30_000);
}

export function start(args: string[], options: StartOptions = {}): ChildProcess {
  const child = spawn(process.execPath, [options.bin ?? BIN, ...args], {
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(options.uid === undefined ? {} : { uid: options.uid, gid: options.uid }),
  });
  children.add(child);
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout!.on('data', (b: Buffer) => out.push(b));
  child.stderr!.on('data', (b: Buffer) => err.push(b));
  Object.assign(child, {
    output: () => ({
      stdout: Buffer.concat(out).toString('utf8'),
      stderr: Buffer.concat(err).toString('utf8'),
    }),
  });
  return child;
}

export function output(child: ChildProcess): { stdout: string; stderr: string } {
  return (child as unknown as { output(): { stdout: string; stderr: string } }).output();
}

export function finished(child: ChildProcess, timeoutMs = 30_000): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`ingestor did not exit within ${timeoutMs} ms: ${output(child).stderr}`));
    }, timeoutMs);
    const done = () => {
      clearTimeout(timer);
      resolve({ code: child.exitCode, signal: child.signalCode, ...output(child) });
    };
    if (child.exitCode !== null || child.signalCode !== null) done();
    else child.once('close', done);
  });
}

/** `ingestor verify` over a test tree; resolves with its result. */
export function verifyTree(d: Dirs, ...extra: string[]): Promise<RunResult> {
  return run([
    'verify',
    '--warehouse',
    d.warehouse,
    '--manifests',
    d.manifests,
    '--state-path',
    d.state,
    ...extra,
  ]);
}

/** Polls until `check` is true or the time runs out. */
export async function waitFor(check: () => boolean, timeoutMs = 20_000, what = 'condition') {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** How many of the state's rows have this status (0 while the state is not created yet). */
export function rowsWithStatus(statePath: string, status: string): number {
  if (!fs.existsSync(statePath)) return 0;
  const db = new Database(statePath, { readonly: true, fileMustExist: true });
  try {
    // A state being created has no files table yet.
    if (db.prepare(`SELECT 1 FROM sqlite_master WHERE name = 'files'`).get() === undefined) {
      return 0;
    }
    return (
      db.prepare(`SELECT count(*) AS n FROM files WHERE status = ?`).get(status) as { n: number }
    ).n;
  } finally {
    db.close();
  }
}

/**
 * Waits until the state holds `count` committed rows. A manifest line is written before its
 * row commits, so a test that reads counts after seeing the line waits for this as well.
 */
export async function waitForCommitted(statePath: string, count: number, timeoutMs = 20_000) {
  const committed = () => rowsWithStatus(statePath, 'committed');
  await waitFor(() => committed() >= count, timeoutMs, `${count} committed rows`);
}

/** Puts a named pipe at `file`: a reader of it waits until it is killed (a stuck read). */
export function fifoAt(file: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.rmSync(file, { force: true });
  const r = spawnSync('mkfifo', [file], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`mkfifo ${file}: ${r.stderr}`);
}

/**
 * Leaves an intent behind (a kill -9 right after it was written) whose recovery will hang on
 * its manifest, a named pipe: the next daemon stays in recovery until it is killed. Returns
 * the manifest's path; remove it to let recovery finish.
 */
export async function stuckRecovery(d: Dirs, file = 'a.csv'): Promise<string> {
  writeOld(path.join(d.input, file), 'alpha');
  const crashed = await run([...baseArgs(d), '--once', '--stability-seconds', '1'], {
    env: { INGEST_TEST_CRASH_AT: 'after-intent' },
  });
  if (crashed.signal !== 'SIGKILL') throw new Error(`no crash: ${crashed.stderr}`);
  const db = new Database(d.state, { readonly: true });
  const { manifest } = db.prepare(`SELECT manifest FROM files WHERE status = 'intent'`).get() as {
    manifest: string;
  };
  db.close();
  // Recovery reads the intent's manifest for its line: it waits there.
  fifoAt(manifest);
  return manifest;
}

/** Writes a file whose mtime lies in the past, so it is complete at once. */
export function writeOld(file: string, content: string | Buffer, ageSeconds = 120): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, content);
  const t = new Date(Date.now() - ageSeconds * 1000);
  fs.utimesSync(file, t, t);
}

/** Every regular file below `dir` (relative paths), sorted. */
export function filesUnder(dir: string): string[] {
  const prefix = Buffer.byteLength(dir) + 1;
  return rawFilesUnder(dir)
    .map((p) => p.subarray(prefix).toString('utf8'))
    .sort();
}

/** Every regular file below `dir` as raw byte paths (names need not be UTF-8). */
export function rawFilesUnder(dir: string): Buffer[] {
  if (!fs.existsSync(dir)) return [];
  const found: Buffer[] = [];
  const walk = (d: Buffer) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true, encoding: 'buffer' })) {
      const p = Buffer.concat([d, Buffer.from('/'), e.name as unknown as Buffer]);
      if (e.isDirectory()) walk(p);
      else found.push(p);
    }
  };
  walk(Buffer.from(dir));
  return found;
}

/** Files in warehouse partitions (`ingest_date=*`), relative to the warehouse. */
export function partitionFiles(warehouse: string): string[] {
  return filesUnder(warehouse).filter((f) => f.startsWith('ingest_date='));
}

export interface ManifestLine {
  path: string;
  sha256: string;
  device: number;
  inode: number;
  size: number;
  mtime: number;
  warehouse_path: string;
  ingested_at: string;
  path_base64?: string;
  warehouse_path_base64?: string;
}

/** Every manifest line, parsed; throws on a line that is not JSON. */
export function manifestLines(manifests: string): ManifestLine[] {
  return filesUnder(manifests)
    .filter((f) => /(^|\/)manifest(\.[^/]+)?\.jsonl$/.test(f))
    .flatMap((f) => {
      const text = fs.readFileSync(path.join(manifests, f), 'utf8');
      if (text !== '' && !text.endsWith('\n')) throw new Error(`${f} ends with a torn line`);
      return text
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as ManifestLine);
    });
}

export function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** A digest of a whole tree: names, types, sizes, modes, mtimes and contents. */
export function treeDigest(dir: string): string {
  const hash = createHash('sha256');
  const walk = (d: string) => {
    for (const name of fs.readdirSync(d).sort()) {
      const p = path.join(d, name);
      const s = fs.lstatSync(p);
      hash.update(`${p}\0${s.mode}\0${s.size}\0${s.mtimeMs}\0`);
      if (s.isDirectory()) walk(p);
      else if (s.isFile()) hash.update(fs.readFileSync(p));
    }
  };
  if (fs.existsSync(dir)) walk(dir);
  return hash.digest('hex');
}

/**
 * The exactly-once check after a run: every expected content is in the warehouse once, with
 * one manifest line whose fields match the file; nothing else is in the partitions; the input
 * holds no ingestible file; no temporary copy is left.
 */
export function expectExactlyOnce(d: Dirs, expectedContents: Iterable<string | Buffer>): void {
  const expected = new Set([...expectedContents].map((c) => sha256(c)));
  const lines = manifestLines(d.manifests);
  const bySha = new Map<string, number>();
  for (const l of lines) bySha.set(l.sha256, (bySha.get(l.sha256) ?? 0) + 1);
  const problems: string[] = [];
  for (const [sha, n] of bySha) if (n > 1) problems.push(`${sha} has ${n} manifest lines`);
  for (const sha of expected) if (!bySha.has(sha)) problems.push(`${sha} has no manifest line`);
  for (const sha of bySha.keys()) if (!expected.has(sha)) problems.push(`${sha} was not expected`);
  const files = rawFilesUnder(d.warehouse).filter((f) =>
    f.toString().startsWith(`${d.warehouse}/ingest_date=`),
  );
  const warehouseShas = new Map<string, string>();
  for (const f of files) {
    const sha = sha256(fs.readFileSync(f));
    if (warehouseShas.has(sha)) problems.push(`${sha} twice in the warehouse: ${f.toString()}`);
    warehouseShas.set(sha, f.toString());
  }
  for (const l of lines) {
    const dest =
      l.warehouse_path_base64 === undefined
        ? l.warehouse_path
        : Buffer.from(l.warehouse_path_base64, 'base64');
    if (!fs.existsSync(dest)) problems.push(`${l.warehouse_path} is missing`);
    else if (fs.statSync(dest).size !== l.size) problems.push(`${l.warehouse_path} size`);
  }
  if (files.length !== lines.length) {
    problems.push(`${files.length} partition files but ${lines.length} manifest lines`);
  }
  const tmp = filesUnder(path.join(d.warehouse, '.ingestor-tmp'));
  if (tmp.length > 0) problems.push(`temporary copies left: ${tmp.join(', ')}`);
  const left = filesUnder(d.input).filter((f) => !path.basename(f).startsWith('.'));
  if (left.length > 0) problems.push(`left in the input: ${left.join(', ')}`);
  if (problems.length > 0) throw new Error(problems.join('\n'));
}
