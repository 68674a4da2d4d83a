/**
 * `ingestor ctl`'s exit codes: one per condition a script may act on (README, "ingestor ctl").
 * 0, 1 and 2 mean what they mean for every command.
 */
export const CTL_EXIT = Object.freeze({
  __proto__: null,
  ok: 0,
  /** The server answered with another error (400, 5xx), or the stream ended badly. */
  failure: 1,
  usage: 2,
  /** 403: the certificate's role may not make this call. */
  forbidden: 3,
  /** 404: no such file (or the daemon does not have this call yet). */
  notFound: 4,
  /** 409: the call does not fit the file's or the daemon's state. */
  conflict: 5,
  /** Nothing answers at --server (refused, unreachable, timed out, no such host). */
  cannotConnect: 6,
  /** TLS failed: the server's certificate is not trusted, or the server refused ours. */
  tls: 7,
} as const);

/** A failure of `ctl` with the exit code it ends with and the one line it prints. */
export class CtlError extends Error {
  constructor(
    readonly exitCode: number,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'CtlError';
  }
}
