import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach } from 'vitest';

// A disk whose reads are slow for the daemon: an ext4 on a loop device, and a cgroup that
// limits the bytes per second a process in it reads from that device (cgroup v1's
// blkio.throttle.read_bps_device, or v2's io.max rbps). The kernel throttles the reads
// themselves, so a copy really takes as long as its size over the rate: no hook in the daemon.
// Files are written with O_DIRECT, so that none of them is in the page cache and every read
// goes to the device. Needs root, as the other tests that mount do. (This project's machines
// mount cgroup v1's blkio, which is what has been tried; the v2 path has not run here.)

/** What one test set up, undone after it whether it passed or not. */
const cleanups: (() => void)[] = [];

afterEach(() => {
  const problems: string[] = [];
  for (const cleanup of cleanups.splice(0).reverse()) {
    try {
      cleanup();
    } catch (error) {
      problems.push(String(error));
    }
  }
  if (problems.length > 0) throw new Error(`slow disk cleanup: ${problems.join('; ')}`);
});

export interface SlowDisk {
  /** The filesystem's root: directories for the daemon go below it. */
  dir: string;
  /** The loop device's `major:minor`. */
  device: string;
  /** The cgroup whose reads from the device are limited. */
  cgroup: string;
  /** Moves a process, all its threads and its later children, into the limited cgroup. */
  limit(pid: number): void;
  /**
   * Writes `bytes` (a multiple of 1 MiB) at `file` on this disk with O_DIRECT, none of it left
   * in the page cache; staged beside it and renamed into place with an mtime `ageSeconds` in
   * the past, so that the daemon finds it whole and complete at once (as `writeOld` does).
   */
  writeUncached(file: string, bytes: number, ageSeconds?: number): void;
}

const MiB = 1024 * 1024;
let made = 0;

function run(command: string, args: string[]): string {
  const r = spawnSync(command, args, { encoding: 'utf8' });
  if (r.status !== 0) {
    throw new Error(`${command} ${args.join(' ')} failed (tests need root): ${r.stderr}`);
  }
  return r.stdout.trim();
}

/** Where this machine limits reads per device: cgroup v1's blkio, else v2's io controller. */
function cgroupRoot(): { root: string; version: 1 | 2 } {
  const mounts = fs
    .readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((line) => line.split(' '));
  const v1 = mounts.find(([, , type, options]) => {
    return type === 'cgroup' && options!.split(',').includes('blkio');
  });
  if (v1 !== undefined) return { root: v1[1]!, version: 1 };
  for (const [, dir, type] of mounts) {
    if (type !== 'cgroup2') continue;
    const controllers = fs.readFileSync(path.join(dir!, 'cgroup.controllers'), 'utf8');
    if (controllers.split(/\s+/).includes('io')) return { root: dir!, version: 2 };
  }
  throw new Error('no cgroup can limit reads here: neither a v1 blkio nor a v2 io controller');
}

/**
 * Makes an ext4 of `sizeBytes` on a loop device under `root`, mounted at `<root>/slow`, and a
 * cgroup whose processes read from it at `readBytesPerSecond`. All of it is removed after the
 * test: the processes left in the cgroup go back to its parent, the filesystem is unmounted
 * (lazily while a process still uses it) and the loop device detached.
 */
export function slowDisk(
  root: string,
  options: { sizeBytes: number; readBytesPerSecond: number },
): SlowDisk {
  const image = path.join(root, 'slow.img');
  const dir = path.join(root, 'slow');
  fs.mkdirSync(dir);
  fs.writeFileSync(image, '');
  fs.truncateSync(image, options.sizeBytes);
  cleanups.push(() => fs.rmSync(image, { force: true }));
  run('mkfs.ext4', ['-q', '-F', image]);
  const loop = run('losetup', ['--find', '--show', image]);
  // Detached once unmounted (at once when nothing holds it, else when its last user lets go).
  cleanups.push(() => void run('losetup', ['-d', loop]));
  run('mount', [loop, dir]);
  cleanups.push(() => {
    if (spawnSync('umount', [dir]).status !== 0) run('umount', ['-l', dir]);
  });
  const device = fs.readFileSync(`/sys/class/block/${path.basename(loop)}/dev`, 'utf8').trim();

  const { root: cgroupTop, version } = cgroupRoot();
  const cgroup = path.join(cgroupTop, `ingestor-test-slow-${process.pid}-${(made += 1)}`);
  if (version === 2) {
    // A v2 cgroup's io controller works in a child only when its parent hands it down.
    fs.writeFileSync(path.join(cgroupTop, 'cgroup.subtree_control'), '+io');
  }
  fs.mkdirSync(cgroup);
  cleanups.push(() => {
    // A process still in it (a daemon that the test leaked) goes back to the parent first.
    const procs = path.join(cgroup, 'cgroup.procs');
    for (const pid of fs.readFileSync(procs, 'utf8').split('\n').filter(Boolean)) {
      try {
        fs.writeFileSync(path.join(cgroupTop, 'cgroup.procs'), pid);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
      }
    }
    fs.rmdirSync(cgroup);
  });
  if (version === 1) {
    fs.writeFileSync(
      path.join(cgroup, 'blkio.throttle.read_bps_device'),
      `${device} ${options.readBytesPerSecond}`,
    );
  } else {
    fs.writeFileSync(path.join(cgroup, 'io.max'), `${device} rbps=${options.readBytesPerSecond}`);
  }

  return {
    dir,
    device,
    cgroup,
    limit(pid) {
      fs.writeFileSync(path.join(cgroup, 'cgroup.procs'), String(pid));
    },
    writeUncached(file, bytes, ageSeconds = 120) {
      if (bytes % MiB !== 0) throw new Error(`${bytes} bytes is not a multiple of 1 MiB`);
      const staging = path.join(dir, '.staging');
      fs.mkdirSync(staging, { recursive: true });
      const staged = path.join(staging, path.basename(file));
      run('dd', [
        'if=/dev/zero',
        `of=${staged}`,
        'bs=1M',
        `count=${bytes / MiB}`,
        'oflag=direct',
        'status=none',
      ]);
      // O_DIRECT may fall back to the page cache on some filesystems: a cached file would be
      // read at memory speed, whatever the limit, and the test would not show what it claims.
      const cached = run('fincore', ['--bytes', '--noheadings', '--output', 'RES', staged]);
      if (cached !== '0') throw new Error(`${staged} has ${cached} bytes in the page cache`);
      const t = new Date(Date.now() - ageSeconds * 1000);
      fs.utimesSync(staged, t, t);
      fs.renameSync(staged, file);
    },
  };
}
