import type { FastifyInstance } from 'fastify';

/** A route's path as a pattern: `:id` matches one segment, the rest is as written. */
function patternOf(url: string): RegExp {
  const segments = url
    .split('/')
    .map((s) => (s.startsWith(':') ? '[^/]+' : s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
  return new RegExp(`^${segments.join('/')}$`);
}

/**
 * The methods each route's path takes, collected as routes are added (call it before adding
 * them): a request that Fastify finds no route for, on a path some route has, used the wrong
 * method (a 405 naming the right ones), not a wrong path (a 404).
 */
export function routeMethods(app: FastifyInstance): (path: string) => string[] {
  const routes = new Map<string, { pattern: RegExp; methods: Set<string> }>();
  app.addHook('onRoute', (route) => {
    let entry = routes.get(route.url);
    if (entry === undefined) {
      entry = { pattern: patternOf(route.url), methods: new Set() };
      routes.set(route.url, entry);
    }
    for (const method of [route.method].flat()) entry.methods.add(method);
  });
  return (path) => {
    const methods = new Set<string>();
    for (const { pattern, methods: m } of routes.values()) {
      if (pattern.test(path)) for (const method of m) methods.add(method);
    }
    return [...methods].sort();
  };
}
