import type { FastifyInstance } from 'fastify';
import type { DaemonControl } from '../control.js';
import type { ProgressBoard } from '../live-figures.js';
import { LIMIT_QUERY } from './ids.js';

/** The most pending files one reply lists. */
export const MAX_PENDING = 1000;
const DEFAULT_PENDING = 100;

/** `GET /v1/pending`: files seen and not taken, each with why; at most `limit` of them. */
export function pendingRoutes(
  app: FastifyInstance,
  control: DaemonControl,
  board: ProgressBoard,
): void {
  // The files being read, hashed, copied or placed, the largest first, with their progress.
  app.get<{ Querystring: { limit?: string } }>(
    '/v1/inflight',
    { schema: { querystring: LIMIT_QUERY } },
    async (request) =>
      board.list(request.query.limit === undefined ? DEFAULT_PENDING : Number(request.query.limit)),
  );

  app.get<{ Querystring: { limit?: string } }>(
    '/v1/pending',
    { schema: { querystring: LIMIT_QUERY } },
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
