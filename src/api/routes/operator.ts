import type { FastifyInstance } from 'fastify';
import type { DaemonControl } from '../control.js';
import { actorOf } from './actions.js';
import { NO_BODY, NO_QUERY, noBody } from './ids.js';

/** The most files an operator may have read at once (p-limit takes any; the hashing threads
 * and descriptors do not). */
export const MAX_CONCURRENCY = 256;

const LIMITS_BODY = {
  type: 'object',
  additionalProperties: false,
  required: ['concurrency'],
  properties: {
    concurrency: {
      type: 'integer',
      minimum: 1,
      maximum: MAX_CONCURRENCY,
      description: `an integer from 1 to ${MAX_CONCURRENCY}`,
    },
  },
} as const;

/** The operator's pause and the run-time limits (admin only). */
export function operatorRoutes(app: FastifyInstance, control: DaemonControl): void {
  const admin = { role: 'admin' as const };
  const noQuery = { querystring: NO_QUERY };
  const nothing = { querystring: NO_QUERY, body: NO_BODY };

  app.post(
    '/v1/pause',
    { schema: nothing, preValidation: noBody, config: admin },
    async (request) => {
      const pause = await control.pause(actorOf(request));
      return { paused: { by: pause.by, since: new Date(pause.since).toISOString() } };
    },
  );

  app.post(
    '/v1/resume',
    { schema: nothing, preValidation: noBody, config: admin },
    async (request) => {
      await control.resume(actorOf(request));
      return { resumed: true };
    },
  );

  app.put<{ Body: { concurrency: number } }>(
    '/v1/limits',
    { schema: { body: LIMITS_BODY, ...noQuery }, config: admin },
    async (request) => {
      control.setConcurrency(request.body.concurrency, actorOf(request));
      return { limits: control.limits() };
    },
  );
}
