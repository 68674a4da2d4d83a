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

/**
 * JSON lines on the given file descriptor (stdout by default). Asynchronous writes keep logging
 * off the hot path; `flush()` before exit.
 */
export function createLogger(level: LevelWithSilent, fd = 1): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    pino.destination({ fd, sync: false }),
  );
}
