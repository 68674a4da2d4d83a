import path from 'node:path';
import type { DaemonControl, DaemonPhase } from '../api/control.js';
import { replayPage } from '../api/durable-events.js';
import type { ApiServer } from '../api/server.js';
import type { Logger } from '../ops/logger.js';
import type { ApiOptions } from '../options/types.js';
import { ApiError } from '../api/errors.js';
import { ControlRefusal } from '../orchestrator/operator-controls.js';
import type { Orchestrator } from '../orchestrator/orchestrator.js';

/** Runs an operator's action; a refusal becomes the API's 404 or 409. */
async function refusals<T>(action: () => Promise<T>): Promise<T> {
  try {
    return await action();
  } catch (error) {
    if (!(error instanceof ControlRefusal)) throw error;
    const code = error.refusal === 'not-found' ? 'API_ERR_NOT_FOUND' : 'API_ERR_CONFLICT';
    throw new ApiError(code, error.message);
  }
}

/** The daemon as the control API sees it: `run`'s phase and the orchestrator's figures. */
function controlOf(
  ingestor: Orchestrator,
  phase: () => DaemonPhase,
  startedAt: number,
): DaemonControl {
  const o = ingestor.options;
  return {
    phase,
    pausedReason: () => ingestor.pausedReason,
    queue: () => {
      const g = ingestor.gauges();
      return { queued: g.queueDepth, inflight: g.inflight, pending: g.pending };
    },
    limits: () => ({
      concurrency: ingestor.concurrency,
      batchSize: o.batchSize,
      maxRetries: o.maxRetries,
      stabilitySeconds: o.stabilityMs / 1000,
      scanIntervalSeconds: o.scanIntervalMs / 1000,
      pendingCapacity: o.pendingCapacity,
    }),
    startedAt,
    volumes: [
      { name: 'input', path: o.input },
      { name: 'warehouse', path: o.warehouse },
      { name: 'manifests', path: o.manifests },
      { name: 'state', path: path.dirname(o.statePath) },
    ],
    state: ingestor.state,
    events: ingestor.events,
    operatorPause: () => ingestor.controls.operatorPause,
    replayAfter: (cursor, limit, until) => replayPage(ingestor.state, cursor, limit, until),
    eventsCursor: () => ingestor.state.eventsCursor(),
    pending: (limit) => ingestor.controls.pendingFiles(limit),
    throughput: (seconds) => ingestor.throughput.window(seconds),
    retry: (id, actor) => refusals(() => ingestor.controls.retry(id, actor)),
    retryMany: (filter, actor) => refusals(() => ingestor.controls.retryMany(filter, actor)),
    cancel: (id, actor) => refusals(() => ingestor.controls.cancel(id, actor)),
    hold: (id, actor) => refusals(() => ingestor.controls.hold(id, actor)),
    release: (id, actor) => refusals(() => ingestor.controls.release(id, actor)),
    pause: (actor) => refusals(() => ingestor.controls.pause(actor)),
    resume: (actor) => refusals(() => ingestor.controls.resume(actor)),
    setConcurrency: (concurrency, actor) => ingestor.controls.setConcurrency(concurrency, actor),
  };
}

/** How a URL names a host: an IPv6 address in brackets. */
function urlHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/**
 * Starts the control API for a daemon whose state is open, and logs the one line that says
 * where (with the port the system chose for `--api-port 0`). Throws what listening threw.
 */
export async function startControlApi(
  api: ApiOptions,
  ingestor: Orchestrator,
  phase: () => DaemonPhase,
  logger: Logger,
  startedAt: number,
): Promise<ApiServer> {
  // Loaded only when the API is on: Fastify and its TLS setup cost about 18 MB of memory.
  const { startApiServer } = await import('../api/server.js');
  const server = await startApiServer({
    api,
    control: controlOf(ingestor, phase, startedAt),
    logger,
  });
  logger.info(
    {
      event: 'api-listening',
      host: api.host,
      port: server.port,
      certValidTo: new Date(api.tls.certValidTo).toISOString(),
      roles: api.roles === undefined ? 'from OU' : 'from --api-roles, then OU',
    },
    `control API on https://${urlHost(api.host)}:${server.port}/v1/ (mutual TLS)`,
  );
  return server;
}
