// A FUSE mount whose reads hang on demand (test/fixtures/stallfs.c), as a hung network
// filesystem's do: compiled once per test file, mounted per test, unmounted after each test
// (even a failed one) and after the file.
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');
const SOURCE = path.join(ROOT, 'test/fixtures/stallfs.c');

let binary: string | undefined;
const mounted = new Set<StallFs>();

/**
 * Installs what it takes (fuse3, libfuse3-dev, pkg-config, gcc: Debian packages) and compiles
 * stallfs; returns its path. Call it from a beforeAll with a generous timeout (apt).
 */
export function buildStallFs(): string {
  if (binary !== undefined) return binary;
  const tools = spawnSync(
    'bash',
    [path.join(ROOT, 'scripts/ensure-tools.sh'), 'gcc', 'pkg-config', 'fusermount3', 'fuse3.pc'],
    { encoding: 'utf8' },
  );
  if (tools.status !== 0) throw new Error(`ensure-tools failed: ${tools.stderr}`);
  const flags = spawnSync('pkg-config', ['--cflags', '--libs', 'fuse3'], { encoding: 'utf8' });
  if (flags.status !== 0) throw new Error(`pkg-config fuse3: ${flags.stderr}`);
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'stallfs-')), 'stallfs');
  const cc = spawnSync(
    'gcc',
    ['-Wall', '-Wextra', '-O2', '-o', out, SOURCE, ...flags.stdout.trim().split(/\s+/)],
    { encoding: 'utf8' },
  );
  if (cc.status !== 0) throw new Error(`cannot compile stallfs: ${cc.stderr}`);
  binary = out;
  return out;
}

/** A mounted stallfs: `backing`'s files seen at `mount`. */
export class StallFs {
  readonly backing: string;
  readonly mount: string;
  readonly #process: ChildProcess;

  private constructor(backing: string, mount: string, child: ChildProcess) {
    this.backing = backing;
    this.mount = mount;
    this.#process = child;
  }

  /** Mounts `backing` at `mount` (both made if missing); resolves once the mount is there. */
  static async mount(backing: string, mount: string): Promise<StallFs> {
    fs.mkdirSync(backing, { recursive: true });
    fs.mkdirSync(mount, { recursive: true });
    const parent = fs.statSync(path.dirname(mount)).dev;
    // Many threads: the rest of the mount answers while reads hang.
    const child = spawn(buildStallFs(), [backing, mount, '-f', '-o', 'max_threads=64'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const err: Buffer[] = [];
    child.stderr!.on('data', (b: Buffer) => err.push(b));
    const fsys = new StallFs(backing, mount, child);
    mounted.add(fsys);
    const until = Date.now() + 10_000;
    while (fs.statSync(mount).dev === parent) {
      if (child.exitCode !== null || Date.now() > until) {
        fsys.unmount();
        throw new Error(`stallfs did not mount: ${Buffer.concat(err).toString()}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    return fsys;
  }

  /**
   * Reads of `name` (relative to the mount) that reach past `offset` hang: for `seconds`,
   * then go on; 0: until `release`.
   */
  stall(name: string, offset: number, seconds = 0): void {
    fs.writeFileSync(this.#control(name), `${offset} ${seconds}\n`);
  }

  /** Reads of `name` go on. */
  release(name: string): void {
    fs.rmSync(this.#control(name), { force: true });
  }

  #control(name: string): string {
    return path.join(this.backing, path.dirname(name), `.stall-${path.basename(name)}`);
  }

  /**
   * Lets every hung read go (its control files removed), unmounts (lazily: a daemon may still
   * be inside it) and ends the filesystem's process; a killed process fails what is left.
   */
  unmount(): void {
    if (!mounted.delete(this)) return;
    const controls = (dir: string): string[] =>
      fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) return controls(p);
        return e.name.startsWith('.stall-') ? [p] : [];
      });
    if (fs.existsSync(this.backing)) for (const c of controls(this.backing)) fs.rmSync(c);
    spawnSync('fusermount3', ['-u', '-z', this.mount]);
    if (this.#process.exitCode === null) this.#process.kill('SIGKILL');
  }
}

afterEach(() => {
  for (const m of [...mounted]) m.unmount();
});

afterAll(() => {
  if (binary !== undefined) fs.rmSync(path.dirname(binary), { recursive: true, force: true });
  binary = undefined;
});
