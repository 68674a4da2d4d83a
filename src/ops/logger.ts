import { Writable } from 'node:stream';
import pino from 'pino';
import type { Logger, LevelWithSilent } from 'pino';

export type { Logger };

export const LOG_LEVELS: readonly LevelWithSilent[] = [
  'fatal',
  'error',
  'warn',
  'info',
  'debug',
  'trace',
  'silent',
];

const COLOURS: Record<string, string> = {
  fatal: '\x1b[41m',
  error: '\x1b[31m',
  warn: '\x1b[33m',
  info: '\x1b[32m',
  debug: '\x1b[36m',
  trace: '\x1b[90m',
};
const OMIT = new Set(['level', 'time', 'pid', 'msg', 'event']);

/** One JSON log line as a terminal line: `HH:MM:SS LEVEL msg key=value ...`. */
export function prettyLine(json: string): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(json) as Record<string, unknown>;
  } catch {
    // Not one of ours (a partial write): show it as it is rather than lose it.
    return json.endsWith('\n') ? json : `${json}\n`;
  }
  const level = String(entry.level);
  const time = typeof entry.time === 'string' ? entry.time.slice(11, 19) : '';
  const fields = Object.entries(entry)
    .filter(([k]) => !OMIT.has(k))
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  const colour = COLOURS[level] ?? '';
  return `${time} ${colour}${level.toUpperCase().padEnd(5)}\x1b[0m ${String(entry.msg ?? '')}${fields === '' ? '' : ` \x1b[90m${fields}\x1b[0m`}\n`;
}

export interface LoggerOptions {
  /** File descriptor to write to. Default: 1 (stdout). */
  fd?: number;
  /** Human-readable lines instead of JSON (for terminals). Default: false. */
  pretty?: boolean;
  /** Called before each line when pretty (a progress line on the same terminal clears). */
  beforeWrite?: () => void;
}

/**
 * How many bytes of log lines wait for a reader that has fallen behind (a stalled log collector,
 * `| less` left open): past that, lines are dropped and counted, so that a slow reader costs
 * lines, not memory and not ingestion (the daemon's memory bound holds however it is started).
 */
export const LOG_BUFFER_BYTES = 4 * 1024 * 1024;

/**
 * Writes out what the log holds before the process is replaced (execve), which no exit handler
 * sees. A reader that has gone loses nothing it would have read.
 */
export async function flushLogBeforeExec(logger: Logger): Promise<void> {
  const stream = (
    logger as unknown as Record<symbol, { flushSync?: () => void; _writing?: boolean } | undefined>
  )[pino.symbols.streamSym];
  // A write under way runs on libuv's pool, and execve would end it half done, or before it
  // starts: wait for it (sonic-boom says so only through `_writing`; its flush(cb) does not
  // wait), then write the rest here.
  for (let waited = 0; stream?._writing === true && waited < 1_000; waited += 5) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  try {
    stream?.flushSync?.();
  } catch {
    // Not open yet, or its reader has gone: there is nothing to keep.
  }
}

/**
 * JSON lines (pino) on stdout by default, asynchronous so logging stays off the hot path;
 * `flush()` before exit. Lines beyond LOG_BUFFER_BYTES waiting for the reader are dropped, and
 * one warn line says how many once the reader has caught up. On a terminal, `pretty` prints
 * readable lines instead.
 */
export function createLogger(level: LevelWithSilent, options: LoggerOptions = {}): Logger {
  const fd = options.fd ?? 1;
  const base = {
    level,
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
  };
  if (options.pretty !== true) {
    const destination = pino.destination({ fd, sync: false, maxLength: LOG_BUFFER_BYTES });
    const logger = pino(base, destination);
    let dropped = 0;
    destination.on('drop', () => {
      dropped += 1;
    });
    // A reader that has gone (`| head`, a log collector that died): pino stops writing at EPIPE
    // and says nothing. Ingestion goes on; stderr says once that the log has stopped.
    let failed = false;
    destination.on('error', (error: NodeJS.ErrnoException) => {
      if (failed) return;
      failed = true;
      const why = error.code === 'EPIPE' ? 'its reader has gone' : error.message;
      process.stderr.write(
        `ingestor: cannot write log lines to stdout (${error.code ?? 'error'}: ${why}); logging stops, ingestion goes on\n`,
      );
    });
    destination.on('drain', () => {
      if (dropped === 0) return;
      const lines = dropped;
      dropped = 0;
      logger.warn(
        { event: 'log-dropped', lines },
        `${lines} log lines were dropped: the reader of this log fell behind by more than ${LOG_BUFFER_BYTES / 1024 / 1024} MiB`,
      );
    });
    return logger;
  }
  const out = pino.destination({ fd, sync: true });
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      options.beforeWrite?.();
      out.write(prettyLine(chunk.toString('utf8')));
      done();
    },
  });
  return pino(base, stream);
}
