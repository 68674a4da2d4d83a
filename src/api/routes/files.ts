import type { FastifyInstance } from 'fastify';
import { fileViews } from '../../ops/file-view.js';
import { commandDefaults } from '../../options/defaults.js';
import {
  FlagValueError,
  LIST_STATUSES,
  SHA256_PREFIX_MIN,
  parseListStatus,
  parseSince,
} from '../../options/values.js';
import type { HistoryFilter, StateReader } from '../../state/store.js';
import { ApiError, badParameter } from '../errors.js';
import { decodeCursor, encodeCursor, filesPage } from '../file-pages.js';
import { NO_QUERY, ROW_ID } from './ids.js';

/** The most files one page holds. */
export const MAX_PAGE = 1000;

/** The query of `GET /v1/files`, as its schema lets it through: strings, each checked. */
interface FilesQuery {
  status?: string;
  since?: string;
  q?: string;
  sha256?: string;
  limit?: string;
  cursor?: string;
}

// Numbers are strings with a pattern: ajv's coercion would take "0x10", "1e3" and " 5" as
// numbers, where the command line takes plain decimals only.
const FILES_QUERY = {
  type: 'object',
  additionalProperties: false,
  properties: {
    status: {
      type: 'string',
      enum: Object.keys(LIST_STATUSES),
      description: `one of ${Object.keys(LIST_STATUSES).join(', ')}`,
    },
    since: {
      type: 'string',
      minLength: 1,
      maxLength: 64,
      description: 'an ISO date/time or an age like 15m, 2h, 7d',
    },
    q: {
      type: 'string',
      minLength: 1,
      maxLength: 1024,
      description: 'a part of the source path, 1 to 1024 characters',
    },
    sha256: {
      type: 'string',
      pattern: `^[0-9a-fA-F]{${SHA256_PREFIX_MIN},64}$`,
      description: `a SHA-256 (64 hex digits) or a prefix of at least ${SHA256_PREFIX_MIN}`,
    },
    limit: {
      type: 'string',
      pattern: '^(?:[1-9][0-9]{0,2}|1000)$',
      description: `an integer from 1 to ${MAX_PAGE}`,
    },
    cursor: {
      type: 'string',
      pattern: '^[A-Za-z0-9_-]{1,40}$',
      description: 'the "next" of a page, as it came',
    },
  },
} as const;

/** The store's filter for a query (already through its schema). */
function historyFilter(query: FilesQuery): HistoryFilter {
  const filter: HistoryFilter = {};
  if (query.status !== undefined) {
    const named = parseListStatus(query.status);
    filter.status = named.status;
    if (named.kind !== null) filter.kind = named.kind;
  }
  if (query.since !== undefined) {
    try {
      filter.since = parseSince(query.since);
    } catch (error) {
      if (!(error instanceof FlagValueError)) throw error;
      throw badParameter('since', error.problem);
    }
  }
  if (query.sha256 !== undefined) filter.sha256Prefix = query.sha256.toLowerCase();
  if (query.q !== undefined) filter.sourceContains = query.q;
  return filter;
}

/** `GET /v1/files` (the history, newest first, a page at a time) and `GET /v1/files/:id`. */
export function fileRoutes(app: FastifyInstance, state: StateReader): void {
  app.get<{ Querystring: FilesQuery }>(
    '/v1/files',
    { schema: { querystring: FILES_QUERY } },
    async (request) => {
      const query = request.query;
      const filter = historyFilter(query);
      const limit = query.limit === undefined ? commandDefaults.listLimit : Number(query.limit);
      const below = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
      const page = await filesPage(state, filter, limit, below);
      return {
        files: await fileViews(page.rows, (id) => state.getRow(id)),
        next: page.next === undefined ? null : encodeCursor(page.next),
      };
    },
  );

  app.get<{ Params: { id: string } }>(
    '/v1/files/:id',
    { schema: { params: ROW_ID, querystring: NO_QUERY } },
    async (request) => {
      const id = Number(request.params.id);
      const row = await state.getRow(id);
      if (row === undefined) throw new ApiError('API_ERR_NOT_FOUND', `no file has the id ${id}`);
      const [file] = await fileViews([row], (original) => state.getRow(original));
      return file;
    },
  );
}
