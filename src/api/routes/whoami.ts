import type { FastifyInstance } from 'fastify';
import { callerOf } from '../access.js';
import { NO_QUERY } from './ids.js';

/**
 * `GET /v1/whoami`: the caller's certificate subject and role, and whether it may act (the
 * admin role): what a page shows of its user, and which buttons it offers. The server checks
 * every call anyway. A certificate with no role gets the 403 every route gives it.
 */
export function whoamiRoutes(app: FastifyInstance): void {
  app.get('/v1/whoami', { schema: { querystring: NO_QUERY } }, async (request) => {
    const caller = callerOf(request)!;
    return { subject: caller.subject, role: caller.role, mayAct: caller.role === 'admin' };
  });
}
