import type { FastifyInstance } from 'fastify';
import type { Delivery } from '../../state/store.js';
import type { DaemonControl } from '../control.js';
import { ApiError } from '../errors.js';
import { actorOf } from './actions.js';
import { NO_BODY, ROW_ID_PATTERN, noBody, rowIdParam } from './ids.js';

const DEFAULT_LIMIT = 50;

const LIST_QUERY = {
  type: 'object',
  additionalProperties: false,
  properties: {
    status: {
      type: 'string',
      enum: ['pending', 'delivered', 'gave-up'],
      description: 'one of pending, delivered, gave-up',
    },
    type: { type: 'string', maxLength: 64, description: 'an event type (file.quarantined, ...)' },
    limit: {
      type: 'string',
      pattern: '^(?:[1-9][0-9]{0,2}|1000)$',
      description: 'an integer from 1 to 1000',
    },
    before: {
      type: 'string',
      pattern: ROW_ID_PATTERN,
      description: 'a delivery id (a positive integer): the page before it',
    },
  },
} as const;

const DELIVERY_ID = rowIdParam('a delivery id (a positive integer)');

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** A delivery as the API shows it: its endpoint without query or credentials, times in ISO. */
function view(control: DaemonControl, d: Delivery): Record<string, unknown> {
  return {
    id: d.id,
    webhookId: d.msgId,
    type: d.type,
    endpoint: control.endpointLabel(d.endpoint),
    status: d.status,
    attempts: d.attempts,
    createdAt: iso(d.createdAt),
    nextAt: iso(d.nextAt),
    deliveredAt: iso(d.deliveredAt),
    lastStatus: d.lastStatus,
    lastError: d.lastError,
  };
}

/** `GET /v1/webhooks` (the outbox, newest first) and `POST /v1/webhooks/:id/redeliver` (admin). */
export function webhookRoutes(app: FastifyInstance, control: DaemonControl): void {
  app.get<{
    Querystring: {
      status?: 'pending' | 'delivered' | 'gave-up';
      type?: string;
      limit?: string;
      before?: string;
    };
  }>('/v1/webhooks', { schema: { querystring: LIST_QUERY } }, async (request) => {
    const { status, type, limit, before } = request.query;
    const n = limit === undefined ? DEFAULT_LIMIT : Number(limit);
    const page = await control.deliveries({
      ...(status === undefined ? {} : { status }),
      ...(type === undefined ? {} : { type }),
      ...(before === undefined ? {} : { idBelow: Number(before) }),
      limit: n + 1,
    });
    const deliveries = page.slice(0, n);
    return {
      deliveries: deliveries.map((d) => view(control, d)),
      next: page.length > n ? String(deliveries.at(-1)!.id) : null,
    };
  });

  app.post<{ Params: { id: string } }>(
    '/v1/webhooks/:id/redeliver',
    {
      schema: { params: DELIVERY_ID, body: NO_BODY },
      preValidation: noBody,
      config: { role: 'admin' },
    },
    async (request) => {
      const delivery = await control.redeliver(Number(request.params.id), actorOf(request));
      if (delivery === undefined) {
        throw new ApiError('API_ERR_NOT_FOUND', `no webhook delivery ${request.params.id}`);
      }
      return { delivery: view(control, delivery) };
    },
  );
}
