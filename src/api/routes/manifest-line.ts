import fs from 'node:fs';
import readline from 'node:readline';
import type { FastifyInstance } from 'fastify';
import { errnoCode, hasCode } from '../../errors.js';
import type { FileRow } from '../../interfaces.js';
import { formatLine, recordOf } from '../../manifest/manifest-line.js';
import type { StateReader } from '../../state/store.js';
import { ApiError } from '../errors.js';
import { NO_QUERY, ROW_ID } from './ids.js';

/** A file's line in its hour's manifest, or why there is none. */
interface ManifestLineView {
  manifest: string | null;
  lineNumber: number | null;
  line: Record<string, unknown> | null;
  /** Why no line is shown (null when it is). */
  missing: string | null;
}

/** The number of the line of `file` that is `line` exactly (streamed), or undefined. */
async function lineNumberOf(file: string, line: string): Promise<number | undefined> {
  const input = fs.createReadStream(file, { encoding: 'utf8' });
  const lines = readline.createInterface({ input, crlfDelay: Infinity });
  try {
    let n = 0;
    for await (const text of lines) {
      n += 1;
      if (text === line) return n;
    }
    return undefined;
  } finally {
    // Closing the lines leaves the file open: a line found early would leak its descriptor.
    lines.close();
    input.destroy();
  }
}

async function manifestLine(row: FileRow): Promise<ManifestLineView> {
  const none = (missing: string) => ({
    manifest: row.manifest,
    lineNumber: null,
    line: null,
    missing,
  });
  if (row.kind !== 'ingest') {
    return none(
      row.kind === 'duplicate'
        ? 'a duplicate has no line of its own: its content has the line of the file it duplicates'
        : 'a quarantined file has no manifest line',
    );
  }
  if (row.status !== 'committed') return none(`the file is ${row.status}, not committed`);
  if (row.manifest === null) return none('the state names no manifest for this file');
  // Lines are written by formatLine from the row alone: the line is known, and looked for.
  const line = formatLine(recordOf(row)).trimEnd();
  try {
    const lineNumber = await lineNumberOf(row.manifest, line);
    if (lineNumber === undefined) return none(`${row.manifest} has no line for this file`);
    return {
      manifest: row.manifest,
      lineNumber,
      line: JSON.parse(line) as Record<string, unknown>,
      missing: null,
    };
  } catch (error) {
    if (hasCode(error, 'ENOENT')) return none(`${row.manifest} does not exist`);
    const code = errnoCode(error);
    if (code !== undefined) return none(`${row.manifest} cannot be read (${code})`);
    throw error;
  }
}

/** `GET /v1/files/:id/manifest`: the file's manifest line, read from its hour's manifest. */
export function manifestLineRoutes(app: FastifyInstance, state: StateReader): void {
  app.get<{ Params: { id: string } }>(
    '/v1/files/:id/manifest',
    { schema: { params: ROW_ID, querystring: NO_QUERY } },
    async (request) => {
      const id = Number(request.params.id);
      const row = await state.getRow(id);
      if (row === undefined) throw new ApiError('API_ERR_NOT_FOUND', `no file has the id ${id}`);
      return manifestLine(row);
    },
  );
}
