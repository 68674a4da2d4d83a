import type { IngestorEventMap } from '../events.js';
import type { FileRow } from '../interfaces.js';
import { isNoDest } from '../naming.js';
import { displayPath } from '../paths.js';
import type { DurableEvent, DurableMark, JournalEventType, StateReader } from '../state/store.js';
import type { FollowPage, ReplayPage, ReplayedEvent } from './control.js';

/** Journal events whose stream name is not `file.<type>`. */
const JOURNAL_STREAM_TYPES: Partial<Record<JournalEventType, string>> = {
  'retry-scheduled': 'file.retrying',
  paused: 'daemon.paused',
  resumed: 'daemon.resumed',
  limits: 'daemon.limits',
  'manifest-closed': 'manifest.closed',
};

type Data = Record<string, unknown>;
type Payload<K extends keyof IngestorEventMap> = IngestorEventMap[K][0];

/*
 * A file's durable events carry the same data whether they are sent live (built from the
 * daemon's event, which has the row at hand) or replayed (built from the state's row):
 *
 *   file.ingested     id, source, dest, sha256, bytes, latencyMs, hashMs, manifest
 *   file.duplicate    id, source, dest, sha256, bytes, duplicateOf { id, source }
 *   file.quarantined  id, source, dest, reason
 *
 * `latencyMs` is from complete to committed; live, it is measured as the commit is reported,
 * so a replay may differ from it by a millisecond or two.
 */

export function liveIngested(e: Payload<'file:committed'>): Data {
  const { id, source, dest, sha256, bytes, ms, hashMs, manifest } = e;
  return { id, source, dest, sha256, bytes, latencyMs: ms, hashMs, manifest };
}

export function liveDuplicate(e: Payload<'file:duplicate'>): Data {
  const { id, source, dest, sha256, bytes, original, originalId } = e;
  return { id, source, dest, sha256, bytes, duplicateOf: { id: originalId, source: original } };
}

export function liveQuarantined(e: Payload<'file:quarantined'>): Data {
  const { id, source, dest, reason } = e;
  return { id, source, dest, reason };
}

const destOf = (row: FileRow) => (isNoDest(row.dest) ? null : displayPath(row.dest));

/** A file event's data from its row (`original`: a duplicate's ingested row, if kept). */
export function fileEventData(row: FileRow, original: FileRow | undefined): Data {
  const source = displayPath(row.source);
  if (row.kind === 'quarantine') {
    return { id: row.id, source, dest: destOf(row), reason: row.error ?? 'unknown' };
  }
  const common = { id: row.id, source, dest: destOf(row), sha256: row.sha256, bytes: row.size };
  if (row.kind === 'duplicate') {
    const duplicateOf = {
      id: row.duplicateOf,
      source: original === undefined ? null : displayPath(original.source),
    };
    return { ...common, duplicateOf };
  }
  return {
    ...common,
    latencyMs:
      row.committedAt !== null && row.completedAt !== null
        ? row.committedAt - row.completedAt
        : null,
    hashMs: row.hashMs === null ? null : Math.round(row.hashMs * 10) / 10,
    manifest: row.manifest ?? '',
  };
}

/**
 * A journal event as the stream sends it: the file's id and source (when it has them), who did
 * it (`actor`, null for the daemon), when, and what the journal says of it. An operator's pause
 * and resume carry `kind: "operator"`, as a full volume's (live only) carry `kind: "volume"`.
 * `manifest.closed` carries its hour, manifest, lines, bytes and sha256.
 */
export function journalStreamEvent(mark: Extract<DurableMark, { kind: 'journal' }>): ReplayedEvent {
  const j = mark.event;
  // A closed hour is the daemon's own doing, about no file: its detail says which hour.
  const about =
    j.type === 'manifest-closed'
      ? {}
      : j.fileId === null && j.source === null
        ? { kind: 'operator' }
        : { id: j.fileId, source: j.source === null ? null : displayPath(j.source) };
  // A scheduled retry's detail says when (`at`, ms): `retryAt`, beside the event's own `at`.
  const { at: retryAt, ...detail } = j.detail ?? {};
  return {
    cursor: mark.cursor,
    type: JOURNAL_STREAM_TYPES[j.type] ?? `file.${j.type}`,
    at: mark.at,
    data: {
      ...about,
      actor: j.actor,
      at: new Date(j.at).toISOString(),
      ...detail,
      ...(typeof retryAt === 'number' ? { retryAt: new Date(retryAt).toISOString() } : {}),
    },
  };
}

/** A file row's event data, its duplicate's original read from the state. */
export async function rowEventData(state: StateReader, row: FileRow): Promise<Data> {
  const original =
    row.kind === 'duplicate' && row.duplicateOf !== null
      ? await state.getRow(row.duplicateOf)
      : undefined;
  return fileEventData(row, original);
}

/** Durable events as the event stream sends them, each duplicate's original read once. */
async function streamEvents(
  events: readonly DurableEvent[],
  state: StateReader,
): Promise<ReplayedEvent[]> {
  const originals = new Map<number, FileRow | undefined>();
  const out: ReplayedEvent[] = [];
  for (const event of events) {
    if (event.kind === 'journal') {
      out.push(journalStreamEvent(event));
      continue;
    }
    const { row } = event;
    let original: FileRow | undefined;
    if (row.kind === 'duplicate' && row.duplicateOf !== null) {
      if (!originals.has(row.duplicateOf)) {
        originals.set(row.duplicateOf, await state.getRow(row.duplicateOf));
      }
      original = originals.get(row.duplicateOf);
    }
    out.push({
      cursor: event.cursor,
      type: `file.${event.type}`,
      at: event.at,
      data: fileEventData(row, original),
    });
  }
  return out;
}

/** A page of the state's durable events as the stream sends them. */
export async function replayPage(
  state: StateReader,
  cursor: string | undefined,
  limit: number,
  until?: string,
): Promise<ReplayPage> {
  const page = await state.eventsAfter(cursor, limit, until);
  return {
    events: await streamEvents(page.events, state),
    cursor: page.cursor,
    more: page.events.length === limit,
  };
}

/** A page of durable events for the stream to follow by (see `DaemonControl.followAfter`). */
export async function followPage(
  state: StateReader,
  cursor: string,
  limit: number,
): Promise<FollowPage> {
  const page = await state.eventMarksAfter(cursor, limit);
  return {
    events: page.events.map((mark) =>
      mark.kind === 'journal'
        ? journalStreamEvent(mark)
        : { cursor: mark.cursor, type: `file.${mark.type}`, at: mark.at, fileId: mark.id },
    ),
    cursor: page.cursor,
    more: page.events.length === limit,
  };
}
