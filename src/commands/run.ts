import { Registry } from 'prom-client';
import { clockFromEnv } from '../clock.js';
import { crashInjectorFromEnv } from '../crash.js';
import type { ApiServer } from '../api/server.js';
import { runDryRun } from './dry-run.js';
import { startControlApi } from './run-api.js';
import { EXIT, UsageError, describeError, errnoCode } from '../errors.js';
import { IngestorEvents } from '../events.js';
import type { Health } from '../ops/http-server.js';
import { startHttpServer } from '../ops/http-server.js';
import { nativeHelper } from '../native.js';
import { Orchestrator } from '../orchestrator/orchestrator.js';
import type { Opening } from '../orchestrator/orchestrator.js';
import { createLogger, flushLogBeforeExec } from '../ops/logger.js';
import type { Logger } from '../ops/logger.js';
import { registerMetrics } from '../ops/metrics.js';
import { daemonVolumes } from '../ops/volumes.js';
import type { RunCommandOptions } from '../options/types.js';
import { describeState } from '../state/open.js';
import { Progress, formatBytes, formatRates } from '../ops/progress.js';

/** What `run` needs from the process it runs in. */
export interface RunDeps {
  /**
   * Ends the process at once: bin/ingestor.ts passes `process.exit`, so that nothing under src/
   * ends the process itself. For a second signal, a shutdown timeout, and a start that failed.
   */
  exit(code: number): never;
}

function exitAfterFlush(logger: Logger, deps: RunDeps, code: number): never {
  logger.flush();
  return deps.exit(code);
}

/** Set in the environment of a daemon that restarted itself after losing its lease. */
export const RESTARTED_ENV = 'INGEST_RESTARTED';

/**
 * Replaces this process by a fresh run of itself (execve: same pid and arguments), with
 * INGEST_RESTARTED=lease-lost. Without the native helper, or if execve fails, exits 1 for a
 * supervisor to restart it.
 */
function restartInPlace(logger: Logger, deps: RunDeps): void {
  const restarts = Number(process.env[RESTARTED_ENV + '_COUNT'] ?? '0') + 1;
  process.env[RESTARTED_ENV] = 'lease-lost';
  process.env[RESTARTED_ENV + '_COUNT'] = String(restarts);
  logger.warn({ event: 'restart', restarts }, 'restarting in place after losing the lease');
  // The log is written asynchronously: what it holds goes out before execve replaces the
  // process (nothing else that this run does matters any more: it changes nothing).
  void flushLogBeforeExec(logger).then(() => {
    const errno = nativeHelper()?.execSelf([]);
    logger.fatal(
      { event: 'restart-failed', errno },
      'cannot restart in place: exiting for the supervisor to restart the daemon',
    );
    exitAfterFlush(logger, deps, EXIT.failure);
  });
}

/**
 * `ingestor run`: the daemon (or one pass, or the dry-run audit) with its logs, metrics,
 * health endpoint, progress display and signal handling. Returns the exit code.
 */
export async function runCommand(
  { options, daemon: d }: RunCommandOptions,
  deps: RunDeps,
): Promise<number> {
  if (options.dryRun) return runDryRun(options, d, deps.exit);
  const startedAt = Date.now();
  const tty = process.stdout.isTTY === true;
  const showProgress = options.once && process.stderr.isTTY === true;
  const progress = showProgress ? new Progress(process.stderr, 'ingesting') : undefined;
  const beforeWrite = () => progress?.clear();

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
  /** Set once a lost lease restarts the process: a stop asked meanwhile ends it instead. */
  let restarting = false;
  const unregister = registerMetrics(registry, {
    events,
    gauges: () => ingestor?.gauges(),
    quarantined: async () => ingestor?.countQuarantined(),
    controls: () => {
      const controls = ingestor?.controls;
      if (controls === undefined) return undefined;
      return { operatorPaused: controls.operatorPause !== undefined, ...controls.waitingCounts() };
    },
    volumes: daemonVolumes(options),
    priorities: options.priorities.map((rule) => rule.priority),
    ...(options.webhooks.length === 0
      ? {}
      : {
          webhooks: {
            labels: options.webhooks.map((e) => e.label),
            live: () => ingestor?.webhooks.figures(),
          },
        }),
  });
  // A daemon whose lease in a shared state ran out changes nothing more under it: it restarts
  // itself in place (same pid, same arguments), as a kill -9 and a restart would, and the new
  // run settles what this one left by the recovery rules, waiting for the database if need be.
  events.on('lease:lost', () => {
    // Asked to stop already: a restart would lose the request. It stops here instead.
    if (phase === 'stopping') exitAfterFlush(logger, deps, EXIT.ok);
    restarting = true;
    restartInPlace(logger, deps);
  });
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
      return exitAfterFlush(
        logger,
        deps,
        errnoCode(error) === 'EADDRINUSE' ? EXIT.usage : EXIT.failure,
      );
    }
    logger.info(
      { event: 'listening', host: d.metricsHost, port: server.port },
      `metrics on http://${d.metricsHost}:${server.port}/metrics, health on /healthz`,
    );
  }

  const cannotStart = async (error: unknown) => {
    logger.fatal({ err: describeError(error), code: errnoCode(error) }, 'cannot start');
    process.stderr.write(`ingestor: ${describeError(error)}\n`);
    await server?.close();
    // A bad flag found only on use (a wrong password for --state-url) is the operator's to fix.
    const code = error instanceof UsageError ? EXIT.usage : EXIT.failure;
    return exitAfterFlush(logger, deps, code);
  };
  let opening: Opening;
  try {
    opening = await Orchestrator.begin(options, {
      logger,
      events,
      crash: crashInjectorFromEnv(),
      clock: clockFromEnv(),
      waitForState: process.env[RESTARTED_ENV] === 'lease-lost',
    });
  } catch (error) {
    return cannotStart(error);
  }
  // The control API reads the state: it starts once the state is open (it says `recovering`
  // while recovery runs), and closes before it.
  let api: ApiServer | undefined;
  const closeApi = async () => {
    const closing = api;
    api = undefined;
    await closing?.close();
  };
  if (d.api !== undefined) {
    try {
      api = await startControlApi(
        d.api,
        opening,
        options,
        () => ingestor,
        () => phase,
        logger,
        startedAt,
      );
    } catch (error) {
      // The advice names the flag to change: the port for a port in use, the host for an
      // address this host does not have; both are usage errors.
      const code = errnoCode(error);
      const advice =
        code === 'EADDRINUSE'
          ? '; choose another --api-port (0 picks a free one)'
          : code === 'EADDRNOTAVAIL'
            ? '; choose an --api-host address of this host (127.0.0.1, ::1, 0.0.0.0 for all)'
            : '';
      process.stderr.write(
        `ingestor: cannot serve the control API on ${d.api.host}:${d.api.port}: ${describeError(error)}${advice}\n`,
      );
      await opening.abort();
      await server?.close();
      return exitAfterFlush(
        logger,
        deps,
        code === 'EADDRINUSE' || code === 'EADDRNOTAVAIL' ? EXIT.usage : EXIT.failure,
      );
    }
  }
  try {
    phase = 'recovering';
    ingestor = await opening.finish();
  } catch (error) {
    await closeApi(); // before the state it reads
    await opening.abort();
    return cannotStart(error);
  }
  logger.info(
    {
      event: 'start',
      input: options.input,
      warehouse: options.warehouse,
      manifests: options.manifests,
      ...(options.stateUrl === undefined
        ? { statePath: options.statePath }
        : { state: describeState(options), nodeId: options.nodeId }),
      mode: options.mode,
      once: options.once,
    },
    'ingestor started',
  );
  const operatorPause = ingestor.controls.operatorPause;
  if (operatorPause !== undefined) {
    const since = new Date(operatorPause.since).toISOString();
    logger.warn(
      { event: 'operator-paused', by: operatorPause.by, since },
      `ingestion is paused by an operator (${operatorPause.by}) since ${since}, as the state keeps it: nothing is taken until it is resumed (${d.api === undefined ? 'this daemon has no control API: restart it with --api-port, then ' : ''}POST /v1/resume, or ingestor ctl resume)`,
    );
  }

  const controller = new AbortController();
  let signals = 0;
  let shutdownTimer: NodeJS.Timeout | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    if (restarting) exitAfterFlush(logger, deps, EXIT.ok);
    signals += 1;
    if (signals > 1) {
      logger.warn(
        { signal },
        'second signal: stopping at once; recovery completes in-flight files',
      );
      exitAfterFlush(logger, deps, EXIT.failure);
    }
    phase = 'stopping';
    logger.info({ signal, timeoutMs: d.shutdownTimeoutMs }, 'stopping: finishing in-flight files');
    shutdownTimer = setTimeout(() => {
      logger.warn(
        { timeoutMs: d.shutdownTimeoutMs },
        'shutdown timeout: leaving in-flight files to recovery at next start',
      );
      exitAfterFlush(logger, deps, EXIT.ok);
    }, d.shutdownTimeoutMs);
    controller.abort();
  };
  // SIGHUP (the terminal closed) stops as cleanly as SIGTERM: Node would otherwise die at once.
  const stopSignals = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;
  for (const signal of stopSignals) process.on(signal, onSignal);
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
    await closeApi();
    await ingestor.close();
    logger.info({ event: 'summary', ...summary }, 'stopped');
    if (options.once) {
      process.stderr.write(
        `ingestor: ${summary.ingested} ingested, ${summary.duplicates} duplicates, ${summary.failed} failed, ${summary.quarantined} quarantined, ${summary.waiting} not complete, ${summary.skipped} skipped; ${formatBytes(summary.bytes)} in ${summary.seconds.toFixed(2)} s (${formatRates(summary.ingested, summary.bytes, summary.seconds)})${operatorPause === undefined ? '' : `; PAUSED by an operator (${operatorPause.by}): nothing was taken`}\n`,
      );
    }
    return options.once && summary.failed > 0 ? EXIT.failure : EXIT.ok;
  } catch (error) {
    progress?.stop();
    logger.fatal({ err: describeError(error), code: errnoCode(error) }, 'stopped by an error');
    process.stderr.write(`ingestor: ${describeError(error)}\n`);
    try {
      await closeApi();
      await ingestor.close();
    } catch (closeError) {
      logger.error({ err: describeError(closeError) }, 'could not close cleanly; recovery will');
    }
    return EXIT.failure;
  } finally {
    clearTimeout(shutdownTimer);
    for (const signal of stopSignals) process.off(signal, onSignal);
    unregister();
    await server?.close();
    logger.flush();
  }
}
