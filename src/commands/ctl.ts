import type { CtlClient } from '../ctl/client.js';
import { CtlClient as Client } from '../ctl/client.js';
import { CTL_EXIT, CtlError } from '../ctl/exit-codes.js';
import { columnsOf, fields, rowsOf, table } from '../ctl/format.js';
import { watch } from '../ctl/watch.js';
import type { WatchOutput } from '../ctl/watch.js';
import type { CtlAction, CtlCommandOptions } from '../options/types.js';

/** The columns `ctl ls` shows of a file, of those `GET /v1/files` gives. */
const FILE_COLUMNS = ['id', 'status', 'bytes', 'committedAt', 'source'];

/** What a call prints for people, by action. */
type Show = (body: unknown, width: number | undefined) => string;

const asFields: Show = (body, width) => fields(body, width);

/** Rows as a table when the answer holds one list, else its fields. */
const asTable =
  (preferred?: readonly string[]): Show =>
  (body, width) => {
    const rows = rowsOf(body);
    if (rows === undefined) return fields(body, width);
    let text = table(rows, columnsOf(rows, preferred), width);
    const next = (body as { next?: unknown }).next;
    if (typeof next === 'string') text += `(more: GET /v1/files?cursor=${next})\n`;
    return text;
  };

/** The status as people read it first: state, counts, queue; then the rest as fields. */
const showStatus: Show = (body, width) => {
  const s = body as Record<string, unknown>;
  const paused = s.paused as { reason?: string } | null;
  const head = `${String(s.state)}${paused === null || paused === undefined ? '' : ` (${paused.reason ?? ''})`}, pid ${String(s.pid)}, up ${String(s.uptimeSeconds)} s\n`;
  const rest = Object.fromEntries(
    Object.entries(s).filter(([k]) => !['state', 'paused', 'pid', 'uptimeSeconds'].includes(k)),
  );
  return head + fields(rest, width);
};

/** One call per action: its method and path, its body, and how its answer is shown. */
function callsOf(action: CtlAction): { method: string; path: string; body?: object; show: Show }[] {
  switch (action.kind) {
    case 'status':
      return [{ method: 'GET', path: '/v1/status', show: showStatus }];
    case 'ls':
      return [{ method: 'GET', path: '/v1/files', show: asTable(FILE_COLUMNS) }];
    case 'show':
      return [{ method: 'GET', path: `/v1/files/${action.id}`, show: asFields }];
    case 'history':
      return [{ method: 'GET', path: `/v1/files/${action.id}/history`, show: asTable() }];
    case 'pending':
      return [{ method: 'GET', path: '/v1/pending', show: asTable() }];
    case 'stats':
      return [{ method: 'GET', path: '/v1/stats', show: asFields }];
    case 'retry':
      return action.ids.map((id) => ({
        method: 'POST',
        path: `/v1/files/${id}/retry`,
        show: (body, width) => `retry ${id}: ${fields(body, width).trim() || 'ok'}\n`,
      }));
    case 'cancel':
    case 'release':
      return [
        {
          method: 'POST',
          path: `/v1/files/${action.id}/${action.kind}`,
          show: (body, width) =>
            `${action.kind} ${action.id}: ${fields(body, width).trim() || 'ok'}\n`,
        },
      ];
    case 'pause':
    case 'resume':
      return [{ method: 'POST', path: `/v1/${action.kind}`, show: asFields }];
    case 'limits':
      return action.concurrency === undefined
        ? [
            {
              method: 'GET',
              path: '/v1/status',
              show: (body, width) => fields((body as { limits?: unknown }).limits ?? {}, width),
            },
          ]
        : [
            {
              method: 'PUT',
              path: '/v1/limits',
              body: { concurrency: action.concurrency },
              show: asFields,
            },
          ];
    case 'watch':
      return [];
  }
}

/** Where ctl writes, and the signal that stops a watch. */
export interface CtlDeps {
  out: WatchOutput;
  err: { write(text: string): boolean };
  signal: AbortSignal;
}

async function runCalls(client: CtlClient, options: CtlCommandOptions, out: WatchOutput) {
  // `retry ID...` goes on past a refused id and ends with the first failure's code.
  let failure: CtlError | undefined;
  for (const call of callsOf(options.action)) {
    try {
      const body = await client.call(call.method, call.path, call.body);
      const width = out.isTTY === true ? out.columns : undefined;
      out.write(options.json ? `${JSON.stringify(body)}\n` : call.show(body, width));
    } catch (error) {
      if (!(error instanceof CtlError) || options.action.kind !== 'retry') throw error;
      failure ??= error;
      out.write(`retry: ${error.message}\n`);
    }
  }
  if (failure !== undefined) throw failure;
}

/**
 * `ingestor ctl ACTION`: one call of a running daemon's control API (or the live watch), its
 * answer as a table or fields (JSON with --json), and an exit code per kind of failure
 * (exit-codes.ts), each with one line on stderr that says what to do.
 */
export async function ctlCommand(options: CtlCommandOptions, deps: CtlDeps): Promise<number> {
  const client = new Client(options);
  try {
    if (options.action.kind === 'watch') {
      return await watch(client, deps.out, options.json, deps.signal);
    }
    await runCalls(client, options, deps.out);
    return CTL_EXIT.ok;
  } catch (error) {
    if (!(error instanceof CtlError)) throw error;
    deps.err.write(`ingestor: ${error.message}\n`);
    return error.exitCode;
  } finally {
    client.close();
  }
}
