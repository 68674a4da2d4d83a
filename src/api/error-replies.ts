import type { FastifyBaseLogger, FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { describeError, errnoCode } from '../errors.js';
import { pathOf } from './call-log.js';
import { ApiError, bodyTooLarge } from './errors.js';
import { API_LIMITS } from './limits.js';
import { describeValidation } from './validation.js';

/** Fastify's errors that a client caused, by code: what they are in the API's catalogue. */
const CLIENT_ERRORS = {
  __proto__: null,
  FST_ERR_CTP_BODY_TOO_LARGE: () => bodyTooLarge(),
  FST_ERR_CTP_INVALID_MEDIA_TYPE: (e: FastifyError) =>
    new ApiError('API_ERR_UNSUPPORTED_MEDIA_TYPE', `${e.message}: send application/json`),
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: () =>
    new ApiError('API_ERR_BAD_PARAMETER', 'the body is not as long as its Content-Length says'),
  FST_ERR_CTP_EMPTY_JSON_BODY: () =>
    new ApiError('API_ERR_BAD_PARAMETER', 'the body is empty: send a JSON object'),
  FST_ERR_CTP_INVALID_JSON_BODY: () =>
    new ApiError('API_ERR_BAD_PARAMETER', 'the body is not valid JSON'),
  FST_ERR_BAD_URL: () => new ApiError('API_ERR_BAD_PARAMETER', 'the URL is not valid'),
  FST_ERR_MAX_PARAM_LENGTH: () =>
    new ApiError(
      'API_ERR_BAD_PARAMETER',
      `a path parameter is longer than ${API_LIMITS.maxParamLength} characters`,
    ),
  FST_ERR_HANDLER_TIMEOUT: () =>
    new ApiError('API_ERR_UNAVAILABLE', 'the daemon took too long to answer; try again'),
} as unknown as Readonly<Record<string, (e: FastifyError) => ApiError>>;

/** What any error thrown while answering is, in the API's catalogue. */
function asApiError(error: FastifyError | Error): ApiError {
  if (error instanceof ApiError) return error;
  const fastifyError = error as Partial<FastifyError>;
  if (fastifyError.validation !== undefined) {
    return new ApiError(
      'API_ERR_BAD_PARAMETER',
      describeValidation(fastifyError.validation, fastifyError.validationContext ?? 'body'),
    );
  }
  const known = fastifyError.code === undefined ? undefined : CLIENT_ERRORS[fastifyError.code];
  if (known !== undefined) return known(error as FastifyError);
  // The state thread stopped, or the state cannot be read now: the daemon pauses and recovers.
  if (errnoCode(error) === 'INGEST_ERR_STATE') {
    return new ApiError('API_ERR_UNAVAILABLE', `the state cannot be read now: ${error.message}`);
  }
  return new ApiError('API_ERR_INTERNAL', 'the daemon failed to answer; its log says why', {
    cause: error,
  });
}

/** Replies with an error of the catalogue, as it is. */
export function send(reply: FastifyReply, error: ApiError): FastifyReply {
  return reply.code(error.statusCode).send(error.toJSON());
}

/**
 * The reply to any error while answering (a route's, a hook's, Fastify's own): the API's
 * shape, `{error, message}`; the daemon's own faults are logged with their cause.
 */
export function errorReplies(log: FastifyBaseLogger) {
  return (error: Error, request: FastifyRequest, reply: FastifyReply): FastifyReply => {
    const apiError = asApiError(error);
    if (apiError.code === 'API_ERR_INTERNAL' || apiError.code === 'API_ERR_UNAVAILABLE') {
      log.error(
        { event: 'api-error', path: pathOf(request.raw), err: describeError(error) },
        'api: a request failed',
      );
    }
    return send(reply, apiError);
  };
}
