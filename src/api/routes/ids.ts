import type { FastifyRequest } from 'fastify';
import { PENDING_ID_PATTERN } from '../../pending-id.js';

/** A row id as a path parameter: digits, no sign, no leading zero, a safe integer. */
export const ROW_ID_PATTERN = '^[1-9][0-9]{0,14}$';

/**
 * The `:id` of an action: a row id (a file with a row: quarantined, ingested...) or a pending
 * id (`p` + 22 characters: a file pending, in flight, backing off or held; src/pending-id.ts).
 */
export const ACTION_ID = {
  type: 'object',
  additionalProperties: false,
  required: ['id'],
  properties: {
    id: {
      type: 'string',
      pattern: `^(?:${ROW_ID_PATTERN.slice(1, -1)}|${PENDING_ID_PATTERN.slice(1, -1)})$`,
      description: 'a file id (a positive integer) or a pending id (p and 22 characters)',
    },
  },
} as const;

/** An `:id` that is a row id of some table, described for its 400 (`a file id`, ...). */
export function rowIdParam<D extends string>(description: D) {
  return {
    type: 'object',
    additionalProperties: false,
    required: ['id'],
    properties: { id: { type: 'string', pattern: ROW_ID_PATTERN, description } },
  } as const;
}

/** A row id only (`GET /v1/files/:id/history`). */
export const ROW_ID = rowIdParam('a file id (a positive integer)');

/** A call that takes no query: an unknown field is a mistake worth a 400 naming it. */
export const NO_QUERY = { type: 'object', additionalProperties: false, properties: {} } as const;

/** A call that takes no body: none, or `{}` (a field is a 400 naming it); see `noBody`. */
export const NO_BODY = { type: 'object', additionalProperties: false, properties: {} } as const;

/**
 * The `preValidation` of a call that takes `NO_BODY`: a request without a body is read as `{}`
 * (the schema would refuse nothing as not an object).
 */
export async function noBody(request: FastifyRequest): Promise<void> {
  request.body ??= {};
}

/** The query of a list that takes only `limit`: 1 to 1000 (a plain decimal, as elsewhere). */
export const LIMIT_QUERY = {
  type: 'object',
  additionalProperties: false,
  properties: {
    limit: {
      type: 'string',
      pattern: '^(?:[1-9][0-9]{0,2}|1000)$',
      description: 'an integer from 1 to 1000',
    },
  },
} as const;
