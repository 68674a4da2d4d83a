import { API_LIMITS } from './limits.js';

/**
 * The control API's errors: one catalogue of codes, each with its HTTP status. Every error
 * reply is `{ "error": CODE, "message": "..." }`; clients decide on the code, people read the
 * message.
 */
export const API_ERRORS = Object.freeze({
  __proto__: null,
  /** A parameter, query field or body is malformed, unknown or out of range; the message names it. */
  API_ERR_BAD_PARAMETER: 400,
  /** Not HTTP that the server can read (answered before any route, and the connection closed). */
  API_ERR_BAD_REQUEST: 400,
  /** The certificate's role may not make this call; the message names the role needed. */
  API_ERR_FORBIDDEN: 403,
  /** No such route, or no such file. */
  API_ERR_NOT_FOUND: 404,
  /** The path exists but does not take this method; the `allow` header and the message name those it takes. */
  API_ERR_METHOD_NOT_ALLOWED: 405,
  /** The call does not fit the file's or the daemon's state. */
  API_ERR_CONFLICT: 409,
  /** The body is larger than the API takes. */
  API_ERR_BODY_TOO_LARGE: 413,
  /** The body is not JSON. */
  API_ERR_UNSUPPORTED_MEDIA_TYPE: 415,
  /** The request did not arrive whole in time. */
  API_ERR_TIMEOUT: 408,
  /** The headers are larger than the API takes. */
  API_ERR_HEADERS_TOO_LARGE: 431,
  /** The daemon cannot answer now (its state cannot be read); try again. */
  API_ERR_UNAVAILABLE: 503,
  /** A fault of the daemon's, logged with its cause. */
  API_ERR_INTERNAL: 500,
} as const);

export type ApiErrorCode = Exclude<keyof typeof API_ERRORS, '__proto__'>;

/** The body of every error reply. */
export interface ApiErrorBody {
  error: ApiErrorCode;
  message: string;
}

/** An error a route throws on purpose: the server's error handler replies with it as it is. */
export class ApiError extends Error {
  readonly code: ApiErrorCode;

  constructor(code: ApiErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ApiError';
    this.code = code;
  }

  get statusCode(): number {
    return API_ERRORS[this.code];
  }

  toJSON(): ApiErrorBody {
    return { error: this.code, message: this.message };
  }
}

/** A bad parameter: `limit must be an integer from 1 to 1000, got "0"`. */
export function badParameter(name: string, problem: string): ApiError {
  return new ApiError('API_ERR_BAD_PARAMETER', `${name} ${problem}`);
}

/** A body over the limit. */
export function bodyTooLarge(): ApiError {
  return new ApiError(
    'API_ERR_BODY_TOO_LARGE',
    `the body is larger than ${API_LIMITS.bodyBytes} bytes, the most this API takes`,
  );
}
