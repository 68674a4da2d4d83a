import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import Fastify, { LogController } from 'fastify';
import type { FastifyBaseLogger, FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { describeError, errnoCode } from '../errors.js';
import type { Logger } from '../ops/logger.js';
import type { ApiOptions } from '../options/types.js';
import { callerOf, checkAccess } from './access.js';
import { answerClientError } from './client-errors.js';
import type { DaemonControl } from './control.js';
import { ApiError } from './errors.js';
import { API_LIMITS } from './limits.js';
import { ResourceMonitor } from './resources.js';
import { fileRoutes } from './routes/files.js';
import { statusRoutes } from './routes/status.js';
import { serverTlsOptions } from './tls.js';
import { describeValidation } from './validation.js';

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

/** Fastify's errors that a client caused, by code: what they are in the API's catalogue. */
const CLIENT_ERRORS = {
  __proto__: null,
  FST_ERR_CTP_BODY_TOO_LARGE: () => bodyTooLarge(),
  FST_ERR_CTP_INVALID_MEDIA_TYPE: (e: FastifyError) =>
    new ApiError('API_ERR_UNSUPPORTED_MEDIA_TYPE', `${e.message}: send application/json`),
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: () =>
    new ApiError('API_ERR_BAD_PARAMETER', 'the body is not as long as its Content-Length says'),
  FST_ERR_CTP_EMPTY_JSON_BODY: () =>
    new ApiError('API_ERR_BAD_PARAMETER', 'the body is empty: send a JSON object'),
  FST_ERR_CTP_INVALID_JSON_BODY: () =>
    new ApiError('API_ERR_BAD_PARAMETER', 'the body is not valid JSON'),
  FST_ERR_BAD_URL: () => new ApiError('API_ERR_BAD_PARAMETER', 'the URL is not valid'),
  FST_ERR_MAX_PARAM_LENGTH: () =>
    new ApiError(
      'API_ERR_BAD_PARAMETER',
      `a path parameter is longer than ${API_LIMITS.maxParamLength} characters`,
    ),
  FST_ERR_HANDLER_TIMEOUT: () =>
    new ApiError('API_ERR_UNAVAILABLE', 'the daemon took too long to answer; try again'),
} as unknown as Readonly<Record<string, (e: FastifyError) => ApiError>>;

function bodyTooLarge(): ApiError {
  return new ApiError(
    'API_ERR_BODY_TOO_LARGE',
    `the body is larger than ${API_LIMITS.bodyBytes} bytes, the most this API takes`,
  );
}

/** What any error thrown while answering is, in the API's catalogue. */
function asApiError(error: FastifyError | Error): ApiError {
  if (error instanceof ApiError) return error;
  const fastifyError = error as Partial<FastifyError>;
  if (fastifyError.validation !== undefined) {
    return new ApiError(
      'API_ERR_BAD_PARAMETER',
      describeValidation(fastifyError.validation, fastifyError.validationContext ?? 'body'),
    );
  }
  const known = fastifyError.code === undefined ? undefined : CLIENT_ERRORS[fastifyError.code];
  if (known !== undefined) return known(error as FastifyError);
  // The state thread stopped, or the state cannot be read now: the daemon pauses and recovers.
  if (errnoCode(error) === 'INGEST_ERR_STATE') {
    return new ApiError('API_ERR_UNAVAILABLE', `the state cannot be read now: ${error.message}`);
  }
  return new ApiError('API_ERR_INTERNAL', 'the daemon failed to answer; its log says why', {
    cause: error,
  });
}

/** A request with a body that nothing read (a route that takes none, an error before it). */
function hasUnreadBody(request: FastifyRequest): boolean {
  const { headers } = request;
  const declared =
    headers['transfer-encoding'] !== undefined || Number(headers['content-length'] ?? 0) > 0;
  return declared && request.body === undefined;
}

function send(reply: FastifyReply, error: ApiError): FastifyReply {
  return reply.code(error.statusCode).send(error.toJSON());
}

/** The path of a request as messages show it: without the query, cut short. */
function pathOf(raw: IncomingMessage): string {
  const url = (raw.url ?? '/').split('?')[0]!;
  return url.length > 120 ? `${url.slice(0, 117)}...` : url;
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
    // value and the schema, for messages that say what was expected.
    ajv: { customOptions: { removeAdditional: false, verbose: true, allErrors: false } },
    frameworkErrors: (error, request, reply) => replyError(error, request, reply),
    clientErrorHandler: answerClientError,
  });
  app.server.maxConnections = API_LIMITS.maxConnections;
  // A client that asks before it sends a body (`Expect: 100-continue`, as curl does for large
  // ones) is told 413 before it sends a byte. One that sends at once is answered 413 from its
  // Content-Length, and the connection closed: it may see the reset before the answer.
  app.server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    if (Number(req.headers['content-length'] ?? 0) <= API_LIMITS.bodyBytes) {
      res.writeContinue();
      app.server.emit('request', req, res);
      return;
    }
    const body = JSON.stringify(bodyTooLarge().toJSON());
    res.writeHead(413, { 'content-type': 'application/json', connection: 'close' }).end(body);
    log.debug(
      { event: 'api-refused-body', path: pathOf(req) },
      'api: a body too large refused before it was sent',
    );
  });
  app.server.headersTimeout = API_LIMITS.headersTimeoutMs;
  app.server.on('tlsClientError', (error: Error, socket: TLSSocket) => {
    // A certificate the CA did not sign, expired or revoked passes OpenSSL's own handshake and
    // is refused by Node.js right after it, before any HTTP: the socket is closed without an
    // alert (the client sees a reset), and only the socket knows why.
    const refused = (socket as { authorizationError?: unknown }).authorizationError;
    const reason = typeof refused === 'string' ? refused : (errnoCode(error) ?? error.message);
    // Debug: a client retrying with an expired certificate would fill the log at info.
    log.debug(
      { event: 'api-refused', reason, err: error.message.trim(), remote: socket.remoteAddress },
      `api: TLS handshake refused (${reason})`,
    );
  });

  checkAccess(app, api.roles);
  app.addHook('onRequest', async (request) => {
    // Refused from its header, before a byte of it is read.
    if (Number(request.headers['content-length'] ?? 0) > API_LIMITS.bodyBytes) throw bodyTooLarge();
  });
  app.addHook('onSend', async (request, reply, payload) => {
    // Node.js would read a body nobody read to its end, to keep the connection: close it.
    if (hasUnreadBody(request)) void reply.header('connection', 'close');
    return payload;
  });
  app.addHook('onResponse', async (request, reply) => {
    const caller = callerOf(request);
    const line = {
      event: 'api-call',
      method: request.method,
      path: pathOf(request.raw),
      status: reply.statusCode,
      ms: Math.round(reply.elapsedTime),
      subject: caller?.subject,
      role: caller?.role ?? null,
    };
    const message = `api: ${line.method} ${line.path} ${line.status} by ${line.subject ?? 'unknown'}`;
    if (['GET', 'HEAD', 'OPTIONS'].includes(request.method)) log.debug(line, message);
    else log.info(line, message);
  });
  const replyError = (error: Error, request: FastifyRequest, reply: FastifyReply) => {
    const apiError = asApiError(error);
    if (apiError.code === 'API_ERR_INTERNAL' || apiError.code === 'API_ERR_UNAVAILABLE') {
      log.error(
        { event: 'api-error', path: pathOf(request.raw), err: describeError(error) },
        'api: a request failed',
      );
    }
    return send(reply, apiError);
  };
  app.setErrorHandler(replyError);
  app.setNotFoundHandler((request, reply) =>
    send(
      reply,
      new ApiError('API_ERR_NOT_FOUND', `no route ${request.method} ${pathOf(request.raw)}`),
    ),
  );

  const monitor = new ResourceMonitor();
  statusRoutes(app, control, monitor);
  fileRoutes(app, control.state);

  await app.listen({ host: api.host, port: api.port });
  monitor.start();
  const { port } = app.server.address() as AddressInfo;
  return {
    port,
    close: async () => {
      monitor.stop();
      await app.close();
    },
  };
}
