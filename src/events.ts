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
  'file:committed': [
    {
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
    { source: string; sha256: string; original: string; dest: string | null; bytes: number },
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
  'file:quarantined': [{ source: string; dest: string | null; reason: string }];
  'pipeline:paused': [{ reason: string; code: string | undefined; retryInMs: number }];
  'pipeline:resumed': [{ pausedMs: number }];
  'watch:degraded': [{ dir: string; error: string }];
  /** An operator cancelled a file while it was read: its copy removed, its source held. */
  'file:cancelled': [{ source: string }];
  /** The kernel cannot tell whether files on this volume are open for writing. */
  'watch:no-leases': [{ dir: string; code: string; reason: string }];
}

export class IngestorEvents extends EventEmitter<IngestorEventMap> {}
