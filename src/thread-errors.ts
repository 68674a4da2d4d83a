// Errors cross between threads as plain data: an Error's own properties, such as its code and
// its cause, do not survive structured cloning, and the failure policy decides on codes.
import { IngestError, SourceReadError, errnoCode } from './errors.js';

export interface SerializedError {
  name: string;
  code: string | undefined;
  message: string;
  causeCode: string | undefined;
  causeMessage: string | undefined;
}

/** Errors cross the thread boundary as plain data; this keeps what the classification needs. */
export function serializeError(error: unknown): SerializedError {
  const e = error instanceof Error ? error : new Error(String(error));
  return {
    name: e.name,
    code: errnoCode(e),
    message: e.message,
    causeCode: errnoCode(e.cause),
    causeMessage: e.cause instanceof Error ? e.cause.message : undefined,
  };
}

export function deserializeError(s: SerializedError): Error {
  const cause =
    s.causeMessage === undefined
      ? undefined
      : Object.assign(new Error(s.causeMessage), { code: s.causeCode });
  if (s.name === 'SourceReadError') return new SourceReadError(s.message, cause);
  // A caller's mistake (a malformed cursor): the API answers it with a 400.
  if (s.name === 'TypeError') return new TypeError(s.message, { cause });
  if (s.code?.startsWith('INGEST_ERR_') === true) {
    return new IngestError(s.code as never, s.message, { cause });
  }
  return Object.assign(new Error(s.message, { cause }), { code: s.code });
}
