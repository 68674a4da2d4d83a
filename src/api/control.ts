import type { StateReader } from '../state/store.js';
import type { Volume } from './resources.js';

/** Where the daemon is in its life: the phases `/healthz` knows. */
export type DaemonPhase = 'starting' | 'recovering' | 'running' | 'stopping';

/** Files the daemon holds in memory, by where they are. */
export interface QueueFigures {
  /** Complete files waiting for a worker. */
  queued: number;
  /** Being read, hashed, moved or committed. */
  inflight: number;
  /** Seen but not complete yet. */
  pending: number;
}

/**
 * What the control API may ask of the daemon: the narrow side of it that commands/run.ts wires
 * to the orchestrator, so that the server imports no orchestrator internals (and tests can
 * give it a daemon of their own). Reads only, in this step; the remote controls come next.
 */
export interface DaemonControl {
  phase(): DaemonPhase;
  /** Why ingestion is paused (a failing output volume), or undefined. */
  pausedReason(): string | undefined;
  queue(): QueueFigures;
  /** The limits the daemon runs with, by option name (`concurrency`, `batchSize`, ...). */
  limits(): Readonly<Record<string, number>>;
  /** When the daemon started (ms). */
  readonly startedAt: number;
  /** The directories whose volumes' free space the status shows. */
  readonly volumes: readonly Volume[];
  /** The state, for the history and the counts. */
  readonly state: StateReader;
}
