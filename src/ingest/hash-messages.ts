// What the main thread and a hashing thread send each other: requests, replies, and errors as
// plain data (an Error's own properties, such as its code, do not survive structured cloning).
import { IngestError, errnoCode } from '../errors.js';
import type { FileIdentity } from '../interfaces.js';
import { SourceReadError } from './failures.js';
import type { ReadResult } from './hasher.js';

/** One file for a hashing thread to read. */
export interface HashRequest {
  id: number;
  path: Uint8Array;
  expected: FileIdentity;
  copyTo: Uint8Array | null;
  /** Take a read lease and keep the descriptor open for the main thread (see lease.ts). */
  lease: boolean;
}

/** A hashing thread's answer to one request. */
export type HashReply =
  { id: number; ok: true; result: ReadResult } | { id: number; ok: false; error: SerializedError };

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
  if (s.code?.startsWith('INGEST_ERR_') === true) {
    return new IngestError(s.code as never, s.message, { cause });
  }
  return Object.assign(new Error(s.message, { cause }), { code: s.code });
}
