import { setTimeout as sleep } from 'node:timers/promises';
import type { CtlClient } from './client.js';
import { replyError } from './client.js';
import { CTL_EXIT, CtlError } from './exit-codes.js';
import { SseReader } from './sse.js';
import type { StreamedEvent } from './sse.js';
import { WatchScreen, eventLine } from './watch-screen.js';

/** Where a watch writes: a terminal gets the screen, anything else lines. */
export interface WatchOutput {
  /** `callback` gets the write's error, if any (EPIPE: the reader has gone). */
  write(text: string, callback?: (error?: Error | null) => void): boolean;
  readonly isTTY?: boolean | undefined;
  readonly columns?: number | undefined;
  readonly rows?: number | undefined;
  on?(event: 'resize', listener: () => void): unknown;
}

const RECONNECT_MS = 2_000;
/** The screen is drawn at most this often, however many events come. */
const REDRAW_MS = 250;

/**
 * Follows the stream until `signal` aborts or it ends: resolves when the connection closes
 * (true: it was connected), rejects with a CtlError when it could not connect or was refused.
 */
function follow(
  client: CtlClient,
  lastId: string | undefined,
  onEvent: (event: StreamedEvent) => void,
  signal: AbortSignal,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const cancel = client.open(
      'GET',
      '/v1/events',
      lastId === undefined ? {} : { 'last-event-id': lastId },
      undefined,
      (res) => {
        res.setEncoding('utf8');
        const status = res.statusCode ?? 0;
        if (status >= 400) {
          let text = '';
          res.on('data', (c: string) => (text += c));
          res.on('end', () => {
            let body: unknown = text;
            try {
              body = JSON.parse(text);
            } catch (error) {
              if (!(error instanceof SyntaxError)) throw error;
            }
            reject(replyError(status, body));
          });
          return;
        }
        const reader = new SseReader(onEvent);
        res.on('data', (c: string) => reader.push(c));
        res.on('end', () => resolve());
        res.on('close', () => resolve());
        res.on('error', () => resolve());
      },
      reject,
    );
    signal.addEventListener('abort', () => {
      cancel();
      resolve();
    });
  });
}

/**
 * `ingestor ctl watch`: on a terminal, a screen redrawn in place (files in flight with progress
 * bars and rates, the last events), like `vector top`; otherwise one line per event (stats
 * left out), or with `json` one JSON object per event. Reconnects with `Last-Event-ID` when the
 * stream ends; the first connection failing ends it with that failure's exit code.
 */
export async function watch(
  client: CtlClient,
  out: WatchOutput,
  json: boolean,
  signal: AbortSignal,
): Promise<number> {
  const screen = out.isTTY === true && !json ? new WatchScreen(client.server.origin) : undefined;
  let lastId: string | undefined;
  let dirty = false;
  const draw = () => {
    if (screen === undefined) return;
    dirty = false;
    const lines = screen.render(out.columns ?? 80, out.rows ?? 24);
    // Home, each line cleared to its end, then everything below cleared: no flicker.
    out.write(`\x1b[H${lines.map((l) => `${l}\x1b[K`).join('\n')}\x1b[J`);
  };
  const onEvent = (event: StreamedEvent) => {
    if (event.id !== undefined) lastId = event.id;
    if (json) out.write(`${JSON.stringify(event)}\n`);
    else if (screen !== undefined) {
      screen.add(event);
      dirty = true;
    } else if (event.type !== 'stats') out.write(`${eventLine(event)}\n`);
  };
  let timer: NodeJS.Timeout | undefined;
  if (screen !== undefined) {
    out.write('\x1b[?1049h\x1b[?25l'); // the alternate screen, no cursor
    timer = setInterval(() => dirty && draw(), REDRAW_MS);
    out.on?.('resize', draw);
    draw();
  }
  let connected = false;
  try {
    while (!signal.aborted) {
      try {
        if (screen !== undefined) screen.note = connected ? 'reconnecting' : 'connecting';
        const stream = follow(client, lastId, onEvent, signal);
        connected = true;
        if (screen !== undefined) screen.note = 'live';
        await stream;
      } catch (error) {
        // The first connection says what is wrong; later, the daemon may be restarting.
        if (!(error instanceof CtlError) || lastId === undefined) throw error;
      }
      if (signal.aborted) break;
      if (screen === undefined && !json) out.write('-- stream ended; reconnecting\n');
      await sleep(RECONNECT_MS, undefined, { signal }).catch(() => undefined);
    }
  } finally {
    if (timer !== undefined) clearInterval(timer);
    if (screen !== undefined) out.write('\x1b[?25h\x1b[?1049l');
  }
  return CTL_EXIT.ok;
}
