import type { FastifyInstance } from 'fastify';
import { fileHistory } from '../../ops/file-history.js';
import type { StateReader } from '../../state/store.js';
import { ApiError } from '../errors.js';
import { NO_QUERY, ROW_ID } from './ids.js';

/** Journal events one history shows at most (a file retried every minute for days). */
export const HISTORY_EVENTS = 1000;

/** `GET /v1/files/:id/history`: the file's steps from its row and its journal, in order. */
export function historyRoutes(app: FastifyInstance, state: StateReader): void {
  app.get<{ Params: { id: string } }>(
    '/v1/files/:id/history',
    { schema: { params: ROW_ID, querystring: NO_QUERY } },
    async (request) => {
      const id = Number(request.params.id);
      const row = await state.getRow(id);
      if (row === undefined) throw new ApiError('API_ERR_NOT_FOUND', `no file has the id ${id}`);
      const original = row.duplicateOf === null ? undefined : await state.getRow(row.duplicateOf);
      // Events recorded by source before the row existed belong to this file; those after its
      // commit belong to a later file of the same name. A quarantined file's later retry is
      // journaled with its row id.
      const until = row.kind === 'quarantine' ? row.intentAt : (row.committedAt ?? Date.now());
      const journal = await state.fileEvents(id, row.source, until, HISTORY_EVENTS);
      return { id, events: fileHistory(row, original, journal) };
    },
  );
}
