import type { FileRow } from '../interfaces.js';
import { fileView } from '../ops/file-view.js';
import { displayPath } from '../paths.js';

/** Why an operator's call was refused: the API answers 404 or 409 with the message. */
export class ControlRefusal extends Error {
  readonly refusal: 'not-found' | 'conflict';

  constructor(refusal: 'not-found' | 'conflict', message: string) {
    super(message);
    this.name = 'ControlRefusal';
    this.refusal = refusal;
  }
}

/** A row id as actions take it: digits, no sign, no leading zero. */
export const ROW_ID = /^[1-9][0-9]{0,14}$/;

/** What a row is, as a refusal says it (by `fileView`'s status). */
const ROW_IS: Readonly<Record<string, string>> = {
  __proto__: null,
  ingested: 'ingested',
  duplicate: 'a duplicate, already settled',
  quarantined: 'quarantined',
  released: 'released from quarantine (put back into the input)',
  'in-flight': 'being placed in the warehouse',
  aborted: 'aborted (rolled back)',
  vanished: 'vanished (gone before it was placed)',
} as unknown as Record<string, string>;

/** What a row is, in words, for a refusal. */
export function rowIs(row: FileRow): string {
  const status = fileView(row, undefined).status;
  return ROW_IS[status] ?? status;
}

/** The action that a file with a row of this status may take instead, if any. */
function insteadFor(id: string, status: string, action: string): string {
  if (status === 'quarantined') return `retry it instead (POST /v1/files/${id}/retry)`;
  if (status === 'released') {
    return `its new arrival has a pending id: ${action} that one (GET /v1/pending lists it)`;
  }
  if (status === 'in-flight' && action !== 'release') {
    return `it can no longer be ${action === 'cancel' ? 'cancelled' : 'held'}`;
  }
  const takes = {
    hold: 'a file that waits (pending or backing off)',
    cancel: 'a file being read or copied',
    release: 'a held file',
  }[action as 'hold' | 'cancel' | 'release'];
  return `${action} takes ${takes}, by its pending id (GET /v1/pending lists them)`;
}

/** The refusal of a hold, cancel or release asked by the row id of a file that has a row. */
export function notPending(
  row: FileRow,
  id: string,
  action: 'hold' | 'cancel' | 'release',
): ControlRefusal {
  const status = fileView(row, undefined).status;
  return new ControlRefusal(
    'conflict',
    `file ${id} (${displayPath(row.source)}) is ${rowIs(row)}, not pending: ${insteadFor(id, status, action)}`,
  );
}
