import type { FastifyInstance } from 'fastify';
import { callerOf } from '../access.js';
import { badParameter } from '../errors.js';
import { parseEventId } from '../event-ring.js';
import type { EventId } from '../event-ring.js';
import type { EventHub } from '../event-stream.js';
import type { StreamFilter } from '../stream-client.js';
import { STREAM_TYPES } from '../stream-events.js';

/** The query of `GET /v1/events`, as its schema lets it through. */
interface EventsQuery {
  types?: string;
  file?: string;
  lastEventId?: string;
}

const EVENTS_QUERY = {
  type: 'object',
  additionalProperties: false,
  properties: {
    types: {
      type: 'string',
      minLength: 1,
      maxLength: 1024,
      description: 'a comma-separated list of event types',
    },
    file: {
      type: 'string',
      minLength: 1,
      maxLength: 1024,
      description: 'a row id or a part of the source path, 1 to 1024 characters',
    },
    lastEventId: {
      type: 'string',
      maxLength: 128,
      description: 'the id of the last event received, as Last-Event-ID (which wins)',
    },
  },
} as const;

/** `?types=a,b`: each must be a type the stream sends; an unknown one is named in the 400. */
function parseTypes(text: string | undefined): ReadonlySet<string> | undefined {
  if (text === undefined) return undefined;
  const types = text.split(',').map((t) => t.trim());
  for (const type of types) {
    if (!(STREAM_TYPES as readonly string[]).includes(type)) {
      throw badParameter(
        'types',
        `has ${JSON.stringify(type)}, which is not an event type (they are ${STREAM_TYPES.join(', ')})`,
      );
    }
  }
  return new Set(types);
}

const NOT_AN_ID =
  'is not an id this stream sends (<start>-<seq>.<cursor>, or a cursor); send the id of the last event received, or none';

/** `Last-Event-ID`: absent or empty (from the start), or an id this stream sent. */
function parseLastEventId(header: string | string[] | undefined): EventId | undefined {
  const text = typeof header === 'string' ? header.trim() : '';
  if (text === '') return undefined;
  const id = text.length <= 128 ? parseEventId(text) : undefined;
  if (id === undefined) {
    throw badParameter('Last-Event-ID', NOT_AN_ID);
  }
  return id;
}

/**
 * `GET /v1/events`: Server-Sent Events (see event-stream.ts), for the user and the admin role.
 * The reply is taken over from Fastify: the stream is written by the hub, never awaited by it.
 */
export function eventRoutes(app: FastifyInstance, hub: EventHub): void {
  app.get<{ Querystring: EventsQuery }>(
    '/v1/events',
    { schema: { querystring: EVENTS_QUERY } },
    async (request, reply) => {
      const filter: StreamFilter = {
        types: parseTypes(request.query.types),
        file: request.query.file,
      };
      // The header, which a browser's EventSource sends when it reconnects by itself; the query
      // for a page that opens a new EventSource (it cannot set headers).
      const header = request.headers['last-event-id'];
      const lastEventId = parseLastEventId(
        typeof header === 'string' && header.trim() !== '' ? header : request.query.lastEventId,
      );
      if (lastEventId?.cursor !== undefined && !(await hub.knows(lastEventId.cursor))) {
        throw badParameter('Last-Event-ID', NOT_AN_ID);
      }
      const subject = callerOf(request)?.subject ?? 'unknown';
      request.log.debug({ event: 'api-stream', subject, ...request.query }, 'event stream opened');
      reply.hijack();
      await hub.attach(reply.raw, filter, subject, lastEventId);
    },
  );
}
