import type { FastifyInstance } from 'fastify';
import type { DaemonControl } from '../control.js';
import type { LimitChanges } from '../../ingest/live-limits.js';
import { parseByteSize, parseSpaceFloor } from '../../options/bytes.js';
import { FlagValueError, MAX_TIMER_SECONDS } from '../../options/values.js';
import { badParameter } from '../errors.js';
import { actorOf } from './actions.js';
import { NO_BODY, NO_QUERY, noBody } from './ids.js';

/** The most files an operator may have read at once (p-limit takes any; the hashing threads
 * and descriptors do not). */
export const MAX_CONCURRENCY = 256;

const SIZE = {
  type: ['integer', 'string', 'null'],
  description:
    'a size in bytes: a positive integer, a string with a unit ("50MiB"), or null for none',
} as const;

const LIMITS_BODY = {
  type: 'object',
  additionalProperties: false,
  properties: {
    concurrency: {
      type: 'integer',
      minimum: 1,
      maximum: MAX_CONCURRENCY,
      description: `an integer from 1 to ${MAX_CONCURRENCY}`,
    },
    maxBytesPerSecond: SIZE,
    minFreeSpace: {
      type: ['integer', 'string', 'null'],
      description:
        'a size in bytes (a positive integer, or "500MiB"), a percentage of each volume ("10%"), or null for none',
    },
    maxFileSize: SIZE,
    readStallTimeout: {
      type: 'number',
      minimum: 1,
      maximum: MAX_TIMER_SECONDS,
      description: `seconds, a number from 1 to ${MAX_TIMER_SECONDS}`,
    },
  },
} as const;

interface LimitsBody {
  concurrency?: number;
  maxBytesPerSecond?: number | string | null;
  minFreeSpace?: number | string | null;
  maxFileSize?: number | string | null;
  readStallTimeout?: number;
}

/** A value the schema let through, parsed as its flag's would be; a bad one names the field. */
function parsed<T>(
  field: string,
  value: unknown,
  parse: (flag: string, v: unknown) => T,
): T | null {
  if (value === null) return null;
  try {
    return parse(field, value);
  } catch (error) {
    if (error instanceof FlagValueError) throw badParameter(field, error.problem);
    throw error;
  }
}

/** The changes a `PUT /v1/limits` body asks for, checked; at least one. */
function limitChanges(body: LimitsBody): LimitChanges & { concurrency?: number } {
  const fields = Object.keys(LIMITS_BODY.properties);
  if (Object.keys(body).length === 0) {
    throw badParameter('the body', `must set at least one of ${fields.join(', ')}`);
  }
  return {
    ...(body.concurrency === undefined ? {} : { concurrency: body.concurrency }),
    ...(body.maxBytesPerSecond === undefined
      ? {}
      : { maxBytesPerSecond: parsed('maxBytesPerSecond', body.maxBytesPerSecond, parseByteSize) }),
    ...(body.minFreeSpace === undefined
      ? {}
      : { minFreeSpace: parsed('minFreeSpace', body.minFreeSpace, parseSpaceFloor) }),
    ...(body.maxFileSize === undefined
      ? {}
      : { maxFileSize: parsed('maxFileSize', body.maxFileSize, parseByteSize) }),
    ...(body.readStallTimeout === undefined
      ? {}
      : { readStallMs: Math.round(body.readStallTimeout * 1000) }),
  };
}

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

  app.put<{ Body: LimitsBody }>(
    '/v1/limits',
    { schema: { body: LIMITS_BODY, ...noQuery }, config: admin },
    async (request) => {
      control.setLimits(limitChanges(request.body), actorOf(request));
      return { limits: control.limits() };
    },
  );
}
