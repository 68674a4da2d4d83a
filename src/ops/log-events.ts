import type { IngestorEventMap, IngestorEvents } from '../events.js';
import type { Logger } from './logger.js';

type Payload<K extends keyof IngestorEventMap> = IngestorEventMap[K][0];

/** Logs subscribe to the pipeline's events like any other consumer; returns the unsubscriber. */
export function logEvents(events: IngestorEvents, logger: Logger): () => void {
  const committed = (e: Payload<'file:committed'>) =>
    logger.info({ event: 'ingested', ...e }, 'ingested');
  const duplicate = (e: Payload<'file:duplicate'>) =>
    logger.info({ event: 'duplicate', ...e }, 'duplicate: content already ingested');
  // A writer that keeps a file open, or an empty file waiting out its longer wait, is normal
  // traffic, seen again every window: debug. So is each file of a volume whose reads hang:
  // the volume's own warn and info lines say it once (see StalledVolumes).
  const deferred = (e: Payload<'file:deferred'>) =>
    logger[
      e.code === 'INGEST_ERR_OPEN_FOR_WRITING' ||
      e.code === 'INGEST_ERR_EMPTY_UNSEEN' ||
      e.code === 'INGEST_ERR_VOLUME_STALLED'
        ? 'debug'
        : 'info'
    ]({ event: 'deferred', ...e }, `not ingested now: ${e.reason}`);
  // A file that failed because an output volume did (kind pause) is not the file's fault: the
  // one pause line says it all, and each waiting file's attempt is a debug line.
  const failed = (e: Payload<'file:failed'>) =>
    logger[e.kind === 'pause' ? 'debug' : 'error']({ event: 'failed', ...e }, `failed: ${e.error}`);
  // One line per hour closed: what downstream jobs were told (its `_SUCCESS`).
  const closed = (e: Payload<'manifest:closed'>) =>
    logger.info(
      { event: 'hour-closed', ...e },
      `hour ${e.hour} closed: ${e.lines} line${e.lines === 1 ? '' : 's'} in ${e.manifest}; ${e.success} written`,
    );
  events.on('manifest:closed', closed);
  events.on('file:committed', committed);
  events.on('file:duplicate', duplicate);
  events.on('file:deferred', deferred);
  events.on('file:failed', failed);
  return () => {
    events.off('manifest:closed', closed);
    events.off('file:committed', committed);
    events.off('file:duplicate', duplicate);
    events.off('file:deferred', deferred);
    events.off('file:failed', failed);
  };
}
