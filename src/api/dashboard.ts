import fs from 'node:fs';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from './errors.js';
import { NO_QUERY } from './routes/ids.js';

/**
 * What a browser may do with the dashboard's pages: its own scripts, styles, images and calls,
 * nothing inline, nothing from elsewhere, never in a frame (docs/DASHBOARD.md).
 */
export const DASHBOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "frame-ancestors 'none'",
  "form-action 'none'",
].join('; ');

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.txt': 'text/plain; charset=utf-8',
};

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

/**
 * The built dashboard (scripts/build-dashboard.mjs): dist/dashboard beside dist/src, or, when
 * this module runs from the sources (the tests), the build's.
 */
function dashboardDir(): string | undefined {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const candidates = [path.join(here, '../../dashboard'), path.join(here, '../../dist/dashboard')];
  return candidates.find((dir) => fs.existsSync(path.join(dir, 'vendor', 'preact.mjs')));
}

/** Every file of the built dashboard, read once: by the name it is served under. */
function loadAssets(dir: string): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  const walk = (sub: string) => {
    for (const entry of fs.readdirSync(path.join(dir, sub), { withFileTypes: true })) {
      const name = sub === '' ? entry.name : `${sub}/${entry.name}`;
      if (entry.isDirectory()) walk(name);
      const type = TYPES[path.extname(entry.name)];
      if (!entry.isFile() || type === undefined) continue;
      const body = fs.readFileSync(path.join(dir, name));
      const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
      assets.set(name, { body, type, etag });
    }
  };
  walk('');
  return assets;
}

/** Headers every page and file of the dashboard carries. */
function secure(reply: FastifyReply): FastifyReply {
  return reply
    .header('content-security-policy', DASHBOARD_CSP)
    .header('x-content-type-options', 'nosniff')
    .header('x-frame-options', 'DENY')
    .header('referrer-policy', 'no-referrer')
    .header('cross-origin-opener-policy', 'same-origin')
    .header('cross-origin-resource-policy', 'same-origin');
}

function serve(
  request: FastifyRequest,
  reply: FastifyReply,
  asset: Asset,
  forever = false,
): FastifyReply | Buffer {
  // A file under the build's version never changes: kept by the browser. The page itself, and
  // a file asked for by its plain name, are revalidated at each load (a small 304).
  secure(reply)
    .header('cache-control', forever ? 'public, max-age=31536000, immutable' : 'no-cache')
    .header('etag', asset.etag);
  if (request.headers['if-none-match'] === asset.etag) return reply.code(304).send();
  reply.type(asset.type);
  return asset.body;
}

/**
 * The dashboard: `GET /` is its page, `GET /assets/*` its scripts, styles and the libraries
 * vendored at build time. Served to both roles, over the same mutual TLS: what a user may do is
 * checked by each call the page makes, not by the page.
 */
export function dashboardRoutes(app: FastifyInstance): void {
  const dir = dashboardDir();
  const assets = dir === undefined ? new Map<string, Asset>() : loadAssets(dir);
  // The build's version: its files' digests. The page names its files under it
  // (`/assets/v-<version>/app.js`), and modules import each other by relative names, so a
  // page and all it loads come from one build, cached for good, and a new build is new names.
  const version = `v-${createHash('sha256')
    .update([...assets.values()].map((a) => a.etag).join())
    .digest('base64url')
    .slice(0, 12)}`;
  const index = assets.get('index.html');
  if (index !== undefined) {
    const body = Buffer.from(
      index.body.toString('utf8').replaceAll('"/assets/', `"/assets/${version}/`),
    );
    // Its tag is the build's: a page revalidated after a rebuild that changed only a script
    // must not be a 304, or the browser would go on running the old build's files.
    assets.set('index.html', { ...index, body, etag: `"${version}"` });
  }
  const missing = () =>
    new ApiError(
      'API_ERR_UNAVAILABLE',
      'the dashboard is not built: run npm run build (it writes dist/dashboard)',
    );
  app.get('/', { schema: { querystring: NO_QUERY } }, async (request, reply) => {
    const page = assets.get('index.html');
    if (page === undefined) throw missing();
    return serve(request, reply, page);
  });
  app.get<{ Params: { '*': string } }>('/assets/*', async (request, reply) => {
    const asked = request.params['*'];
    // Another build's version (a page loaded before a restart): this build's file, revalidated.
    const versioned = /^v-[A-Za-z0-9_-]{12}\//.exec(asked);
    const name = versioned === null ? asked : asked.slice(versioned[0].length);
    const asset = assets.get(name);
    if (asset === undefined) {
      if (assets.size === 0) throw missing();
      throw new ApiError('API_ERR_NOT_FOUND', `no dashboard file ${asked}`);
    }
    return serve(request, reply, asset, versioned?.[0] === `${version}/`);
  });
}

/** Values of `Sec-Fetch-Site` a call that acts may come with: the page's own, or no page. */
const OWN_SITE = new Set(['same-origin', 'none']);

/**
 * A call that changes something must come from the dashboard's own page or from no page at all
 * (ctl, curl): a browser sends the client certificate to this server whatever page asks, so
 * a page of another site could otherwise act with an admin's certificate (cross-site request
 * forgery). Browsers say where a call comes from (`Sec-Fetch-Site`, `Origin`); other clients
 * send neither.
 */
export function refuseCrossSite(app: FastifyInstance): void {
  app.addHook('onRequest', async (request) => {
    if (request.method === 'GET' || request.method === 'HEAD') return;
    const site = request.headers['sec-fetch-site'];
    const origin = request.headers.origin;
    const own = `https://${request.headers.host ?? ''}`;
    if (
      (typeof site === 'string' && !OWN_SITE.has(site)) ||
      (origin !== undefined && origin !== own)
    ) {
      throw new ApiError(
        'API_ERR_FORBIDDEN',
        `a call that acts must come from this server's own page, not from ${origin ?? `a ${site} page`}`,
      );
    }
  });
}
