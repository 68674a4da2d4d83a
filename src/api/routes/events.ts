import type { FastifyInstance } from 'fastify';
import { callerOf } from '../access.js';
import { badParameter } from '../errors.js';
import type { EventHub, StreamFilter } from '../event-stream.js';
import { STREAM_TYPES } from '../stream-events.js';

/** The query of `GET /v1/events`, as its schema lets it through. */
interface EventsQuery {
  types?: string;
  file?: string;
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

/** A `Last-Event-ID` longer than any id the stream or the state gives is not one of theirs. */
const MAX_EVENT_ID = 128;

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
      const header = request.headers['last-event-id'];
      const lastEventId = typeof header === 'string' ? header.trim() : undefined;
      if (lastEventId !== undefined && lastEventId.length > MAX_EVENT_ID) {
        throw badParameter('Last-Event-ID', `is longer than ${MAX_EVENT_ID} characters`);
      }
      const subject = callerOf(request)?.subject ?? 'unknown';
      request.log.debug({ event: 'api-stream', subject, ...request.query }, 'event stream opened');
      reply.hijack();
      await hub.attach(reply.raw, filter, subject, lastEventId === '' ? undefined : lastEventId);
    },
  );
}
