import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { FastifyBaseLogger, FastifyInstance, FastifyRequest } from 'fastify';
import { errnoCode } from '../errors.js';
import { pathOf } from './call-log.js';
import { bodyTooLarge } from './errors.js';
import { API_LIMITS } from './limits.js';

/** A request with a body that nothing read (a route that takes none, an error before it). */
function hasUnreadBody(request: FastifyRequest): boolean {
  const { headers } = request;
  const declared =
    headers['transfer-encoding'] !== undefined || Number(headers['content-length'] ?? 0) > 0;
  return declared && request.body === undefined;
}

/**
 * What a connection may cost before a route runs: a body over the limit refused from its
 * length (before it is sent, for a client that asks first), a body nobody read not read on to
 * its end, and refused TLS handshakes logged with their reason.
 */
export function guardConnections(app: FastifyInstance, log: FastifyBaseLogger): void {
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
  app.addHook('onRequest', async (request) => {
    if (Number(request.headers['content-length'] ?? 0) > API_LIMITS.bodyBytes) throw bodyTooLarge();
  });
  app.addHook('onSend', async (request, reply, payload) => {
    // Node.js would read a body nobody read to its end, to keep the connection: close it.
    if (hasUnreadBody(request)) void reply.header('connection', 'close');
    return payload;
  });
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
}
