import path from 'node:path';
import type { LevelWithSilent } from 'pino';
import type { Mode, OnDuplicate } from '../interfaces.js';
import type { IngestorOptions } from './types.js';

/**
 * The default of every ingest option that has one: the one place they are written. Help texts
 * (src/options/flags.ts) and resolution (src/options/resolve.ts) read them from here.
 */
export const defaults = {
  /** `--mode`: how completion is decided. */
  mode: 'stability',
  /** `--stability-seconds`: how long a file must stay unchanged (stability mode). */
  stabilitySeconds: 5,
  /** `--concurrency`: files read and hashed at once, on worker threads. */
  concurrency: 16,
  /** `--dry-run`: report what would happen and change nothing. */
  dryRun: false,
  /** `--once`: one pass over the input, then exit. */
  once: false,
  /** `--exclude`: globs of files never ingested; none. */
  exclude: [],
  /** `--on-duplicate`: what to do with a file whose content is already ingested. */
  onDuplicate: 'move',
  /** `--scan-interval`: shortest interval between full scans, in seconds. */
  scanIntervalSeconds: 30,
  /** `--batch-size`: most files per group commit. */
  batchSize: 256,
  /** `--max-retries`: attempts for transient read errors before quarantine. */
  maxRetries: 8,
  /**
   * `--history-days`: days the journal of exceptional events (failures, retries, holds, an
   * operator's actions) is kept; the files' rows, and the content index, are never pruned.
   */
  historyDays: 30,
  /** Most not-yet-complete files remembered between scans. No flag. */
  pendingCapacity: 50_000,
  /** `--stats-interval`: seconds between stats log lines. */
  statsIntervalSeconds: 60,
  /** `--read-stall-timeout`: seconds a read may make no progress before it is abandoned. */
  readStallSeconds: 60,
  /** `--priority`: none; every file has priority 0. */
  priority: [],
} as const satisfies Omit<
  Required<IngestorOptions>,
  | 'input'
  | 'warehouse'
  | 'manifests'
  | 'statePath'
  | 'stateUrl'
  | 'nodeId'
  | 'leaseSeconds'
  | 'duplicatesDir'
  | 'quarantineDir'
  | 'maxFileSize'
  | 'minFreeSpace'
  | 'maxBytesPerSecond'
  | 'webhook'
  | 'webhookSecret'
  | 'webhookSecretFile'
>;

/** The shortest `--read-stall-timeout` (and `PUT /v1/limits`'s `readStallTimeout`), in seconds. */
export const MIN_READ_STALL_SECONDS = 1;

/** Defaults of the flags that are not ingest options: the daemon's, and `list`'s. */
export const commandDefaults = {
  /** --log-level. */
  logLevel: 'info',
  /** --metrics-host: the metrics server listens on loopback only unless told otherwise. */
  metricsHost: '127.0.0.1',
  /**
   * --lease-seconds (with --state-url): a daemon that cannot renew its lease stops placing files
   * after two thirds of it, and other daemons take its files over once it ran out.
   */
  leaseSeconds: 30,
  /** --shutdown-timeout, in seconds. */
  shutdownTimeoutSeconds: 30,
  /** `list --limit`. */
  listLimit: 50,
  /** --api-host: like the metrics, the control API listens on loopback only unless told otherwise. */
  apiHost: '127.0.0.1',
  /** `ctl --server`: a daemon on this host with `--api-port 8443`. */
  ctlServer: 'https://localhost:8443',
} as const satisfies {
  logLevel: LevelWithSilent;
  metricsHost: string;
  leaseSeconds: number;
  shutdownTimeoutSeconds: number;
  listLimit: number;
  apiHost: string;
  ctlServer: string;
};

export const MODES: readonly Mode[] = ['stability', 'sidecar'];
export const ON_DUPLICATE: readonly OnDuplicate[] = ['move', 'delete'];

/**
 * The places that default to a name inside another flag's directory: `--state-path` in
 * `--manifests`, `--duplicates-dir` and `--quarantine-dir` in `--warehouse`. Resolution joins
 * them; help texts show them as `<manifests>/ingestor.db`.
 */
export const defaultPlaces = {
  statePath: { in: 'manifests', name: 'ingestor.db' },
  duplicatesDir: { in: 'warehouse', name: '_duplicates' },
  quarantineDir: { in: 'warehouse', name: '_quarantine' },
} as const satisfies Record<
  'statePath' | 'duplicatesDir' | 'quarantineDir',
  { in: 'manifests' | 'warehouse'; name: string }
>;

type Place = keyof typeof defaultPlaces;

/** Where `place` is by default, inside `dir` (the resolved --manifests or --warehouse). */
export function defaultPlace(place: Place, dir: string): string {
  return path.join(dir, defaultPlaces[place].name);
}

/** How help texts name a default place: `<manifests>/ingestor.db`. */
export function describePlace(place: Place): string {
  const { in: dir, name } = defaultPlaces[place];
  return `<${dir}>/${name}`;
}
