import type { IncomingMessage } from 'node:http';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { callerOf } from './access.js';

/** The path of a request as messages show it: without the query, cut short. */
export function pathOf(raw: IncomingMessage): string {
  const url = (raw.url ?? '/').split('?')[0]!;
  return url.length > 120 ? `${url.slice(0, 117)}...` : url;
}

/** Methods that only read: logged at debug. Every other call is logged at info. */
const READS = ['GET', 'HEAD', 'OPTIONS'];

/**
 * One line per answered call, with the certificate's subject and role: at info for a call
 * that changes something (or tried to: refusals too), at debug for reads.
 */
export function logCalls(app: FastifyInstance, log: FastifyBaseLogger): void {
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
    if (READS.includes(request.method)) log.debug(line, message);
    else log.info(line, message);
  });
}
