import type { LevelWithSilent } from 'pino';
import type { RoleMap } from '../api/roles.js';
import type { TlsMaterial } from '../api/tls.js';
import type { Mode, OnDuplicate } from '../interfaces.js';
import type { WebhookEndpoint } from '../webhooks/endpoints.js';
import type { SpaceFloor } from './bytes.js';

/**
 * Options as a caller gives them; every field but the three directories has a default (the
 * values are in `defaults`, src/options/defaults.ts).
 */
export interface IngestorOptions {
  /** The staging directory. Required; must exist. */
  input: string;
  /** Root of the date-partitioned warehouse. Required; created if missing. */
  warehouse: string;
  /** Root of the hourly manifests. Required; created if missing. */
  manifests: string;
  /** SQLite state file. Default: `<manifests>/ingestor.db`. Never inside the input. */
  statePath?: string;
  /**
   * A PostgreSQL state instead (`postgres://...`), shared by several daemons on one staging
   * area. Default: none (the SQLite file).
   */
  stateUrl?: string;
  /** This daemon among those sharing a PostgreSQL state. Default: `<host>:<manifests>`. */
  nodeId?: string;
  /** Seconds of the daemon's lease in a PostgreSQL state. Default: 30. */
  leaseSeconds?: number;
  /** How completion is decided. Default: `stability`. */
  mode?: Mode;
  /** Stability window in seconds (fractions allowed). Default: 5. */
  stabilitySeconds?: number;
  /** Files read and hashed at once (on worker threads). Default: 16. */
  concurrency?: number;
  /** Report what would happen and change nothing. Default: false. */
  dryRun?: boolean;
  /** One pass over the input, then exit. Default: false. */
  once?: boolean;
  /** Globs (relative to the input) of files never ingested. Default: none. */
  exclude?: readonly string[];
  /** What to do with a file whose content is already ingested. Default: `move`. */
  onDuplicate?: OnDuplicate;
  /** Where duplicates go with `onDuplicate: 'move'`. Default: `<warehouse>/_duplicates`. */
  duplicatesDir?: string;
  /** Where files that cannot be ingested go. Default: `<warehouse>/_quarantine`. */
  quarantineDir?: string;
  /** Attempts for a file whose reads fail transiently before it is quarantined. Default: 8. */
  maxRetries?: number;
  /** Shortest interval between full scans, in seconds. Default: 30 (scans also adapt to their cost). */
  scanIntervalSeconds?: number;
  /** Most files per group commit. Default: 256. */
  batchSize?: number;
  /** Seconds between structured stats log lines. Default: 60. */
  statsIntervalSeconds?: number;
  /** Days the journal of exceptional events is kept (files' rows never pruned). Default: 30. */
  historyDays?: number;
  /**
   * Most not-yet-complete files remembered between scans (the rest are found again by the
   * next scan). Default: 50,000. Advanced; no command-line flag.
   */
  pendingCapacity?: number;
  /** Larger files are quarantined, never read (bytes, or `2GiB`). Default: no limit. */
  maxFileSize?: number | string;
  /**
   * Free space kept on each output volume (warehouse, manifests, state): bytes, `500MiB`, or a
   * percentage of the volume (`10%`). Ingestion pauses before it would go below. Default: none.
   */
  minFreeSpace?: number | string;
  /** Bytes read per second, all files together (bytes, or `50MiB`). Default: no limit. */
  maxBytesPerSecond?: number | string;
  /** Seconds a read may make no progress before it is abandoned. Default: 60. */
  readStallSeconds?: number;
  /** `GLOB=N`: files matching GLOB go first, highest N first. Default: none (all 0). */
  priority?: readonly string[];
  /** `URL [events=...] [secret-file=...|secret-env=...]`: where to announce events. Default: none. */
  webhook?: readonly string[];
  /** The Standard Webhooks secret (`whsec_...`) of webhooks without their own. */
  webhookSecret?: string;
  /** A file holding it. */
  webhookSecretFile?: string;
}

/** One `--priority GLOB=N`. */
export interface PriorityRule {
  readonly glob: string;
  readonly priority: number;
}

export interface ResolvedOptions {
  readonly input: string;
  readonly warehouse: string;
  readonly manifests: string;
  readonly statePath: string;
  /** The PostgreSQL state, if one is used instead of `statePath`. */
  readonly stateUrl: string | undefined;
  readonly nodeId: string;
  readonly leaseMs: number;
  /** This daemon's manifest file name in each hour: one per daemon on a shared state. */
  readonly manifestName: string;
  readonly mode: Mode;
  readonly stabilityMs: number;
  readonly concurrency: number;
  readonly dryRun: boolean;
  readonly once: boolean;
  readonly exclude: readonly string[];
  readonly onDuplicate: OnDuplicate;
  readonly duplicatesDir: string;
  readonly quarantineDir: string;
  readonly maxRetries: number;
  readonly scanIntervalMs: number;
  readonly batchSize: number;
  readonly pendingCapacity: number;
  readonly statsIntervalMs: number;
  readonly historyDays: number;
  /** Bytes; undefined: no limit. */
  readonly maxFileSize: number | undefined;
  readonly minFreeSpace: SpaceFloor | undefined;
  /** Bytes per second; undefined: no limit. */
  readonly maxBytesPerSecond: number | undefined;
  readonly readStallMs: number;
  /** In the order given; the first whose glob matches sets a file's priority. */
  readonly priorities: readonly PriorityRule[];
  /** Where events are announced; none by default. */
  readonly webhooks: readonly WebhookEndpoint[];
}

/** The flags of `run` that are the daemon's own rather than ingest options. */
export interface DaemonOptions {
  readonly logLevel: LevelWithSilent;
  /** Serve /metrics and /healthz on this port (0: any free port, logged). */
  readonly metricsPort?: number;
  /** Default 127.0.0.1. */
  readonly metricsHost: string;
  /** After SIGTERM, how long in-flight files may take before they are left to recovery. */
  readonly shutdownTimeoutMs: number;
  /** With --dry-run: the report as JSON lines. */
  readonly json: boolean;
  /** The control API (`--api-port`); absent: off. */
  readonly api?: ApiOptions;
}

/** The control API: HTTPS with mutual TLS on one address. */
export interface ApiOptions {
  /** `--api-host`. Default 127.0.0.1. */
  readonly host: string;
  /** `--api-port` (0: any free port, logged). */
  readonly port: number;
  /** `--tls-cert`, `--tls-key`, `--tls-ca`, `--tls-crl`, read and checked. */
  readonly tls: TlsMaterial;
  /** `--api-roles`, read and checked; absent: the role is the certificate's OU. */
  readonly roles?: RoleMap;
}

export interface VerifyOptions {
  warehouse: string;
  manifests: string;
  /** State to compare with; skipped when the file does not exist. */
  statePath: string;
  /** A PostgreSQL state to compare with instead. */
  stateUrl?: string;
  /**
   * The daemon's duplicates directory, checked against the state's duplicate rows (skipped
   * without a state). Default: `<warehouse>/_duplicates`.
   */
  duplicatesDir?: string;
  /** Also recompute the SHA-256 of every warehouse file and every duplicate. */
  rehash: boolean;
}

export interface ListOptions {
  status?: string;
  /** Only rows from this instant (ms) on. */
  since?: number;
  /**
   * Only sources matching this glob (`--path`): from `/`, the whole path; with another `/`, any
   * trailing part of whole names; and always the bare name.
   */
  path?: string;
  /** Only this content (`--sha256`): 64 hex digits, or a prefix of at least 6. */
  sha256?: string;
  limit: number;
}

/** Flag values as the command line parser gives them, by flag name (`state-path`). */
export type FlagValues = Readonly<Record<string, unknown>>;

/** `ingestor run`, resolved from its flags. */
export interface RunCommandOptions {
  readonly options: ResolvedOptions;
  readonly daemon: DaemonOptions;
}

/** `ingestor verify`, resolved from its flags. */
export interface VerifyCommandOptions {
  readonly verify: Readonly<VerifyOptions>;
  readonly json: boolean;
}

/** `ingestor status`, resolved from its flags. */
export interface StatusCommandOptions {
  readonly statePath: string;
  readonly stateUrl?: string;
  readonly json: boolean;
}

/** `ingestor list`, resolved from its flags. */
export interface ListCommandOptions {
  readonly statePath: string;
  readonly stateUrl?: string;
  readonly list: Readonly<ListOptions>;
  readonly json: boolean;
}

/** `ingestor certs`, resolved from its words. */
export interface CertsCommandOptions {
  /** Where the certificates go (absolute); created if missing. */
  readonly dir: string;
}

/** `ingestor retry`, resolved from its flags. */
export interface RetryCommandOptions {
  readonly statePath: string;
  readonly stateUrl?: string;
  /** Row ids to retry; empty: every quarantined file. */
  readonly ids: readonly number[];
}

/** `ingestor state copy`, resolved from its words and flags. */
export interface StateCommandOptions {
  readonly action: 'copy';
  /** The SQLite state to copy (absolute; an existing file). */
  readonly from: string;
  /** The PostgreSQL state to fill (a postgres:// URL). */
  readonly to: string;
}

/** What `ingestor ctl` does: one call of the control API, or the live screen. */
export type CtlAction =
  | { readonly kind: 'status' | 'stats' | 'pause' | 'resume' | 'watch' }
  /** A row id (digits): a file the state has a row for. */
  | { readonly kind: 'show' | 'history'; readonly id: string }
  /** A row id, or a pending id (`p` and 22 characters) of a file that has no row yet. */
  | { readonly kind: 'cancel' | 'hold' | 'release'; readonly id: string }
  | { readonly kind: 'retry'; readonly ids: readonly string[] }
  | { readonly kind: 'ls'; readonly query: Readonly<CtlFilesQuery> }
  | { readonly kind: 'pending'; readonly limit: number | undefined }
  | { readonly kind: 'webhooks'; readonly limit: number | undefined }
  | { readonly kind: 'redeliver'; readonly id: string }
  | {
      readonly kind: 'limits';
      /** The body of `PUT /v1/limits`, or undefined to show the limits. */
      readonly changes: Readonly<Record<string, number | string | null>> | undefined;
    };

/** `ctl ls`'s filters and page, as `GET /v1/files` takes them (strings, checked already). */
export interface CtlFilesQuery {
  status?: string;
  q?: string;
  since?: string;
  sha256?: string;
  limit?: string;
  cursor?: string;
}

/** `ingestor ctl`, resolved from its words and flags. */
export interface CtlCommandOptions {
  readonly action: CtlAction;
  /** The daemon's control API: `https://host:port`. */
  readonly server: URL;
  /** The client certificate, its key, and the CA that signed the server's certificate (PEM). */
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly ca: Buffer;
  readonly json: boolean;
}
