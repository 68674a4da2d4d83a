import fs from 'node:fs';
import os from 'node:os';
import type { IngestorEvents } from '../events.js';
import type { FsPath } from '../interfaces.js';
import type { Logger } from '../ops/logger.js';
import { errnoName, nativeHelper, nativeMissingReason } from '../native.js';
import { dirName, displayPath } from '../paths.js';

/**
 * Kernel file leases: whether any process on this host has a file open for writing, asked of
 * the kernel instead of guessed from a quiet mtime. A read lease (`F_SETLEASE`, `F_RDLCK`) is
 * refused with EAGAIN while anyone holds the file open for writing; while it is held, a process
 * that opens the file for writing (or truncates it) is made to wait, and the holder gets SIGIO.
 * docs/DESIGN.md ("Writers that are still writing") says why and what was measured.
 *
 * Node has no binding for fcntl(2): a few lines of C (native/fcntl.c, src/native.ts).
 */
/** What the kernel said when asked for a read lease. */
export type LeaseAttempt =
  /** Granted: no process has the file open for writing, and none can open it unnoticed. */
  | { kind: 'held' }
  /** Refused: a process has the file open for writing right now. */
  | { kind: 'busy' }
  /** The kernel cannot tell here (no leases on this filesystem, or no permission). */
  | { kind: 'unavailable'; code: string };

/** Asks for a read lease on `fd` (opened read-only). */
export function tryReadLease(fd: number): LeaseAttempt {
  const native = nativeHelper();
  if (native === undefined) return { kind: 'unavailable', code: 'ENOSYS' };
  const errno = native.setLease(fd, native.F_RDLCK);
  if (errno === 0) return { kind: 'held' };
  if (errno === os.constants.errno.EAGAIN) return { kind: 'busy' };
  // EAGAIN: open for writing somewhere (or mapped writable). Anything else (EINVAL: no leases
  // on this filesystem or leases disabled; EACCES: not the owner and no CAP_LEASE) means the
  // kernel cannot answer the question for this file.
  return { kind: 'unavailable', code: errnoName(errno) };
}

/** True while the read lease on `fd` is held and no writer is waiting for it. */
export function leaseIntact(fd: number): boolean {
  const native = nativeHelper()!;
  return native.getLease(fd) === native.F_RDLCK;
}

/**
 * A descriptor of the same open file (which shares its lease) for another thread to own: Node
 * tracks the descriptors a worker thread opens and closes them when it exits, so the thread
 * closes its own and hands over this one.
 */
export function handOver(fd: number): number {
  const dup = nativeHelper()!.dupFd(fd);
  if (dup < 0) {
    throw Object.assign(new Error(`cannot hand over a leased descriptor: ${errnoName(-dup)}`), {
      code: errnoName(-dup),
    });
  }
  return dup;
}

/** Lets go of the lease on `fd` (a waiting writer proceeds at once); the fd stays open. */
export function releaseLease(fd: number): void {
  const native = nativeHelper()!;
  native.setLease(fd, native.F_UNLCK);
}

/** Why the kernel cannot tell, in words for a log line. */
export function unavailableReason(code: string): string {
  switch (code) {
    case 'EINVAL':
      return 'this filesystem has no file leases (NFS and other network filesystems), or leases are disabled (/proc/sys/fs/leases-enable)';
    case 'EACCES':
    case 'EPERM':
      return 'the daemon neither owns these files nor has CAP_LEASE';
    case 'ENOSYS':
      return nativeMissingReason() ?? 'file leases are not supported here';
    default:
      return `the kernel refused a lease (${code})`;
  }
}

/** A read lease this thread holds on an open source file, until `close()`. */
export interface Lease {
  readonly fd: number;
  /** False once a writer opened the file (the lease was then let go at once). */
  intact(): boolean;
  /** Closes the descriptor, which ends the lease. */
  close(): void;
}

const keepers = new Set<LeaseKeeper>();
let handlerInstalled = false;

/** SIGIO, whose default action ends the process, announces a lease break to every keeper. */
function onSigio(): void {
  for (const keeper of keepers) keeper.checkAll();
}

/**
 * Holds the leases of files between hashing and commit, in the main thread. A lease break
 * arrives as SIGIO: the handler is installed before the first lease is taken and never removed
 * (a descriptor with a lease that outlived its owner, in a thread that died, must not end the
 * process when a writer opens its file). On a break the lease is let go at once, so that the
 * writer waits microseconds rather than the kernel's lease-break-time; the pipeline asks
 * `intact()` before it removes a source and gives the file back if it is not.
 */
export class LeaseKeeper {
  readonly #held = new Map<number, { broken: boolean }>();

  constructor() {
    if (!handlerInstalled) {
      handlerInstalled = true;
      process.on('SIGIO', onSigio);
    }
    keepers.add(this);
  }

  get size(): number {
    return this.#held.size;
  }

  /** Takes over a descriptor whose lease a hashing thread took. */
  adopt(fd: number): Lease {
    const state = { broken: false };
    this.#held.set(fd, state);
    this.#check(fd, state);
    const intact = () => {
      if (!state.broken) this.#check(fd, state);
      return !state.broken;
    };
    let closed = false;
    const close = () => {
      if (closed) return;
      closed = true;
      this.#held.delete(fd);
      fs.closeSync(fd);
    };
    return { fd, intact, close };
  }

  #check(fd: number, state: { broken: boolean }): void {
    if (state.broken || leaseIntact(fd)) return;
    state.broken = true;
    releaseLease(fd);
  }

  checkAll(): void {
    for (const [fd, state] of this.#held) this.#check(fd, state);
  }

  close(): void {
    keepers.delete(this);
  }
}

/** A volume where the kernel cannot tell whether a file is open for writing. */
export interface UnseenVolume {
  device: number;
  /** The directory of the first file seen there. */
  dir: string;
  code: string;
  reason: string;
}

/** The volumes where writers cannot be seen, each announced once with what to do about it. */
export class UnseenVolumes {
  readonly #volumes = new Map<number, UnseenVolume>();
  readonly #logger: Logger;
  readonly #events: IngestorEvents;

  constructor(logger: Logger, events: IngestorEvents) {
    this.#logger = logger;
    this.#events = events;
  }

  has(device: number): boolean {
    return this.#volumes.has(device);
  }

  list(): UnseenVolume[] {
    return [...this.#volumes.values()];
  }

  /** A lease on `file` was refused with `code`: says so, once for its volume. */
  note(file: FsPath, device: number, code: string): void {
    if (this.#volumes.has(device)) return;
    const dir = displayPath(dirName(file));
    const reason = unavailableReason(code);
    this.#volumes.set(device, { device, dir, code, reason });
    this.#logger.warn(
      { event: 'no-write-detection', dir, device, code },
      `cannot ask the kernel whether files in ${dir} (and the rest of its volume) are open for writing: ${reason}; relying on the stability window alone there, and copying files rather than linking them. Writers on other hosts cannot be seen at all: use --mode sidecar for them`,
    );
    this.#events.emit('watch:no-leases', { dir, code, reason });
  }
}
