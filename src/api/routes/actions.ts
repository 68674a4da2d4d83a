import type { FastifyInstance, FastifyRequest } from 'fastify';
import { displayPath } from '../../paths.js';
import { pendingId } from '../../pending-id.js';
import { FlagValueError, parseSince } from '../../options/values.js';
import { callerOf } from '../access.js';
import type { DaemonControl, HoldView, RetryFilterView } from '../control.js';
import { badParameter } from '../errors.js';
import { ACTION_ID, NO_BODY, NO_QUERY, noBody } from './ids.js';

/** Who asked, as the journal and the log record it: the certificate's subject. */
export function actorOf(request: FastifyRequest): string {
  return callerOf(request)?.subject ?? '(unknown)';
}

const iso = (ms: number) => new Date(ms).toISOString();

function holdView(hold: HoldView) {
  return {
    id: pendingId(hold.source),
    source: displayPath(hold.source),
    reason: hold.reason,
    by: hold.actor,
    at: iso(hold.at),
  };
}

interface RetryBody {
  status?: 'quarantined' | 'failed';
  q?: string;
  since?: string;
}

const RETRY_BODY = {
  type: 'object',
  additionalProperties: false,
  properties: {
    status: {
      type: 'string',
      enum: ['quarantined', 'failed'],
      description: 'quarantined or failed',
    },
    q: {
      type: 'string',
      minLength: 1,
      maxLength: 1024,
      description: 'a part of the source path, 1 to 1024 characters',
    },
    since: {
      type: 'string',
      minLength: 1,
      maxLength: 64,
      description: 'an ISO date/time or an age like 15m, 2h, 7d',
    },
  },
} as const;

function retryFilter(body: RetryBody): RetryFilterView {
  const filter: RetryFilterView = {};
  if (body.status !== undefined) filter.status = body.status;
  if (body.q !== undefined) filter.q = body.q;
  if (body.since !== undefined) {
    try {
      filter.since = parseSince(body.since);
    } catch (error) {
      if (!(error instanceof FlagValueError)) throw error;
      throw badParameter('since', error.problem);
    }
  }
  return filter;
}

type IdRequest = { Params: { id: string }; Querystring: Record<string, never> };

/**
 * The actions on one file (admin only): retry a quarantined or failed file, cancel one being
 * read or copied (it is held), hold one that waits, release a held one; and the bulk retry.
 * Each is logged and journaled with the certificate's subject by the daemon.
 */
export function actionRoutes(app: FastifyInstance, control: DaemonControl): void {
  const admin = { role: 'admin' as const };
  const byId = { params: ACTION_ID, querystring: NO_QUERY, body: NO_BODY };
  const one = { schema: byId, preValidation: noBody, config: admin };

  app.post<IdRequest>('/v1/files/:id/retry', one, async (request) => ({
    retried: await control.retry(request.params.id, actorOf(request)),
  }));

  app.post<IdRequest>('/v1/files/:id/cancel', one, async (request) => ({
    held: holdView(await control.cancel(request.params.id, actorOf(request))),
  }));

  app.post<IdRequest>('/v1/files/:id/hold', one, async (request) => ({
    held: holdView(await control.hold(request.params.id, actorOf(request))),
  }));

  app.post<IdRequest>('/v1/files/:id/release', one, async (request) => ({
    released: holdView(await control.release(request.params.id, actorOf(request))),
  }));

  app.post<{ Body: RetryBody; Querystring: Record<string, never> }>(
    '/v1/retry',
    { schema: { body: RETRY_BODY, querystring: NO_QUERY }, config: admin },
    async (request) => {
      // No body: a JSON object is required all the same ({} retries every file that may be).
      if (request.body === undefined || request.body === null) {
        throw badParameter('the body', 'must be a JSON object (a filter: status, q, since)');
      }
      return control.retryMany(retryFilter(request.body), actorOf(request));
    },
  );
}
