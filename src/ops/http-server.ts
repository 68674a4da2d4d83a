import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { Logger } from './logger.js';

/** The body of `/healthz` is `{"status": "ok" | "unavailable", "reason"?: ...}`. */
export interface Health {
  ok: boolean;
  /** Why not ok (starting, recovering, stopping), or a note while ok (paused: ...). */
  reason?: string;
}

export interface HttpServerOptions {
  host: string;
  port: number;
  registry: Registry;
  health(): Health;
  logger: Logger;
}

/** `GET /metrics` (Prometheus text format) and `GET /healthz` (200 or 503 with the reason). */
export async function startHttpServer(
  options: HttpServerOptions,
): Promise<{ port: number; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (url === '/metrics') {
      options.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': options.registry.contentType }).end(text),
        (error: unknown) => {
          options.logger.error({ err: String(error) }, 'cannot render metrics');
          res.writeHead(500).end();
        },
      );
      return;
    }
    if (url === '/healthz') {
      const { ok, reason } = options.health();
      const body = JSON.stringify({
        status: ok ? 'ok' : 'unavailable',
        ...(reason === undefined ? {} : { reason }),
      });
      res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' }).end(`${body}\n`);
      return;
    }
    res
      .writeHead(404, { 'content-type': 'text/plain' })
      .end('not found: try /metrics or /healthz\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  return {
    port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error === undefined ? resolve() : reject(error)));
        server.closeAllConnections();
      }),
  };
}
