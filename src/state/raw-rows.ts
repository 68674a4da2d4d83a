import type { FileRow } from '../interfaces.js';
import { fromBytes } from '../paths.js';
import type { ClosedHour, Delivery, Hold, JournalEvent, JournalEventType } from './store.js';

// The rows of the journal, the holds, the outbox and the closed hours as both stores return
// them (SQLite's and PostgreSQL's columns have the same names; the pool returns BIGINT as
// numbers), and what each becomes.

/** A row of `events`. */
export interface RawEvent {
  id: number;
  file_id: number | null;
  source: Buffer | null;
  at: number;
  type: JournalEventType;
  actor: string | null;
  detail: string | null;
}

export function toEvent(raw: RawEvent): JournalEvent {
  return {
    id: raw.id,
    at: raw.at,
    type: raw.type,
    fileId: raw.file_id,
    source: raw.source === null ? null : fromBytes(raw.source),
    actor: raw.actor,
    detail: raw.detail === null ? null : (JSON.parse(raw.detail) as Record<string, unknown>),
  };
}

/** A row of `holds`. */
export interface RawHold {
  source: Buffer;
  device: number;
  inode: number;
  size: number;
  mtime_ms: number;
  actor: string;
  reason: Hold['reason'];
  at: number;
}

export function toHold(h: RawHold): Hold {
  return {
    source: fromBytes(h.source),
    identity: { device: h.device, inode: h.inode, size: h.size, mtimeMs: h.mtime_ms },
    actor: h.actor,
    reason: h.reason,
    at: h.at,
  };
}

/**
 * When a settled row's event happened: a release rewrites a quarantine row's committed_at, so
 * its quarantine is at its intent.
 */
export function rowAt(row: Pick<FileRow, 'kind' | 'intentAt' | 'committedAt'>): number {
  return row.kind === 'quarantine' ? row.intentAt : (row.committedAt ?? row.intentAt);
}

/** The event a settled row of each kind is in the durable stream. */
export const FILE_EVENT_TYPES = {
  ingest: 'ingested',
  duplicate: 'duplicate',
  quarantine: 'quarantined',
} as const;

/** A row of `webhook_outbox`. */
export interface RawDelivery {
  id: number;
  msg_id: string;
  endpoint: string;
  type: string;
  body: string;
  created_at: number;
  attempts: number;
  next_at: number | null;
  status: Delivery['status'];
  last_status: number | null;
  last_error: string | null;
  delivered_at: number | null;
}

export function toDelivery(raw: RawDelivery): Delivery {
  return {
    id: raw.id,
    msgId: raw.msg_id,
    endpoint: raw.endpoint,
    type: raw.type,
    body: raw.body,
    createdAt: raw.created_at,
    attempts: raw.attempts,
    nextAt: raw.next_at,
    status: raw.status,
    lastStatus: raw.last_status,
    lastError: raw.last_error,
    deliveredAt: raw.delivered_at,
  };
}

/** A row of `closed_hours`. */
export interface RawClosedHour {
  hour: number;
  manifest: string;
  lines: number;
  bytes: number;
  sha256: string;
  closed_at: number;
}

export function toClosedHour(raw: RawClosedHour): ClosedHour {
  const { hour, manifest, lines, bytes, sha256 } = raw;
  return { hour, manifest, lines, bytes, sha256, closedAt: raw.closed_at };
}
