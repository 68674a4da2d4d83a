import { FULL_VOLUME_CODES, describeError, errnoCode, hasCode } from '../errors.js';
import type { RecoverySummary } from '../ingest/recovery.js';
import { emptyRecovery, recover, sweepTemporaries } from '../ingest/recovery.js';
import type { StepDeps } from '../ingest/outcome.js';

/** What start-up recovery needs: what the pipeline's steps are given. */
export type StartUpRecoveryDeps = StepDeps;

/**
 * Settles what a previous run left in flight, before discovery starts. `unsettled` is the
 * error of a recovery that a full volume stopped: the daemon then starts paused with it, and
 * `interrupted` intents to settle.
 * Throws any other failure.
 */
export async function recoverAtStart(
  deps: StartUpRecoveryDeps,
): Promise<{ recovery: RecoverySummary; unsettled: unknown; interrupted: number }> {
  const { options, store, logger, events, clock } = deps;
  const started = clock();
  let recovery = emptyRecovery();
  let unsettled: unknown;
  let interrupted = 0;
  try {
    events.emit('recovery:started');
    recovery = await recover({
      options,
      store,
      manifest: deps.manifest,
      crash: deps.crash,
      logger,
      now: clock,
      ...(deps.fence === undefined ? {} : { fence: deps.fence }),
    });
    const ms = clock() - started;
    const { settled: _settled, ...counts } = recovery;
    logger.info({ event: 'recovery', ...counts, ms }, 'recovery done');
    events.emit('recovery:done', {
      rolledForward: recovery.rolledForward,
      rolledBack: recovery.rolledBack,
      vanished: recovery.vanished,
      ms,
    });
  } catch (error) {
    // A full volume is an incident to wait out, as it would be for a running daemon: start
    // paused (metrics, health and status up) and settle when space returns. Anything else
    // (read-only, corrupt) stops the start with one line.
    if (!hasCode(error, ...FULL_VOLUME_CODES)) throw error;
    unsettled = error;
    // Copies left by a kill take space on the very volume that may be the full one.
    recovery.temporariesRemoved = await sweepTemporaries(options);
    interrupted = (await store.openIntents()).length;
    logger.warn(
      {
        event: 'recovery',
        err: describeError(error),
        code: errnoCode(error),
        temporariesRemoved: recovery.temporariesRemoved,
      },
      `recovery cannot finish now (${interrupted} interrupted files): starting paused; it is tried again when the pause ends`,
    );
  }
  return { recovery, unsettled, interrupted };
}
