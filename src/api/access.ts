import type { TLSSocket } from 'node:tls';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ApiError } from './errors.js';
import { allows, identify } from './roles.js';
import type { Identity, Role, RoleMap } from './roles.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The role a route needs; default `user` (every route needs a role). */
    role?: Role;
  }
}

/** Who sent each request, by its request (set by the access hook before anything else). */
const callers = new WeakMap<FastifyRequest, Identity>();

/** The caller of a request that passed the access hook. */
export function callerOf(request: FastifyRequest): Identity | undefined {
  return callers.get(request);
}

/**
 * Roles from the client certificate, checked before anything else runs for a request: the TLS
 * handshake already refused a client without a certificate the CA signed, so every request
 * here has one; a certificate without a role gets 403 on every route, unknown ones included.
 */
export function checkAccess(app: FastifyInstance, roles: RoleMap | undefined): void {
  // A connection keeps its certificate: identified once, for all its requests.
  const bySocket = new WeakMap<TLSSocket, Identity>();
  app.addHook('onRequest', async (request) => {
    const socket = request.raw.socket as TLSSocket;
    let identity = bySocket.get(socket);
    if (identity === undefined) {
      const certificate = socket.authorized ? socket.getPeerX509Certificate() : undefined;
      // Cannot happen with rejectUnauthorized; refused all the same should it ever.
      identity =
        certificate === undefined
          ? { subject: '(no verified certificate)', role: undefined }
          : identify(certificate, roles);
      bySocket.set(socket, identity);
    }
    callers.set(request, identity);
    const needed = request.routeOptions.config.role ?? 'user';
    if (!allows(identity.role, needed)) {
      const has = identity.role === undefined ? 'no role' : `the ${identity.role} role`;
      throw new ApiError(
        'API_ERR_FORBIDDEN',
        `this call needs the ${needed} role; the certificate ${identity.subject} has ${has}`,
      );
    }
  });
}
