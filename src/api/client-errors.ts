import http from 'node:http';
import type { Socket } from 'node:net';
import { errnoCode } from '../errors.js';
import { ApiError } from './errors.js';
import { API_LIMITS } from './limits.js';

/** What Node's HTTP parser refuses before any route, as the API's errors. */
function asApiError(error: Error): ApiError {
  switch (errnoCode(error)) {
    case 'HPE_HEADER_OVERFLOW':
      return new ApiError(
        'API_ERR_HEADERS_TOO_LARGE',
        `the headers are larger than ${API_LIMITS.maxHeaderBytes} bytes, the most this API takes`,
      );
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return new ApiError('API_ERR_TIMEOUT', 'the request did not arrive whole in time');
    default:
      return new ApiError('API_ERR_BAD_REQUEST', 'the request is not HTTP this server can read');
  }
}

/**
 * Answers a request that Node's HTTP parser refused (headers too large, malformed, too slow)
 * in the API's own error shape, then closes the connection, as Node.js does itself.
 */
export function answerClientError(error: Error, socket: Socket): void {
  // A reset connection has nobody to answer.
  if (errnoCode(error) === 'ECONNRESET' || socket.destroyed) return;
  const apiError = asApiError(error);
  const body = JSON.stringify(apiError.toJSON());
  if (socket.writable) {
    const status = apiError.statusCode;
    socket.write(
      `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(error);
}
