import type { AddressInfo } from 'node:net';
import Fastify, { LogController } from 'fastify';
import type { FastifyBaseLogger } from 'fastify';
import type { Logger } from '../ops/logger.js';
import type { ApiOptions } from '../options/types.js';
import { checkAccess } from './access.js';
import { dashboardRoutes, refuseCrossSite } from './dashboard.js';
import { logCalls, pathOf } from './call-log.js';
import { answerClientError } from './client-errors.js';
import { guardConnections } from './guards.js';
import type { DaemonControl } from './control.js';
import { errorReplies, send } from './error-replies.js';
import { ApiError } from './errors.js';
import { API_LIMITS } from './limits.js';
import { routeMethods } from './methods.js';
import { ResourceMonitor } from './resources.js';
import { actionRoutes } from './routes/actions.js';
import { fileRoutes } from './routes/files.js';
import { manifestLineRoutes } from './routes/manifest-line.js';
import { historyRoutes } from './routes/history.js';
import { operatorRoutes } from './routes/operator.js';
import { webhookRoutes } from './routes/webhooks.js';
import { pendingRoutes } from './routes/pending.js';
import { statsRoutes } from './routes/stats.js';
import { whoamiRoutes } from './routes/whoami.js';
import { statusRoutes } from './routes/status.js';
import { eventRoutes } from './routes/events.js';
import { EventHub } from './event-stream.js';
import { ProgressBoard, liveFigures } from './live-figures.js';
import { serverTlsOptions } from './tls.js';

export interface ApiServerOptions {
  readonly api: ApiOptions;
  readonly control: DaemonControl;
  readonly logger: Logger;
}

export interface ApiServer {
  /** The port it listens on (the one the system chose for `--api-port 0`). */
  readonly port: number;
  /** Stops listening and closes every connection. */
  close(): Promise<void>;
}

/**
 * The control API: HTTPS with mutual TLS (see tls.ts), roles from client certificates
 * (access.ts), JSON errors from one catalogue (errors.ts), and the routes under routes/. Every
 * call that changes something is logged at info with the certificate's subject; reads at debug.
 */
export async function startApiServer(options: ApiServerOptions): Promise<ApiServer> {
  const { api, control } = options;
  // Fastify's own type for the daemon's pino logger (one pino, two declarations of it).
  const log: FastifyBaseLogger = options.logger.child({ component: 'api' });
  const replyError = errorReplies(log);
  const app = Fastify({
    https: serverTlsOptions(api.tls),
    loggerInstance: log,
    // Fastify's own lines per request would be info lines for every read: ours are below.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: API_LIMITS.bodyBytes,
    routerOptions: { maxParamLength: API_LIMITS.maxParamLength },
    connectionTimeout: API_LIMITS.connectionTimeoutMs,
    keepAliveTimeout: API_LIMITS.keepAliveTimeoutMs,
    requestTimeout: API_LIMITS.requestTimeoutMs,
    maxRequestsPerSocket: API_LIMITS.maxRequestsPerSocket,
    // A stop must not wait for a client that keeps its connection open.
    forceCloseConnections: true,
    return503OnClosing: true,
    // Unknown fields are refused (a 400 naming them), not quietly dropped; errors carry the
    // value and the schema, for messages that say what was expected. No type coercion: a
    // body's values are JSON and taken as typed ("16", "0x10", true are not numbers), and
    // query and path parameters are strings whose schemas take plain decimals by a pattern
    // (routes/files.ts), which the routes turn into numbers. All errors, so that a reply can
    // name an unknown field before a missing one (validation.ts); bodies are small (limits.ts).
    ajv: {
      customOptions: {
        removeAdditional: false,
        verbose: true,
        allErrors: true,
        coerceTypes: false,
        // A size limit is a number of bytes, a string with a unit, or null (routes/operator.ts).
        allowUnionTypes: true,
      },
    },
    frameworkErrors: (error, request, reply) => replyError(error, request, reply),
    clientErrorHandler: answerClientError,
  });
  app.server.maxConnections = API_LIMITS.maxConnections;
  app.server.headersTimeout = API_LIMITS.headersTimeoutMs;

  checkAccess(app, api.roles);
  refuseCrossSite(app);
  guardConnections(app, log);
  logCalls(app, log);
  app.setErrorHandler(replyError);
  // Bodies are JSON or nothing: Fastify's text/plain parser would let a text body through to
  // calls that take none.
  app.removeContentTypeParser('text/plain');
  const methodsOf = routeMethods(app);
  app.setNotFoundHandler((request, reply) => {
    const path = pathOf(request.raw);
    const allowed = methodsOf((request.raw.url ?? '/').split('?')[0]!);
    if (allowed.length > 0) {
      return send(
        reply.header('allow', allowed.join(', ')),
        new ApiError(
          'API_ERR_METHOD_NOT_ALLOWED',
          `${path} takes ${allowed.join(', ')}, not ${request.method}`,
        ),
      );
    }
    return send(reply, new ApiError('API_ERR_NOT_FOUND', `no route ${request.method} ${path}`));
  });

  const monitor = new ResourceMonitor();
  statusRoutes(app, control, monitor);
  fileRoutes(app, control.state);
  manifestLineRoutes(app, control.state);
  // The totals are counted once, here, rather than at the first page (state/tally.ts).
  void control.state.totals().catch(() => undefined);
  const board = new ProgressBoard(control);
  let hub: EventHub;
  try {
    hub = await EventHub.open(control, log, () => liveFigures(control, monitor, board));
  } catch (error) {
    board.close();
    throw error;
  }
  eventRoutes(app, hub);
  historyRoutes(app, control.state);
  pendingRoutes(app, control, board);
  statsRoutes(app, control);
  whoamiRoutes(app);
  actionRoutes(app, control);
  operatorRoutes(app, control);
  webhookRoutes(app, control);
  dashboardRoutes(app);

  try {
    await app.listen({ host: api.host, port: api.port });
  } catch (error) {
    hub.close();
    board.close();
    throw error;
  }
  monitor.start();
  const { port } = app.server.address() as AddressInfo;
  return {
    port,
    close: async () => {
      monitor.stop();
      // Streams end first: a client sees the end of its stream, not a reset.
      hub.close();
      board.close();
      await app.close();
    },
  };
}
