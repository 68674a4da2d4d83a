// Real writers against the real daemon in stability mode: curl, rsync --inplace, dd fed by a slow
// pipe, a shell redirect held open, hard links. Each pauses longer than the window while it
// holds the file open for writing; the daemon must wait for it (the kernel's read lease says a
// writer has the file open), and the warehouse must hold the writer's final bytes.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Dirs } from '../helpers/ingestor.js';
import {
  baseArgs,
  binForOtherUsers,
  filesUnder,
  finished,
  makeDirs,
  manifestLines,
  output,
  partitionFiles,
  run,
  sha256,
  start,
  verifyTree,
  waitFor,
  writeOld,
} from '../helpers/ingestor.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const NOBODY = 65534;
const WINDOW = '1';

beforeAll(() => {
  const r = spawnSync(
    'bash',
    [path.join(ROOT, 'scripts/ensure-tools.sh'), 'curl', 'rsync', 'pv', 'vmstat'],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`ensure-tools failed: ${r.stderr}`);
}, 300_000);

const servers: http.Server[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

function daemon(d: Dirs, extra: string[] = []) {
  const child = start([
    ...baseArgs(d),
    '--stability-seconds',
    WINDOW,
    '--scan-interval',
    '1',
    ...extra,
  ]);
  return child;
}

async function started(child: ReturnType<typeof start>): Promise<void> {
  await waitFor(
    () =>
      output(child).stdout.includes('"event":"scan"') ||
      output(child).stdout.includes('ingestor started'),
    10_000,
    'start',
  );
}

/** Runs a shell command to completion; rejects on a non-zero exit. */
function sh(command: string): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', command], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('close', (code) =>
      code === 0
        ? resolve({ stdout, stderr })
        : reject(new Error(`${command}: exit ${code}: ${stderr}`)),
    );
  });
}

/** The warehouse holds exactly `content` under `name`, with a manifest line of its final size and hash. */
function expectIngestedWhole(d: Dirs, name: string, content: Buffer): void {
  const lines = manifestLines(d.manifests).filter((l) => path.basename(l.path) === name);
  expect(lines, `manifest lines for ${name}`).toHaveLength(1);
  const line = lines[0]!;
  const placed = fs.readFileSync(line.warehouse_path);
  expect(placed.length).toBe(content.length);
  expect(sha256(placed)).toBe(sha256(content));
  expect(line.size).toBe(content.length);
  expect(line.sha256).toBe(sha256(content));
}

function duplicatesOf(d: Dirs): string[] {
  return filesUnder(path.join(d.warehouse, '_duplicates'));
}

async function stop(child: ReturnType<typeof start>) {
  child.kill('SIGTERM');
  const r = await finished(child);
  expect(r.code, r.stderr).toBe(0);
  return r;
}

function pattern(bytes: number, seed: number): Buffer {
  const b = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i += 1) b[i] = (i * 31 + seed * 7 + (i >> 10)) & 0xff;
  return b;
}

describe('real writers in stability mode (window 1 s)', () => {
  it('curl --limit-rate from a server that pauses 3 s mid-body: the file is taken whole, after curl is done', async () => {
    const d = makeDirs();
    const first = pattern(1_500_000, 1);
    const rest = pattern(1_000_000, 2);
    const server = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-length': String(first.length + rest.length) });
      res.write(first);
      setTimeout(() => res.end(rest), 3_000);
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as AddressInfo;
    const child = daemon(d, ['--log-level', 'debug']);
    await started(child);
    await sh(`curl -sS --fail --limit-rate 2M -o ${d.input}/x.bin http://127.0.0.1:${port}/x`);
    await waitFor(() => manifestLines(d.manifests).length === 1, 15_000, 'x.bin ingested');
    const r = await stop(child);
    expectIngestedWhole(d, 'x.bin', Buffer.concat([first, rest]));
    expect(r.stdout).toMatch(/x\.bin is open for writing by another process/);
    expect((await verifyTree(d, '--rehash')).code).toBe(0);
  });

  it('rsync --inplace --bwlimit: the new file, empty and then growing slowly, is taken whole', async () => {
    const d = makeDirs();
    const src = path.join(d.root, 'src');
    fs.mkdirSync(src);
    const content = pattern(48_000, 3);
    fs.writeFileSync(path.join(src, 'f.dat'), content);
    const child = daemon(d);
    await started(child);
    const rsync = await sh(`rsync -a --inplace --bwlimit=8 ${src}/f.dat ${d.input}/; echo rc=$?`);
    expect(rsync.stdout).toContain('rc=0');
    await waitFor(() => manifestLines(d.manifests).length === 1, 15_000, 'f.dat ingested');
    await stop(child);
    expectIngestedWhole(d, 'f.dat', content);
    expect(duplicatesOf(d)).toEqual([]);
  });

  it('dd fed by a slow pipe (pv), with an empty file already ingested: no duplicate, the whole file ingested', async () => {
    const d = makeDirs();
    writeOld(path.join(d.input, 'empty.csv'), '');
    const src = path.join(d.root, 'src.bin');
    const content = pattern(1_048_576, 4);
    fs.writeFileSync(src, content);
    const child = daemon(d);
    await started(child);
    await waitFor(() => manifestLines(d.manifests).length === 1, 10_000, 'empty file ingested');
    // dd opens the file at once and writes nothing until 4 MiB arrived or the pipe closes (4 s).
    await sh(`pv -q -L 256k ${src} | dd of=${d.input}/d.bin bs=4M iflag=fullblock status=none`);
    await waitFor(() => manifestLines(d.manifests).length === 2, 15_000, 'd.bin ingested');
    await stop(child);
    expectIngestedWhole(d, 'd.bin', content);
    expect(duplicatesOf(d)).toEqual([]);
  });

  it('a shell redirect held open across pauses longer than the window, and vmstat writing every 2 s', async () => {
    const d = makeDirs();
    const child = daemon(d);
    await started(child);
    const redirect = sh(
      `exec 3>${d.input}/held.log; for i in 1 2 3; do echo "line $i" >&3; sleep 2.5; done; exec 3>&-`,
    );
    const vmstat = sh(`vmstat -n 2 3 > ${d.input}/vmstat.log`);
    await Promise.all([redirect, vmstat]);
    await waitFor(() => manifestLines(d.manifests).length === 2, 15_000, 'both ingested');
    await stop(child);
    expectIngestedWhole(d, 'held.log', Buffer.from('line 1\nline 2\nline 3\n'));
    const vm = manifestLines(d.manifests).find((l) => l.path.endsWith('vmstat.log'))!;
    expect(fs.readFileSync(vm.warehouse_path, 'utf8').trim().split('\n')).toHaveLength(2 + 3);
  });

  it('a writer that opens the file while it is being hashed makes the daemon give it back; its bytes are in the warehouse', async () => {
    const d = makeDirs();
    const big = path.join(d.input, 'big.bin');
    const head = pattern(256 * 1024 * 1024, 5);
    writeOld(big, head);
    const child = daemon(d, ['--log-level', 'debug']);
    // As soon as the daemon has the file open (it reads it), a writer opens it for appending,
    // holds it for 2 s without writing, then appends and closes.
    const pid = child.pid!;
    const fdDir = `/proc/${pid}/fd`;
    await waitFor(
      () => {
        try {
          return fs.readdirSync(fdDir).some((fd) => {
            try {
              return fs.readlinkSync(path.join(fdDir, fd)) === big;
            } catch {
              return false;
            }
          });
        } catch {
          return false;
        }
      },
      15_000,
      'the daemon reading big.bin',
    );
    await sh(`exec 3>>${big}; sleep 2; printf tail >&3; exec 3>&-`);
    await waitFor(() => manifestLines(d.manifests).length === 1, 20_000, 'big.bin ingested');
    const r = await stop(child);
    expectIngestedWhole(d, 'big.bin', Buffer.concat([head, Buffer.from('tail')]));
    expect(r.stdout).toMatch(
      /big\.bin was opened for writing (while it was read|before it was moved)/,
    );
  });

  it('a hard link from outside the input: the warehouse gets its own inode, and later writes to the outside name leave it alone', async () => {
    const d = makeDirs();
    const outside = path.join(d.root, 'producer.csv');
    writeOld(outside, 'original\n');
    fs.linkSync(outside, path.join(d.input, 'linked.csv'));
    const r = await run([...baseArgs(d), '--once', '--stability-seconds', WINDOW]);
    expect(r.code, r.stderr).toBe(0);
    const line = manifestLines(d.manifests)[0]!;
    const placed = fs.statSync(line.warehouse_path);
    expect(placed.nlink).toBe(1);
    expect(placed.ino).not.toBe(fs.statSync(outside).ino);
    expect(fs.statSync(outside).nlink).toBe(1);
    fs.appendFileSync(outside, 'appended later\n');
    expect(fs.readFileSync(line.warehouse_path, 'utf8')).toBe('original\n');
    expect((await verifyTree(d, '--rehash')).code).toBe(0);
  });

  it('two names for one inode inside the input: one ingested as a copy, the other a duplicate, sharing no inode', async () => {
    const d = makeDirs();
    writeOld(path.join(d.input, 'a.csv'), 'shared\n');
    fs.linkSync(path.join(d.input, 'a.csv'), path.join(d.input, 'b.csv'));
    const r = await run([...baseArgs(d), '--once', '--stability-seconds', WINDOW]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/1 ingested, 1 duplicates/);
    const [placed] = partitionFiles(d.warehouse).map((f) => fs.statSync(path.join(d.warehouse, f)));
    const [dup] = duplicatesOf(d).map((f) => fs.statSync(path.join(d.warehouse, '_duplicates', f)));
    expect(placed!.nlink).toBe(1);
    expect(dup!.nlink).toBe(1);
    expect(placed!.ino).not.toBe(dup!.ino);
    expect(filesUnder(d.input)).toEqual([]);
  });
});

describe('where the kernel cannot tell (a user without CAP_LEASE on files it does not own)', () => {
  let nobodyBin: string;
  beforeAll(() => {
    nobodyBin = binForOtherUsers();
  });

  it('falls back to the window with one warning, and an empty file waits 60 s after its last change', async () => {
    const d = makeDirs();
    fs.chmodSync(d.root, 0o755);
    for (const dir of [d.input, d.warehouse, d.manifests, path.dirname(d.state)]) {
      fs.mkdirSync(dir, { recursive: true });
      fs.chownSync(dir, NOBODY, NOBODY);
    }
    // Root's files: nobody may read them but not lease them.
    writeOld(path.join(d.input, 'a.csv'), 'a\n');
    writeOld(path.join(d.input, 'b.csv'), 'b\n');
    writeOld(path.join(d.input, 'old-empty.csv'), '', 120);
    writeOld(path.join(d.input, 'new-empty.csv'), '', 5);
    const r = await run([...baseArgs(d), '--once', '--stability-seconds', WINDOW], {
      uid: NOBODY,
      bin: nobodyBin,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/3 ingested, 0 duplicates, 0 failed, 0 quarantined, 1 not complete/);
    const warnings = r.stdout.split('\n').filter((l) => l.includes('"event":"no-write-detection"'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/neither owns these files nor has CAP_LEASE.*--mode sidecar/);
    expect(filesUnder(d.input)).toEqual(['new-empty.csv']);

    // A running daemon says so in `ingestor status` too.
    const child = start([...baseArgs(d), '--stability-seconds', WINDOW], {
      uid: NOBODY,
      bin: nobodyBin,
    });
    writeOld(path.join(d.input, 'c.csv'), 'c\n');
    await waitFor(() => manifestLines(d.manifests).length === 4, 10_000, 'c.csv ingested');
    const status = await run(['status', '--state-path', d.state]);
    expect(status.stdout).toMatch(
      /writers +not seen in .*\/in and its volume \(EACCES: .*CAP_LEASE\).*use --mode sidecar/,
    );
    child.kill('SIGTERM');
    expect((await finished(child)).code).toBe(0);
  });
});
