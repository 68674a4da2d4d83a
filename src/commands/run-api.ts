import path from 'node:path';
import type { DaemonControl, DaemonPhase } from '../api/control.js';
import type { ApiServer } from '../api/server.js';
import type { Logger } from '../ops/logger.js';
import type { ApiOptions } from '../options/types.js';
import type { Orchestrator } from '../orchestrator/orchestrator.js';

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
      concurrency: o.concurrency,
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
