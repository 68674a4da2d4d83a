import https from 'node:https';
import type { IncomingMessage } from 'node:http';
import type { Role } from '../api/roles.js';
import { errnoCode } from '../errors.js';
import type { CtlCommandOptions } from '../options/types.js';
import { CTL_EXIT, CtlError } from './exit-codes.js';

/** Errors that mean nothing answered at the address. */
const CANNOT_CONNECT = [
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ETIMEDOUT',
];

/** Errors that mean this client does not trust the server's certificate. */
const UNTRUSTED_SERVER = [
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
];

/** How long a call may take before ctl gives up on it. */
const TIMEOUT_MS = 30_000;

/** One line for each way a connection fails, with what to do about it. */
export function connectionError(server: URL, error: unknown): CtlError {
  const code = errnoCode(error) ?? '';
  const message = error instanceof Error ? error.message : String(error);
  const at = server.origin;
  if (CANNOT_CONNECT.includes(code)) {
    return new CtlError(
      CTL_EXIT.cannotConnect,
      `cannot connect to ${at} (${code}): is the daemon running with --api-port, and is --server its address?`,
      { cause: error },
    );
  }
  if (UNTRUSTED_SERVER.includes(code)) {
    return new CtlError(
      CTL_EXIT.tls,
      `the server's certificate is not trusted (${code}: ${message}): is --ca the CA that signed the daemon's --tls-cert, and does --server use a name in it?`,
      { cause: error },
    );
  }
  // The daemon refuses a client certificate it does not accept during or right after the
  // handshake: an alert, or a connection closed without a word (README, "TLS").
  if (code === 'ECONNRESET' || code.startsWith('ERR_SSL_') || message.includes('socket hang up')) {
    return new CtlError(
      CTL_EXIT.tls,
      `the server refused the connection (${code || message}): is --cert signed by the daemon's --tls-ca, and not expired or revoked? (the daemon logs why at --log-level debug)`,
      { cause: error },
    );
  }
  // The handshake failed on what came back: most often a server that does not speak TLS at all
  // (OpenSSL's "wrong version number": plain HTTP, or another service at that port).
  if (code === 'EPROTO') {
    return new CtlError(
      CTL_EXIT.tls,
      `the TLS handshake with ${at} failed (EPROTO: ${opensslReason(message)}): is --server the control API's address (the daemon's --api-port)? The API speaks HTTPS with client certificates only`,
      { cause: error },
    );
  }
  return new CtlError(CTL_EXIT.cannotConnect, `cannot reach ${at}: ${message}`, { cause: error });
}

/** OpenSSL's reason in a socket error's message (`wrong version number`), for people to read. */
function opensslReason(message: string): string {
  return /error:[0-9A-F]+:[^:]*:[^:]*:([^:]+)/.exec(message)?.[1] ?? message;
}

/** What a certificate needs to make a call that needs `role`, for the advice after a 403. */
const ROLE_ADVICE: Readonly<Record<Role, string>> = {
  user: 'a certificate with OU=user or OU=admin',
  admin: 'a certificate with OU=admin',
};

/**
 * An error reply of the API (`{error, message}`) as ctl's line and exit code. `role`: the role
 * the call needs, which the advice after a 403 names (the server's message says it too).
 */
export function replyError(status: number, body: unknown, role: Role = 'user'): CtlError {
  const message =
    typeof body === 'object' && body !== null && 'message' in body
      ? String((body as { message: unknown }).message)
      : `HTTP ${status}`;
  if (status === 403) {
    return new CtlError(
      CTL_EXIT.forbidden,
      `refused: ${message} (use ${ROLE_ADVICE[role]}, or give this certificate's subject or CN the ${role} role in the daemon's --api-roles)`,
    );
  }
  if (status === 404) return new CtlError(CTL_EXIT.notFound, `not found: ${message}`);
  if (status === 409) return new CtlError(CTL_EXIT.conflict, `conflict: ${message}`);
  return new CtlError(CTL_EXIT.failure, `the daemon answered ${status}: ${message}`);
}

/** What a call answered: its status and its body, JSON when it says so. */
export interface CtlReply {
  status: number;
  body: unknown;
}

/** Calls the daemon's control API with the client certificate: one request, one answer. */
export class CtlClient {
  readonly #options: CtlCommandOptions;
  readonly #agent: https.Agent;

  constructor(options: CtlCommandOptions) {
    this.#options = options;
    const { cert, key, ca } = options;
    this.#agent = new https.Agent({ cert, key, ca, keepAlive: true, maxSockets: 4 });
  }

  get server(): URL {
    return this.#options.server;
  }

  /** Opens a request; `onResponse` gets the answer's head and stream. */
  open(
    method: string,
    path: string,
    headers: Record<string, string>,
    body: string | undefined,
    onResponse: (res: IncomingMessage) => void,
    onError: (error: CtlError) => void,
  ): () => void {
    const url = new URL(path, this.#options.server);
    const req = https.request(
      url,
      {
        method,
        agent: this.#agent,
        headers: {
          accept: 'application/json, text/event-stream',
          ...(body === undefined
            ? { 'content-length': '0' }
            : {
                'content-type': 'application/json',
                'content-length': String(Buffer.byteLength(body)),
              }),
          ...headers,
        },
      },
      onResponse,
    );
    req.on('error', (error) => onError(connectionError(this.#options.server, error)));
    req.end(body);
    return () => req.destroy();
  }

  /**
   * One call; an error reply becomes a CtlError with the exit code for it. `role`: the role the
   * call needs, for the advice when it is refused.
   */
  call(method: string, path: string, role: Role, body?: object): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        cancel();
        reject(
          new CtlError(
            CTL_EXIT.cannotConnect,
            `no answer from ${this.server.origin} in ${TIMEOUT_MS / 1000} s`,
          ),
        );
      }, TIMEOUT_MS);
      const done = (f: () => void) => {
        clearTimeout(timer);
        f();
      };
      const cancel = this.open(
        method,
        path,
        {},
        body === undefined ? undefined : JSON.stringify(body),
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', (error) => done(() => reject(connectionError(this.server, error))));
          res.on('end', () =>
            done(() => {
              const text = Buffer.concat(chunks).toString('utf8');
              let parsed: unknown = text;
              if (String(res.headers['content-type'] ?? '').includes('json') && text !== '') {
                try {
                  parsed = JSON.parse(text);
                } catch (error) {
                  if (!(error instanceof SyntaxError)) throw error;
                }
              }
              const status = res.statusCode ?? 0;
              if (status >= 400) reject(replyError(status, parsed, role));
              else resolve(parsed);
            }),
          );
        },
        (error) => done(() => reject(error)),
      );
    });
  }

  close(): void {
    this.#agent.destroy();
  }
}
