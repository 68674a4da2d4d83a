import { EventEmitter } from 'node:events';
import type { FailureClass, SkipReason } from './interfaces.js';

/**
 * Everything the pipeline tells the outside world goes through one typed emitter: logs subscribe
 * to it today; metrics and the control plane's event stream subscribe to the same events.
 * Payload paths are display strings (invalid UTF-8 shown as U+FFFD).
 */
export interface IngestorEventMap {
  'recovery:started': [];
  'recovery:done': [{ rolledForward: number; rolledBack: number; vanished: number; ms: number }];
  'scan:done': [{ files: number; ms: number; complete: number; pending: number }];
  'file:skipped': [{ source: string; reason: SkipReason }];
  /** Found complete: reading and hashing starts. */
  'file:complete': [{ source: string; bytes: number }];
  /** A large read or a copy under way: a few times a second at most (see hash-messages.ts). */
  'file:progress': [
    { source: string; bytesDone: number; bytes: number; bytesPerSecond: number; copying: boolean },
  ];
  'file:committed': [
    {
      /** The file's row. */
      id: number;
      source: string;
      dest: string;
      sha256: string;
      bytes: number;
      /** From completion (hashing starts) to commit. */
      ms: number;
      /** Reading and hashing alone. */
      hashMs: number;
      manifest: string;
    },
  ];
  'file:duplicate': [
    {
      id: number;
      source: string;
      sha256: string;
      original: string;
      originalId: number;
      dest: string | null;
      bytes: number;
    },
  ];
  'file:deferred': [{ source: string; reason: string; code: string | undefined }];
  'file:failed': [{ source: string; error: string; code: string | undefined; kind: FailureClass }];
  'discovery:started': [{ input: string }];
  stats: [
    {
      rssBytes: number;
      heapUsedBytes: number;
      filesPerSecond: number;
      bytesPerSecond: number;
      queueDepth: number;
      inflight: number;
      pending: number;
      paused: boolean;
    },
  ];
  'file:quarantined': [{ id: number; source: string; dest: string | null; reason: string }];
  /**
   * An operator's controls (retry, cancel, hold, release: issue 11), with the certificate
   * subject that asked. Declared here so that the event stream carries them once they are
   * emitted.
   */
  'file:held': [{ id: string; source: string; subject: string }];
  'file:released': [{ id: string; source: string; subject: string }];
  /** Cancelled while it was read: its copy stops at its next chunk, its source is held. */
  'file:cancelled': [{ id: string; source: string; subject: string }];
  /** An operator's pause and its end (a full volume's are `pipeline:*`). */
  'operator:paused': [{ kind: 'operator'; subject: string; since: number }];
  'operator:resumed': [{ kind: 'operator'; subject: string; pausedMs: number }];
  /** `renewed`: the same pause again after its backoff (no new stop; the log line is debug). */
  'pipeline:paused': [
    { reason: string; code: string | undefined; retryInMs: number; renewed?: boolean },
  ];
  'pipeline:resumed': [{ pausedMs: number }];
  /**
   * An hour is closed: its `_SUCCESS` is written and the state records it (with a journal
   * event, so the event stream replays it). `hour` is ISO 8601 (`2026-11-24T10:00:00Z`).
   */
  'manifest:closed': [
    {
      hour: string;
      manifest: string;
      success: string;
      lines: number;
      bytes: number;
      sha256: string;
      /** The hour's first millisecond. */
      hourMs: number;
    },
  ];
  'watch:degraded': [{ dir: string; error: string }];
  /** A webhook delivery attempt ended (`failed`: tried again later; `gave-up`: after three days). */
  'webhook:attempt': [{ endpoint: string; outcome: 'delivered' | 'failed' | 'gave-up' }];
  /** The kernel cannot tell whether files on this volume are open for writing. */
  'watch:no-leases': [{ dir: string; code: string; reason: string }];
  /**
   * A read on this volume made no progress for --read-stall-timeout and was abandoned; no file
   * there is read until it returns (`since`: when it began, ms since the epoch).
   */
  'volume:stalled': [{ mount: string; device: number; source: string; since: number }];
  /** Every abandoned read on this volume has returned: its files are read again. */
  'volume:resumed': [{ mount: string; device: number; stalledMs: number }];
  /**
   * This daemon's lease in a shared state ran out (the database did not answer in time, or the
   * daemon was frozen): it changes nothing more, and `run` restarts it in place.
   */
  'lease:lost': [{ nodeId: string; reason: string }];
  /**
   * Daemons sharing the input started (`came`) or stopped, or lost their lease (`gone`): the
   * shares of the input moved.
   */
  'peers:changed': [{ came: readonly string[]; gone: readonly string[] }];
  /** Intents of daemons whose lease ran out were taken over and settled by this one. */
  'takeover:done': [{ files: number; rolledForward: number; rolledBack: number; vanished: number }];
}

export class IngestorEvents extends EventEmitter<IngestorEventMap> {}
