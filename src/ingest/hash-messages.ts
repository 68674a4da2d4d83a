// What the main thread and a hashing thread send each other: requests and replies (errors as
// plain data: see thread-errors.ts).
import type { FileIdentity } from '../interfaces.js';
import type { SerializedError } from '../thread-errors.js';
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

/** Stop the copy of request `cancel` at its next chunk (an operator's cancel): its copy is removed. */
export interface HashCancel {
  cancel: number;
}

/** What the main thread sends a hashing thread: a batch of requests, or a cancel. */
export type ToHashThread = HashRequest[] | HashCancel;

/** A hashing thread's answer to one request. */
export type HashReply =
  { id: number; ok: true; result: ReadResult } | { id: number; ok: false; error: SerializedError };

/**
 * How far a large read or a copy has got, sent by a hashing thread at most every
 * PROGRESS_INTERVAL_MS per job (small files, read in one synchronous pass, send none).
 */
export interface HashProgress {
  progress: number;
  bytesDone: number;
}

/**
 * A read of job `stuck` made no progress for the stall timeout and was abandoned (the job
 * fails with INGEST_ERR_READ_STALLED); the operation began at `since` (ms since the epoch) and
 * still holds a thread of the pool. Sent before the job's reply.
 */
export interface HashStuck {
  stuck: number;
  since: number;
}

/** The abandoned read of job `returned` has come back, and its descriptor is closed. */
export interface HashReturned {
  returned: number;
}

/** What a hashing thread posts: a batch of replies, one job's progress, or a stuck read's news. */
export type FromHashThread = HashReply[] | HashProgress | HashStuck | HashReturned;

/** At most this often per job: the event stream shows a few progress events a second. */
export const PROGRESS_INTERVAL_MS = 250;

/** What a hashing thread is started with. */
export interface HashThreadData {
  /** `--max-bytes-per-second`'s memory, shared by every thread that reads (see ByteRate). */
  readonly rate: SharedArrayBuffer;
  /**
   * `--read-stall-timeout` in ms, an Int32 in memory the main thread may change at run time;
   * null: reads are not watched.
   */
  readonly stall: SharedArrayBuffer | null;
  /** This thread's SyscallWatch: where the main thread sees a synchronous read that hangs. */
  readonly syscalls: SharedArrayBuffer;
}
