import type { LevelWithSilent } from 'pino';
import { Registry } from 'prom-client';
import { crashInjectorFromEnv } from '../crash.js';
import { dryRun, formatDryRunEntry } from './dry-run.js';
import { describeError, errnoCode, hasCode } from '../errors.js';
import { IngestorEvents } from '../events.js';
import type { Health } from '../ops/http-server.js';
import { startHttpServer } from '../ops/http-server.js';
import { Orchestrator } from '../orchestrator/orchestrator.js';
import { createLogger } from '../ops/logger.js';
import type { Logger } from '../ops/logger.js';
import { registerMetrics } from '../ops/metrics.js';
import type { ResolvedOptions } from '../options.js';
import { Progress, formatBytes, formatRates } from '../ops/progress.js';

export interface DaemonOptions {
  logLevel: LevelWithSilent;
  /** Serve /metrics and /healthz on this port (0: any free port, logged). */
  metricsPort?: number;
  /** Default 127.0.0.1. */
  metricsHost: string;
  /** After SIGTERM, how long in-flight files may take before they are left to recovery. */
  shutdownTimeoutMs: number;
  /** With --dry-run: the report as JSON lines. */
  json: boolean;
}

/** Exit codes: 0 done, 1 runtime failure (or files failed in --once), 2 usage error. */
export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

function exitAfterFlush(logger: Logger, code: number): never {
  logger.flush();
  process.exit(code);
}

/**
 * `ingestor run`: the daemon (or one pass, or the dry-run audit) with its logs, metrics,
 * health endpoint, progress display and signal handling. Returns the exit code.
 */
export async function runDaemon(options: ResolvedOptions, d: DaemonOptions): Promise<number> {
  const tty = process.stdout.isTTY === true;
  const showProgress = (options.once || options.dryRun) && process.stderr.isTTY === true;
  const progress = showProgress
    ? new Progress(process.stderr, options.dryRun ? 'auditing' : 'ingesting')
    : undefined;
  const beforeWrite = () => progress?.clear();

  if (options.dryRun) {
    // The report owns stdout; logs go to stderr.
    const logger = createLogger(d.logLevel, {
      fd: 2,
      pretty: process.stderr.isTTY === true,
      beforeWrite,
    });
    // A reader that stops early (`ingestor --dry-run | head -2`) closes stdout: a write fails
    // with EPIPE (bin/ingestor.ts keeps that from ending the process). The audit then stops at
    // its next report, through dryRun's own cleanup (its snapshot of the state removed, leases
    // let go), rather than reading the rest of the input for nobody, and ends as a finished one.
    let readerGone = false;
    const stopped = new Error('stdout was closed by its reader');
    const write = (text: string) =>
      process.stdout.write(text, (error) => {
        if (hasCode(error, 'EPIPE')) readerGone = true;
      });
    progress?.start();
    try {
      const summary = await dryRun(options, {
        logger,
        report: (entry) => {
          if (readerGone) throw stopped;
          progress?.clear();
          progress?.add(entry.bytes ?? 0);
          write(`${d.json ? JSON.stringify(entry) : formatDryRunEntry(entry)}\n`);
        },
      });
      progress?.stop();
      const line = `dry-run: ${summary.ingest} to ingest, ${summary.duplicate} duplicates, ${summary.skip} skipped, ${summary.wait} not complete, ${summary.error} errors; nothing was changed`;
      write(d.json ? `${JSON.stringify({ summary })}\n` : `${line}\n`);
      logger.flush();
      return EXIT.ok;
    } catch (error) {
      progress?.stop();
      if (error === stopped) {
        logger.flush();
        return EXIT.ok;
      }
      process.stderr.write(`ingestor: ${describeError(error)}\n`);
      return exitAfterFlush(logger, EXIT.failure);
    }
  }

  const logger = createLogger(d.logLevel, { pretty: tty, beforeWrite });
  // SIGUSR2 (from `ingestor status`) would end the process by default. Its handler is in place
  // before the pid file is written and stays until the process exits: a status that read the
  // pid just before a stop must not kill the stopping daemon.
  let onRefresh = () => {};
  process.on('SIGUSR2', () => onRefresh());
  const events = new IngestorEvents();
  const registry = new Registry();
  let ingestor: Orchestrator | undefined;
  let phase: 'starting' | 'recovering' | 'running' | 'stopping' = 'starting';
  const unregister = registerMetrics(registry, events, () => ingestor?.gauges());
  events.on('recovery:started', () => (phase = 'recovering'));
  events.on('discovery:started', () => (phase = 'running'));
  const health = (): Health => {
    if (phase !== 'running') return { ok: false, reason: phase };
    const paused = ingestor?.pausedReason;
    return paused === undefined ? { ok: true } : { ok: true, reason: `paused: ${paused}` };
  };
  let server: Awaited<ReturnType<typeof startHttpServer>> | undefined;
  if (d.metricsPort !== undefined) {
    try {
      server = await startHttpServer({
        host: d.metricsHost,
        port: d.metricsPort,
        registry,
        health,
        logger,
      });
    } catch (error) {
      process.stderr.write(
        `ingestor: cannot listen on ${d.metricsHost}:${d.metricsPort}: ${describeError(error)}; choose another --metrics-port (0 picks a free one)\n`,
      );
      return exitAfterFlush(logger, errnoCode(error) === 'EADDRINUSE' ? EXIT.usage : EXIT.failure);
    }
    logger.info(
      { event: 'listening', host: d.metricsHost, port: server.port },
      `metrics on http://${d.metricsHost}:${server.port}/metrics, health on /healthz`,
    );
  }

  try {
    ingestor = await Orchestrator.open(options, { logger, events, crash: crashInjectorFromEnv() });
  } catch (error) {
    logger.fatal({ err: describeError(error), code: errnoCode(error) }, 'cannot start');
    process.stderr.write(`ingestor: ${describeError(error)}\n`);
    await server?.close();
    return exitAfterFlush(logger, EXIT.failure);
  }
  logger.info(
    {
      event: 'start',
      input: options.input,
      warehouse: options.warehouse,
      manifests: options.manifests,
      statePath: options.statePath,
      mode: options.mode,
      once: options.once,
    },
    'ingestor started',
  );

  const controller = new AbortController();
  let signals = 0;
  let shutdownTimer: NodeJS.Timeout | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    signals += 1;
    if (signals > 1) {
      logger.warn(
        { signal },
        'second signal: stopping at once; recovery completes in-flight files',
      );
      exitAfterFlush(logger, EXIT.failure);
    }
    phase = 'stopping';
    logger.info({ signal, timeoutMs: d.shutdownTimeoutMs }, 'stopping: finishing in-flight files');
    shutdownTimer = setTimeout(() => {
      logger.warn(
        { timeoutMs: d.shutdownTimeoutMs },
        'shutdown timeout: leaving in-flight files to recovery at next start',
      );
      exitAfterFlush(logger, EXIT.ok);
    }, d.shutdownTimeoutMs);
    controller.abort();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  // `ingestor status` asks for a fresh runtime snapshot (live pending count) with SIGUSR2.
  const live = ingestor;
  onRefresh = () => live.writeRuntime();
  if (progress !== undefined) {
    progress.follow(events, {
      remaining: () => {
        const g = live.gauges();
        return g.queueDepth + g.inflight;
      },
    });
    progress.start();
  }

  try {
    const summary = options.once ? await ingestor.runOnce() : await ingestor.run(controller.signal);
    progress?.stop();
    await ingestor.close();
    logger.info({ event: 'summary', ...summary }, 'stopped');
    if (options.once) {
      process.stderr.write(
        `ingestor: ${summary.ingested} ingested, ${summary.duplicates} duplicates, ${summary.failed} failed, ${summary.quarantined} quarantined, ${summary.waiting} not complete, ${summary.skipped} skipped; ${formatBytes(summary.bytes)} in ${summary.seconds.toFixed(2)} s (${formatRates(summary.ingested, summary.bytes, summary.seconds)})\n`,
      );
    }
    return options.once && summary.failed > 0 ? EXIT.failure : EXIT.ok;
  } catch (error) {
    progress?.stop();
    logger.fatal({ err: describeError(error), code: errnoCode(error) }, 'stopped by an error');
    process.stderr.write(`ingestor: ${describeError(error)}\n`);
    try {
      await ingestor.close();
    } catch (closeError) {
      logger.error({ err: describeError(closeError) }, 'could not close cleanly; recovery will');
    }
    return EXIT.failure;
  } finally {
    clearTimeout(shutdownTimer);
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    unregister();
    await server?.close();
    logger.flush();
  }
}
