/**
 * The control API's limits: what one client may cost the daemon. Not flags: an operator's tool
 * needs none of them larger, and a smaller one would break no client we know of.
 */
export const API_LIMITS = Object.freeze({
  /** Largest request body: the API's bodies are small JSON objects (a filter, a limit). */
  bodyBytes: 64 * 1024,
  /** Largest header block (Node's default is 16 KiB; a client certificate is not a header). */
  maxHeaderBytes: 16 * 1024,
  /** Longest path parameter (an id is at most 16 digits; a longer one is no route). */
  maxParamLength: 64,
  /** A TLS handshake that has not finished by then is dropped. */
  handshakeTimeoutMs: 10_000,
  /** An idle connection (nothing sent either way) is closed after this. */
  connectionTimeoutMs: 60_000,
  /** A whole request, headers and body, must arrive within this. */
  requestTimeoutMs: 30_000,
  /** Headers must arrive within this (slowloris). */
  headersTimeoutMs: 10_000,
  /** An idle keep-alive connection is closed after this. */
  keepAliveTimeoutMs: 5_000,
  /** Connections at once; Node.js closes any more as soon as they are accepted. */
  maxConnections: 256,
  /** Requests on one connection before it is closed (a client cannot hold one forever). */
  maxRequestsPerSocket: 1_000,
});
