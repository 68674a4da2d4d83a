import { endpointLabelOf } from '../webhooks/endpoints.js';
import { LiveLimits } from '../ingest/live-limits.js';
import type { DaemonControl, DaemonPhase } from '../api/control.js';
import { followPage, replayPage, rowEventData } from '../api/durable-events.js';
import type { ApiServer } from '../api/server.js';
import type { Logger } from '../ops/logger.js';
import type { ApiOptions } from '../options/types.js';
import { ApiError } from '../api/errors.js';
import { ControlRefusal } from '../orchestrator/operator-controls.js';
import type { Opening, Orchestrator } from '../orchestrator/orchestrator.js';
import { Throughput } from '../orchestrator/throughput.js';
import { systemClock } from '../clock.js';
import { daemonVolumes } from '../ops/volumes.js';
import { IngestorEvents } from '../events.js';
import type { ResolvedOptions } from '../options.js';

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

/** The refusal of an action asked while the daemon recovers (it has no controls yet). */
function recovering(): never {
  throw new ApiError(
    'API_ERR_CONFLICT',
    'the daemon is recovering what its last run left in flight; try again once GET /v1/status says running',
  );
}

/**
 * The daemon as the control API sees it: `run`'s phase and the orchestrator's figures. The API
 * starts once the state is open, before recovery: until `daemon()` gives the orchestrator, it
 * reads the state, shows nothing queued, and refuses actions with a 409.
 */
function controlOf(
  opening: Opening,
  options: ResolvedOptions,
  daemon: () => Orchestrator | undefined,
  phase: () => DaemonPhase,
  startedAt: number,
  logger: Logger,
): DaemonControl {
  const o = options;
  const { state } = opening;
  const idle = new Throughput(systemClock, new IngestorEvents());
  const controls = () => daemon()?.controls ?? recovering();
  return {
    phase,
    pausedReason: () => daemon()?.pausedReason,
    queue: () => {
      const d = daemon();
      const g = d?.gauges();
      const waiting = d?.controls.waitingCounts() ?? { held: 0, backoff: 0 };
      return {
        queued: g?.queueDepth ?? 0,
        inflight: g?.inflight ?? 0,
        pending: g?.pending ?? 0,
        ...waiting,
      };
    },
    limits: () => ({
      concurrency: daemon()?.concurrency ?? o.concurrency,
      batchSize: o.batchSize,
      maxRetries: o.maxRetries,
      stabilitySeconds: o.stabilityMs / 1000,
      scanIntervalSeconds: o.scanIntervalMs / 1000,
      pendingCapacity: o.pendingCapacity,
      ...(daemon()?.limits ?? new LiveLimits(o)).view(),
    }),
    startedAt,
    volumes: daemonVolumes(o),
    state,
    events: opening.events,
    operatorPause: () => daemon()?.controls.operatorPause,
    replayAfter: (cursor, limit, until) => replayPage(state, cursor, limit, until),
    followAfter: (cursor, limit) => followPage(state, cursor, limit),
    fileEventData: async (id) => {
      const row = await state.getRow(id);
      return row === undefined ? undefined : rowEventData(state, row);
    },
    eventsCursor: () => state.eventsCursor(),
    pending: (limit) => daemon()?.controls.pendingFiles(limit) ?? { files: [], total: 0 },
    throughput: (seconds) => (daemon()?.throughput ?? idle).window(seconds),
    series: () => (daemon()?.throughput ?? idle).series(),
    inFlight: (limit) => daemon()?.controls.inFlightFiles(limit) ?? { files: [], total: 0 },
    retry: (id, actor) => refusals(() => controls().retry(id, actor)),
    retryMany: (filter, actor) => refusals(() => controls().retryMany(filter, actor)),
    cancel: (id, actor) => refusals(() => controls().cancel(id, actor)),
    hold: (id, actor) => refusals(() => controls().hold(id, actor)),
    release: (id, actor) => refusals(() => controls().release(id, actor)),
    pause: (actor) => refusals(() => controls().pause(actor)),
    resume: (actor) => refusals(() => controls().resume(actor)),
    setLimits: (changes, actor) => controls().setLimits(changes, actor),
    deliveries: (filter) => state.deliveries(filter),
    redeliver: async (id, actor) => {
      const [found] = await state.deliveries({ id, limit: 1 });
      if (found === undefined) return undefined;
      if (!o.webhooks.some((e) => e.url === found.endpoint)) {
        throw new ApiError(
          'API_ERR_CONFLICT',
          `webhook delivery ${id} is for ${endpointLabelOf(found.endpoint)}, which this daemon is not given (--webhook): it cannot be sent`,
        );
      }
      const delivery = await state.redeliver(id, Date.now());
      if (delivery !== undefined) {
        logger.info(
          { event: 'webhook-redeliver', actor, id, webhookId: delivery.msgId, type: delivery.type },
          `webhook delivery ${id} (${delivery.type}) sent again by ${actor}`,
        );
        daemon()?.webhooks.written();
      }
      return delivery;
    },
    endpointLabel: (url) => o.webhooks.find((e) => e.url === url)?.label ?? endpointLabelOf(url),
  };
}

/** How a URL names a host: an IPv6 address in brackets. */
function urlHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/**
 * Starts the control API for a daemon whose state is open (recovery may be under way), and logs the one line that says
 * where (with the port the system chose for `--api-port 0`). Throws what listening threw.
 */
export async function startControlApi(
  api: ApiOptions,
  opening: Opening,
  options: ResolvedOptions,
  daemon: () => Orchestrator | undefined,
  phase: () => DaemonPhase,
  logger: Logger,
  startedAt: number,
): Promise<ApiServer> {
  // Loaded only when the API is on: Fastify and its TLS setup cost about 18 MB of memory.
  const { startApiServer } = await import('../api/server.js');
  const server = await startApiServer({
    api,
    control: controlOf(opening, options, daemon, phase, startedAt, logger),
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
    `control API on https://${urlHost(api.host)}:${server.port}/v1/, dashboard on https://${urlHost(api.host)}:${server.port}/ (mutual TLS)`,
  );
  return server;
}
