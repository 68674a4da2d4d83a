import fs from 'node:fs';
import path from 'node:path';
import { Counter, Gauge, Histogram, collectDefaultMetrics } from 'prom-client';
import type { Registry } from 'prom-client';
import { hasCode } from '../errors.js';
import type { IngestorEvents } from '../events.js';
import type { FailureClass } from '../interfaces.js';
import type { SkipReason } from '../interfaces.js';
import { volumeUse } from './volumes.js';
import type { Volume, VolumeUse } from './volumes.js';

/** Live figures the gauges read at scrape time. */
export interface Gauges {
  /** Complete files waiting for a worker. */
  queueDepth: number;
  /** The same by `--priority` (only the priorities that have some). */
  queuedByPriority: ReadonlyMap<number, number>;
  /** Files being read, hashed, moved or committed. */
  inflight: number;
  /** Files seen but not complete yet. */
  pending: number;
  paused: boolean;
  /** When the newest file was committed to the warehouse (ms since the epoch), if ever. */
  lastIngestAt: number | undefined;
  /** The first ms of the last hour closed (its `_SUCCESS` written), if any. */
  lastClosedHour: number | undefined;
}

type ControlFigures = NonNullable<ReturnType<MetricsSources['controls']>>;
type VolumeSpace = Extract<VolumeUse, { freeBytes: number }>;

/** Volumes read for one scrape serve the scrapes of this long (two gauges, one statfs each). */
const VOLUMES_READ_MS = 500;

/** What `ingestor_build_info` says. */
export interface BuildInfo {
  /** Default: the version in the package's package.json. */
  version: string;
  /** Default: the running Node.js version, without the `v`. */
  node: string;
}

/**
 * Every value of each counter's label, so that every series exists from the first scrape, at 0:
 * `rate()` and `increase()` only see an increase between two samples of a series that exists.
 * Records rather than lists, so that the compiler names a value added to the type and not here.
 */
const SKIP_REASONS: Record<SkipReason, true> = {
  hidden: true,
  temporary: true,
  excluded: true,
  'sidecar-marker': true,
  symlink: true,
  fifo: true,
  socket: true,
  device: true,
  'not-regular': true,
};
const FAILURE_KINDS: Record<FailureClass, true> = {
  changed: true,
  retry: true,
  quarantine: true,
  pause: true,
};

/** Files smaller than this say more about syscalls than about hashing speed. */
const MIN_BYTES_FOR_RATE = 64 * 1024;

let packageVersion: string | undefined;

/**
 * The version in the nearest package.json above this module (`src/` in the checkout,
 * `dist/src/` when built or installed), read once.
 */
export function ingestorVersion(): string {
  if (packageVersion !== undefined) return packageVersion;
  for (let dir = import.meta.dirname; ; dir = path.dirname(dir)) {
    try {
      const text = fs.readFileSync(path.join(dir, 'package.json'), 'utf8');
      packageVersion = (JSON.parse(text) as { version?: string }).version ?? 'unknown';
      return packageVersion;
    } catch (error) {
      if (!hasCode(error, 'ENOENT')) throw error;
    }
    if (path.dirname(dir) === dir) return (packageVersion = 'unknown');
  }
}

/**
 * Prometheus metrics, fed by the pipeline's events like the logs are. `gauges` and
 * `quarantined` return undefined before the daemon is up (every gauge reads 0 then). Returns
 * the unsubscriber.
 */
export interface MetricsSources {
  events: IngestorEvents;
  gauges: () => Gauges | undefined;
  /** Quarantined files not released, read from the state at each scrape. */
  quarantined: () => Promise<number | undefined>;
  /** An operator's controls: their pause, held files, files backing off (undefined: not up). */
  controls: () => { operatorPaused: boolean; held: number; backoff: number } | undefined;
  /** The directories whose volumes' free and total bytes are exported. */
  volumes: readonly Volume[];
  /** The priorities `--priority` gives (0, every other file's, is always exported). */
  priorities?: readonly number[];
  /** `--webhook`: each endpoint's label, and the live figures once the daemon is up. */
  webhooks?: {
    labels: readonly string[];
    live: () => WebhookFigures | undefined;
  };
  build?: BuildInfo;
}

export function registerMetrics(registry: Registry, sources: MetricsSources): () => void {
  const { events, gauges, quarantined, controls, volumes } = sources;
  const build = sources.build ?? { version: ingestorVersion(), node: process.versions.node };
  collectDefaultMetrics({ register: registry });
  // prom-client names these gauges with a counter's `_total` suffix, which `promtool check
  // metrics` rejects; the per-type series (`nodejs_active_handles{type}`,
  // `nodejs_active_resources{type}`, ...) stay and carry the same information.
  for (const name of [
    'nodejs_active_handles_total',
    'nodejs_active_requests_total',
    'nodejs_active_resources_total',
  ]) {
    registry.removeSingleMetric(name);
  }
  const registers = [registry];
  const ingested = new Counter({
    name: 'ingestor_files_ingested_total',
    help: 'Files committed to the warehouse, each with one manifest line.',
    registers,
  });
  const bytes = new Counter({
    name: 'ingestor_bytes_ingested_total',
    help: 'Bytes of the files committed to the warehouse.',
    registers,
  });
  const duplicates = new Counter({
    name: 'ingestor_duplicates_total',
    help: 'Files whose content was already ingested (moved to the duplicates area or deleted).',
    registers,
  });
  const skipped = new Counter({
    name: 'ingestor_skipped_total',
    help: 'Files never ingested, by reason (hidden, temporary, excluded, symlink, fifo, ...).',
    labelNames: ['reason'],
    registers,
  });
  for (const reason of Object.keys(SKIP_REASONS)) skipped.inc({ reason }, 0);
  const errors = new Counter({
    name: 'ingestor_errors_total',
    help: 'Failed attempts, by what follows: retry, quarantine, pause (output volume), changed.',
    labelNames: ['kind'],
    registers,
  });
  for (const kind of Object.keys(FAILURE_KINDS)) errors.inc({ kind }, 0);
  const retries = new Counter({
    name: 'ingestor_retries_total',
    help: 'Files scheduled to be tried again after a transient read error.',
    registers,
  });
  const quarantinedTotal = new Counter({
    name: 'ingestor_quarantine_moves_total',
    help: 'Files moved to (or quarantined in) the quarantine directory.',
    registers,
  });
  const pauses = new Counter({
    name: 'ingestor_pauses_total',
    help: 'Times ingestion paused because an output volume failed.',
    registers,
  });
  const latency = new Histogram({
    name: 'ingestor_file_latency_seconds',
    help: 'Time from a file found complete to its commit.',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    registers,
  });
  const hashRate = new Histogram({
    name: 'ingestor_hash_throughput_bytes_per_second',
    help: `Reading and hashing speed per file (files of ${MIN_BYTES_FOR_RATE} bytes or more).`,
    buckets: [1e6, 1e7, 5e7, 1e8, 2.5e8, 5e8, 1e9, 2e9, 4e9],
    registers,
  });
  const scan = new Histogram({
    name: 'ingestor_scan_duration_seconds',
    help: 'Duration of full scans of the input.',
    buckets: [0.001, 0.01, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
    registers,
  });
  const gauge = (name: string, help: string, read: (g: Gauges) => number) =>
    new Gauge({
      name,
      help,
      registers,
      collect() {
        const g = gauges();
        this.set(g === undefined ? 0 : read(g));
      },
    });
  // Counts of files in one state are `ingestor_<state>_files` (README lists the old names).
  gauge('ingestor_queued_files', 'Complete files waiting for a worker.', (g) => g.queueDepth);
  gauge(
    'ingestor_inflight_files',
    'Files being read, hashed, moved or committed.',
    (g) => g.inflight,
  );
  gauge('ingestor_pending_files', 'Files seen but not complete yet.', (g) => g.pending);
  // Every priority an operator gave is a series from the start, at 0 while none of it waits.
  const levels = new Set([0, ...(sources.priorities ?? [])]);
  new Gauge({
    name: 'ingestor_queued_files_by_priority',
    help: 'Complete files waiting for a worker, by --priority.',
    labelNames: ['priority'],
    registers,
    collect() {
      const byPriority = gauges()?.queuedByPriority ?? new Map<number, number>();
      for (const level of byPriority.keys()) levels.add(level);
      for (const level of levels) {
        this.set({ priority: String(level) }, byPriority.get(level) ?? 0);
      }
    },
  });
  new Gauge({
    name: 'ingestor_quarantined_files',
    help: 'Quarantined files not yet released.',
    registers,
    async collect() {
      // A state that cannot be read now (full, locked, stopping) keeps the last value: one
      // failed read must not fail the whole scrape, `ingestor_paused` included.
      try {
        this.set((await quarantined()) ?? 0);
      } catch {
        return;
      }
    },
  });
  const stopWebhooks =
    sources.webhooks === undefined
      ? () => {}
      : registerWebhookMetrics(registers, sources.webhooks, events);
  gauge('ingestor_paused', '1 while ingestion is paused by a failing output volume.', (g) =>
    g.paused ? 1 : 0,
  );
  gauge(
    'ingestor_last_ingest_timestamp_seconds',
    'Unix time of the newest commit of a file to the warehouse (0: none, or not known yet).',
    (g) => (g.lastIngestAt === undefined ? 0 : g.lastIngestAt / 1000),
  );
  gauge(
    'ingestor_last_closed_hour_timestamp_seconds',
    'Unix time of the start of the last hour closed, its _SUCCESS written (0: none yet, or not known yet).',
    (g) => (g.lastClosedHour === undefined ? 0 : g.lastClosedHour / 1000),
  );
  const control = (name: string, help: string, read: (c: ControlFigures) => number) =>
    new Gauge({
      name,
      help,
      registers,
      collect() {
        const c = controls();
        this.set(c === undefined ? 0 : read(c));
      },
    });
  control('ingestor_operator_paused', "1 while an operator's pause is on (POST /v1/pause).", (c) =>
    c.operatorPaused ? 1 : 0,
  );
  control(
    'ingestor_held_files',
    'Files an operator held or cancelled, until released.',
    (c) => c.held,
  );
  control(
    'ingestor_backoff_files',
    'Files that failed and wait for their next try.',
    (c) => c.backoff,
  );
  // Read at each scrape (a statfs per directory, at once), once for both gauges: a registry
  // collects its metrics concurrently. A volume that cannot be read is left out of the scrape
  // rather than failing it.
  let reading: { at: number; uses: Promise<VolumeUse[]> } | undefined;
  const volumeUses = () => {
    const now = Date.now();
    if (reading === undefined || now - reading.at > VOLUMES_READ_MS) {
      reading = { at: now, uses: Promise.all(volumes.map(volumeUse)) };
    }
    return reading.uses;
  };
  const volumeGauge = (name: string, help: string, read: (v: VolumeSpace) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['volume'],
      registers,
      async collect() {
        this.reset();
        for (const v of await volumeUses()) {
          if ('freeBytes' in v) this.set({ volume: v.name }, read(v));
        }
      },
    });
  volumeGauge(
    'ingestor_volume_free_bytes',
    'Bytes this user may still write on the volume of each directory (input, warehouse, manifests, state).',
    (v) => v.freeBytes,
  );
  volumeGauge(
    'ingestor_volume_size_bytes',
    'Size of the volume of each directory (input, warehouse, manifests, state).',
    (v) => v.totalBytes,
  );
  new Gauge({
    name: 'ingestor_build_info',
    help: 'Always 1; the labels say which ingestor and Node.js run.',
    labelNames: ['version', 'node'],
    registers,
  }).set(build, 1);

  const listeners = {
    'file:committed': (e: { bytes: number; ms: number; hashMs: number }) => {
      ingested.inc();
      bytes.inc(e.bytes);
      latency.observe(e.ms / 1000);
      if (e.bytes >= MIN_BYTES_FOR_RATE && e.hashMs > 0)
        hashRate.observe(e.bytes / (e.hashMs / 1000));
    },
    'file:duplicate': () => duplicates.inc(),
    'file:skipped': (e: { reason: string }) => skipped.inc({ reason: e.reason }),
    'file:failed': (e: { kind: string }) => {
      errors.inc({ kind: e.kind });
      if (e.kind === 'retry') retries.inc();
    },
    // A quarantine ends a failure as surely as a retry does: counted with its kind. (A
    // `file:failed` of kind quarantine is an attempt whose quarantine move itself failed.)
    'file:quarantined': () => {
      quarantinedTotal.inc();
      errors.inc({ kind: 'quarantine' });
    },
    'pipeline:paused': () => pauses.inc(),
    'scan:done': (e: { ms: number }) => scan.observe(e.ms / 1000),
  } as const;
  for (const [name, listener] of Object.entries(listeners)) {
    events.on(name as keyof typeof listeners, listener as never);
  }
  return () => {
    stopWebhooks();
    for (const [name, listener] of Object.entries(listeners)) {
      events.off(name as keyof typeof listeners, listener as never);
    }
  };
}

/** What the webhook metrics read at each scrape (see WebhookDispatcher). */
export interface WebhookFigures {
  /** Endpoint label -> whether its last attempt failed. */
  failing: ReadonlyMap<string, boolean>;
  /** Messages waiting to be delivered, by endpoint label. */
  pending: () => Promise<Map<string, number>>;
}

/**
 * `ingestor_webhook_*`: attempts by endpoint and outcome, whether an endpoint is failing, and
 * the messages waiting for it; every endpoint's series exist from the first scrape, at 0.
 */
function registerWebhookMetrics(
  registers: Registry[],
  webhooks: NonNullable<MetricsSources['webhooks']>,
  events: IngestorEvents,
): () => void {
  const { labels, live } = webhooks;
  const attempts = new Counter({
    name: 'ingestor_webhook_attempts_total',
    help: 'Webhook delivery attempts, by endpoint and outcome (delivered; failed, tried again; gave-up).',
    labelNames: ['endpoint', 'outcome'],
    registers,
  });
  for (const endpoint of labels) {
    for (const outcome of ['delivered', 'failed', 'gave-up'])
      attempts.inc({ endpoint, outcome }, 0);
  }
  const onAttempt = (e: { endpoint: string; outcome: string }) =>
    attempts.inc({ endpoint: e.endpoint, outcome: e.outcome });
  events.on('webhook:attempt', onAttempt);
  new Gauge({
    name: 'ingestor_webhook_failing',
    help: '1 while the last attempt to this webhook endpoint failed, else 0.',
    labelNames: ['endpoint'],
    registers,
    collect() {
      const failing = live()?.failing;
      for (const endpoint of labels)
        this.set({ endpoint }, failing?.get(endpoint) === true ? 1 : 0);
    },
  });
  new Gauge({
    name: 'ingestor_webhook_pending_messages',
    help: 'Webhook messages waiting to be delivered, by endpoint.',
    labelNames: ['endpoint'],
    registers,
    async collect() {
      let pending: Map<string, number> | undefined;
      try {
        pending = await live()?.pending();
      } catch {
        return; // the state cannot be read now: the last value stays
      }
      for (const endpoint of labels) this.set({ endpoint }, pending?.get(endpoint) ?? 0);
    },
  });
  return () => events.off('webhook:attempt', onAttempt);
}
