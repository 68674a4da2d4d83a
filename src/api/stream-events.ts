import type { IngestorEventMap, IngestorEvents } from '../events.js';

/**
 * The event stream's types (`GET /v1/events`), dotted like `file.ingested`: what `?types=`
 * accepts and README lists. `stream.gap` is the stream's own (events a client cannot be
 * given) and is sent whatever the filter.
 */
export const STREAM_TYPES = [
  'file.complete',
  'file.ingested',
  'file.duplicate',
  'file.failed',
  'file.retrying',
  'file.deferred',
  'file.quarantined',
  'file.held',
  'file.released',
  'file.cancelled',
  'daemon.paused',
  'daemon.resumed',
  'scan.finished',
  'progress',
  'stats',
] as const;

export type StreamType = (typeof STREAM_TYPES)[number];

/** Types kept in the ring and replayed: what happened, not how fast it went. */
export function isReplayed(type: string): boolean {
  return type !== 'progress' && type !== 'stats';
}

/** One event as the stream carries it, before it has an id. */
export interface StreamPayload {
  type: StreamType;
  data: Record<string, unknown>;
}

type Emit = (payload: StreamPayload) => void;
type Listeners = { [K in keyof IngestorEventMap]?: (...args: IngestorEventMap[K]) => void };

/**
 * The daemon's events as the stream names them. Returns what unsubscribes. The listeners only
 * build a small object and hand it on: the pipeline emits synchronously and must not wait.
 */
export function followDaemonEvents(events: IngestorEvents, emit: Emit): () => void {
  const file = (type: StreamType) => (data: object) =>
    emit({ type, data: data as Record<string, unknown> });
  const listeners: Listeners = {
    'file:complete': file('file.complete'),
    'file:committed': file('file.ingested'),
    'file:duplicate': file('file.duplicate'),
    'file:deferred': file('file.deferred'),
    'file:quarantined': file('file.quarantined'),
    'file:held': file('file.held'),
    'file:released': file('file.released'),
    'file:cancelled': file('file.cancelled'),
    'file:progress': file('progress'),
    // A failure the policy tries again is both: it failed, and it is retrying.
    'file:failed': (e) => {
      emit({ type: 'file.failed', data: e });
      if (e.kind === 'retry') emit({ type: 'file.retrying', data: e });
    },
    'pipeline:paused': (e) => emit({ type: 'daemon.paused', data: { kind: 'volume', ...e } }),
    'pipeline:resumed': (e) => emit({ type: 'daemon.resumed', data: { kind: 'volume', ...e } }),
    'operator:paused': file('daemon.paused'),
    'operator:resumed': file('daemon.resumed'),
    'scan:done': file('scan.finished'),
  };
  const entries = Object.entries(listeners) as [keyof IngestorEventMap, (...a: never[]) => void][];
  for (const [name, listener] of entries) events.on(name, listener as never);
  return () => {
    for (const [name, listener] of entries) events.off(name, listener as never);
  };
}
