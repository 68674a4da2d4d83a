import type { FastifyInstance } from 'fastify';
import type { DaemonControl } from '../control.js';

/** The most pending files one reply lists. */
export const MAX_PENDING = 1000;
const DEFAULT_PENDING = 100;

const PENDING_QUERY = {
  type: 'object',
  additionalProperties: false,
  properties: {
    limit: {
      type: 'string',
      pattern: '^(?:[1-9][0-9]{0,2}|1000)$',
      description: `an integer from 1 to ${MAX_PENDING}`,
    },
  },
} as const;

/** `GET /v1/pending`: files seen and not taken, each with why; at most `limit` of them. */
export function pendingRoutes(app: FastifyInstance, control: DaemonControl): void {
  app.get<{ Querystring: { limit?: string } }>(
    '/v1/pending',
    { schema: { querystring: PENDING_QUERY } },
    async (request) => {
      const limit =
        request.query.limit === undefined ? DEFAULT_PENDING : Number(request.query.limit);
      const { files, total } = control.pending(limit);
      const pause = control.operatorPause();
      return {
        total,
        truncated: total > files.length,
        pausedBy: pause === undefined ? null : pause.by,
        files: files.map((f) => ({
          ...f,
          dueAt: f.dueAt === null ? null : new Date(f.dueAt).toISOString(),
        })),
      };
    },
  );
}
