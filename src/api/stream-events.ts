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
  'file.retried',
  'daemon.paused',
  'daemon.resumed',
  'daemon.limits',
  'manifest.closed',
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
 * The daemon's events that follow a write to the state: the stream reads what was written (the
 * row, the journal's event) rather than sending the event itself, so that a live event and its
 * replay are the same, with the same place in the state (see event-ring.ts).
 */
const DURABLE_SIGNS: readonly (keyof IngestorEventMap)[] = [
  'recovery:done',
  'file:committed',
  'file:duplicate',
  'file:quarantined',
  'file:failed',
  'file:held',
  'file:released',
  'file:cancelled',
  'operator:paused',
  'operator:resumed',
  'manifest:closed',
];

function follow(events: IngestorEvents, listeners: Listeners): () => void {
  const entries = Object.entries(listeners) as [keyof IngestorEventMap, (...a: never[]) => void][];
  for (const [name, listener] of entries) events.on(name, listener as never);
  return () => {
    for (const [name, listener] of entries) events.off(name, listener as never);
  };
}

/**
 * Follows the daemon: `emit` gets the events the state does not keep (a file found complete,
 * progress, a full volume's pause, a scan), named as the stream names them; `written` is told
 * when the state has something new for the stream to read. Returns what unsubscribes. The
 * listeners only build a small object or set a flag: the pipeline emits synchronously and must
 * not wait.
 */
export function followDaemonEvents(
  events: IngestorEvents,
  emit: Emit,
  written: () => void,
): () => void {
  const live = (type: StreamType) => (data: object) =>
    emit({ type, data: data as Record<string, unknown> });
  const unfollowLive = follow(events, {
    'file:complete': live('file.complete'),
    'file:deferred': live('file.deferred'),
    'file:progress': live('progress'),
    'pipeline:paused': (e) => emit({ type: 'daemon.paused', data: { kind: 'volume', ...e } }),
    'pipeline:resumed': (e) => emit({ type: 'daemon.resumed', data: { kind: 'volume', ...e } }),
    'scan:done': live('scan.finished'),
  });
  const unfollowWritten = follow(
    events,
    Object.fromEntries(DURABLE_SIGNS.map((name) => [name, written])) as Listeners,
  );
  return () => {
    unfollowLive();
    unfollowWritten();
  };
}
