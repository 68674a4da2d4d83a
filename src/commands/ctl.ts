import type { Role } from '../api/roles.js';
import type { CtlClient } from '../ctl/client.js';
import { CtlClient as Client } from '../ctl/client.js';
import { CTL_EXIT, CtlError } from '../ctl/exit-codes.js';
import {
  actionLine,
  fileScreen,
  filesScreen,
  historyScreen,
  limitsLine,
  webhooksScreen,
  operatorLine,
  pendingScreen,
  statsScreen,
  statusScreen,
} from '../ctl/screens.js';
import { watch } from '../ctl/watch.js';
import type { WatchOutput } from '../ctl/watch.js';
import { hasCode } from '../errors.js';
import type { CtlAction, CtlCommandOptions } from '../options/types.js';

/** What a call prints for people, from its answer (the terminal's width, if it is one). */
type Show = (body: unknown, width: number | undefined) => string;

/** A call of the API: its method and path, the role it needs, its body, how it is shown. */
interface Call {
  method: string;
  path: string;
  role: Role;
  body?: object;
  show: Show;
  /** What a failure of this call among several is prefixed with (`retry 7`). */
  label?: string;
  /** A note on stderr after the answer (more pages, more pending files), if any. */
  note?: (body: unknown) => string | undefined;
}

/** `?a=1&b=2` of the fields given, or nothing. */
function queryOf(fields: Readonly<Record<string, string | undefined>>): string {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(fields))
    if (value !== undefined) query.set(name, value);
  const text = query.toString();
  return text === '' ? '' : `?${text}`;
}

/** The words of `ctl ls` that gave this page, for the line that says how to get the next. */
function lsWords(query: Readonly<Record<string, string | undefined>>, cursor: string): string {
  const words = Object.entries({ ...query, cursor })
    .filter(([, value]) => value !== undefined)
    .map(
      ([name, value]) => `--${name} ${/^[\w./:-]+$/.test(value!) ? value : JSON.stringify(value)}`,
    );
  return `ctl ls ${words.join(' ')}`;
}

/** The calls of an action (several for `retry ID...`), in order. */
function callsOf(action: CtlAction): Call[] {
  switch (action.kind) {
    case 'status':
      return [{ method: 'GET', path: '/v1/status', role: 'user', show: (b) => statusScreen(b) }];
    case 'ls':
      return [
        {
          method: 'GET',
          path: `/v1/files${queryOf(action.query)}`,
          role: 'user',
          show: filesScreen,
          note: (body) => {
            const next = (body as { next?: unknown }).next;
            return typeof next === 'string'
              ? `more files: ${lsWords(action.query, next)}`
              : undefined;
          },
        },
      ];
    case 'show':
      return [{ method: 'GET', path: `/v1/files/${action.id}`, role: 'user', show: fileScreen }];
    case 'history':
      return [
        {
          method: 'GET',
          path: `/v1/files/${action.id}/history`,
          role: 'user',
          show: historyScreen,
        },
      ];
    case 'pending':
      return [
        {
          method: 'GET',
          path: `/v1/pending${queryOf({ limit: action.limit?.toString() })}`,
          role: 'user',
          show: pendingScreen,
          note: (body) => {
            const { total, files, pausedBy } = body as {
              total?: number;
              files?: unknown[];
              pausedBy?: string | null;
            };
            const notes: string[] = [];
            if (typeof pausedBy === 'string') {
              notes.push(`paused by ${pausedBy}: nothing is taken until ctl resume`);
            }
            const shown = files?.length ?? 0;
            if (typeof total === 'number' && total > shown) {
              notes.push(
                `${shown} of ${total} pending files shown: ctl pending --limit N shows up to 1000`,
              );
            }
            return notes.length === 0 ? undefined : notes.join('; ');
          },
        },
      ];
    case 'stats':
      return [{ method: 'GET', path: '/v1/stats', role: 'user', show: (b) => statsScreen(b) }];
    case 'webhooks':
      return [
        {
          method: 'GET',
          path: `/v1/webhooks${action.limit === undefined ? '' : `?limit=${action.limit}`}`,
          role: 'user',
          show: webhooksScreen,
        },
      ];
    case 'redeliver':
      return [
        {
          method: 'POST',
          path: `/v1/webhooks/${action.id}/redeliver`,
          role: 'admin',
          show: (body) => {
            const d = (body as { delivery?: { type?: string; webhookId?: string } }).delivery;
            return `redeliver ${action.id}: ${d?.type ?? ''} ${d?.webhookId ?? ''} will be sent again\n`;
          },
        },
      ];
    case 'retry':
      return action.ids.map((id) => ({
        method: 'POST',
        path: `/v1/files/${id}/retry`,
        role: 'admin',
        label: `retry ${id}`,
        show: (body) => actionLine('retry', id, body),
      }));
    case 'cancel':
    case 'hold':
    case 'release':
      return [
        {
          method: 'POST',
          path: `/v1/files/${action.id}/${action.kind}`,
          role: 'admin',
          show: (body) => actionLine(action.kind, action.id, body),
        },
      ];
    case 'pause':
    case 'resume':
      return [
        {
          method: 'POST',
          path: `/v1/${action.kind}`,
          role: 'admin',
          show: (body) => operatorLine(action.kind as 'pause', body),
        },
      ];
    case 'limits':
      return action.changes === undefined
        ? [
            {
              method: 'GET',
              path: '/v1/status',
              role: 'user',
              show: (body) => `limits: ${limitsLine((body as { limits?: unknown }).limits)}\n`,
            },
          ]
        : [
            {
              method: 'PUT',
              path: '/v1/limits',
              role: 'admin',
              body: action.changes,
              show: (body) => operatorLine('limits', body),
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

/**
 * stdout as ctl writes to it: once its reader has gone (`ctl watch | head -2` closes the pipe,
 * and the next write fails with EPIPE), nothing more is written and `onGone` is called, so that
 * ctl stops as `ls | head` does (bin/ingestor.ts keeps the EPIPE from ending the process).
 */
function stopWhenReaderGoes(out: WatchOutput, onGone: () => void): WatchOutput {
  let gone = false;
  return {
    write: (text) => {
      if (gone) return false;
      return out.write(text, (error) => {
        if (!hasCode(error, 'EPIPE') || gone) return;
        gone = true;
        onGone();
      });
    },
    get isTTY() {
      return out.isTTY;
    },
    get columns() {
      return out.columns;
    },
    get rows() {
      return out.rows;
    },
    on: (event, listener) => out.on?.(event, listener),
  };
}

/**
 * The calls of the action, each answer printed (JSON with --json). `retry ID...` goes on past a
 * refused id: each failure is one line on stderr, and ctl ends with the first one's code.
 */
async function runCalls(
  client: CtlClient,
  options: CtlCommandOptions,
  deps: CtlDeps,
  out: WatchOutput,
): Promise<number> {
  let exitCode: number = CTL_EXIT.ok;
  const calls = callsOf(options.action);
  for (const call of calls) {
    let body: unknown;
    try {
      body = await client.call(call.method, call.path, call.role, call.body);
    } catch (error) {
      if (!(error instanceof CtlError) || calls.length === 1) throw error;
      deps.err.write(`ingestor: ${call.label}: ${error.message}\n`);
      if (exitCode === CTL_EXIT.ok) exitCode = error.exitCode;
      continue;
    }
    const width = out.isTTY === true ? out.columns : undefined;
    out.write(options.json ? `${JSON.stringify(body)}\n` : call.show(body, width));
    const note = call.note?.(body);
    if (note !== undefined) deps.err.write(`ingestor: ${note}\n`);
  }
  return exitCode;
}

/**
 * `ingestor ctl ACTION`: one call of a running daemon's control API (or the live watch), its
 * answer for people (JSON with --json), and an exit code per kind of failure (exit-codes.ts),
 * each with one line on stderr that says what to do.
 */
export async function ctlCommand(options: CtlCommandOptions, deps: CtlDeps): Promise<number> {
  const client = new Client(options);
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  deps.signal.addEventListener('abort', onAbort, { once: true });
  const out = stopWhenReaderGoes(deps.out, onAbort);
  try {
    if (options.action.kind === 'watch') {
      return await watch(client, out, options.json, stop.signal);
    }
    return await runCalls(client, options, deps, out);
  } catch (error) {
    if (!(error instanceof CtlError)) throw error;
    deps.err.write(`ingestor: ${error.message}\n`);
    return error.exitCode;
  } finally {
    deps.signal.removeEventListener('abort', onAbort);
    client.close();
  }
}
