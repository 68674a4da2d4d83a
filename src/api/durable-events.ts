import type { FileRow } from '../interfaces.js';
import { fileViews } from '../ops/file-view.js';
import { displayPath } from '../paths.js';
import type { DurableEvent, JournalEventType, StateReader } from '../state/store.js';
import type { ReplayPage, ReplayedEvent } from './control.js';

/** Journal events whose stream name is not `file.<type>`. */
const JOURNAL_STREAM_TYPES: Partial<Record<JournalEventType, string>> = {
  'retry-scheduled': 'file.retrying',
  paused: 'daemon.paused',
  resumed: 'daemon.resumed',
  limits: 'daemon.limits',
};

/** The stream's name of a journal event type. */
export function journalStreamType(type: JournalEventType): string {
  return JOURNAL_STREAM_TYPES[type] ?? `file.${type}`;
}

/**
 * Durable events as the event stream sends them. A file event's data is the file as
 * `GET /v1/files/:id` shows it (a duplicate's original read once per page); a journal event's
 * is the file's id and source (when it has them), who did it (`actor`, null for the daemon)
 * and what the journal says of it. An operator's pause and resume carry `kind: "operator"`, as
 * a full volume's live ones carry `kind: "volume"`.
 */
export async function streamEvents(
  events: readonly DurableEvent[],
  getRow: StateReader['getRow'],
): Promise<ReplayedEvent[]> {
  const rows: FileRow[] = events.flatMap((e) => (e.kind === 'file' ? [e.row] : []));
  const views = await fileViews(rows, getRow);
  let r = 0;
  return events.map((event) => {
    if (event.kind === 'file') {
      const view = views[r]!;
      r += 1;
      return { cursor: event.cursor, type: `file.${event.type}`, at: event.at, data: { ...view } };
    }
    const j = event.event;
    const type = journalStreamType(j.type);
    const about =
      j.fileId === null && j.source === null
        ? { kind: 'operator' }
        : { id: j.fileId, source: j.source === null ? null : displayPath(j.source) };
    return {
      cursor: event.cursor,
      type,
      at: event.at,
      data: { ...about, actor: j.actor, at: new Date(j.at).toISOString(), ...j.detail },
    };
  });
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
    events: await streamEvents(page.events, (id) => state.getRow(id)),
    cursor: page.cursor,
    more: page.events.length === limit,
  };
}
