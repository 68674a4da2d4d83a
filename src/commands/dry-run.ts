import path from 'node:path';
import type { Clock } from '../clock.js';
import { systemClock } from '../clock.js';
import fs from 'node:fs';
import { describeError } from '../errors.js';
import { classifyFailure } from '../ingest/failures.js';
import { LeaseKeeper } from '../ingest/lease.js';
import { IngestorEvents } from '../events.js';
import { readAndHash } from '../ingest/hasher.js';
import { freeName } from '../ingest/naming.js';
import type { Candidate } from '../interfaces.js';
import type { Logger } from '../ops/logger.js';
import { partitionName, utcDate } from '../manifest/manifest-line.js';
import type { ResolvedOptions } from '../options.js';
import { baseName, displayPath } from '../paths.js';
import { openState } from '../state/open.js';
import { Discovery } from '../watch/discovery.js';
import { createNameFilter } from '../watch/filters.js';

export type DryRunAction = 'ingest' | 'duplicate' | 'skip' | 'wait' | 'error';

export interface DryRunEntry {
  action: DryRunAction;
  source: string;
  /** Where the file would go (ingest, duplicate moved). */
  dest?: string;
  sha256?: string;
  bytes?: number;
  /** For a duplicate: the file already holding this content. */
  original?: string;
  /** For skip, wait and error: why. */
  reason?: string;
}

export type DryRunSummary = Record<DryRunAction, number>;

/**
 * An audit that writes nothing: walks the input as the daemon would, hashes what is complete,
 * and says for every file what would happen. The state is opened read-only (a missing state is
 * an empty one); no lock is taken, so it may run beside the daemon.
 */
export async function dryRun(
  options: ResolvedOptions,
  deps: { logger: Logger; report(entry: DryRunEntry): void; clock?: Clock },
): Promise<DryRunSummary> {
  const clock = deps.clock ?? systemClock;
  const summary: DryRunSummary = { ingest: 0, duplicate: 0, skip: 0, wait: 0, error: 0 };
  const report = (entry: DryRunEntry) => {
    summary[entry.action] += 1;
    deps.report(entry);
  };
  const store = openState(options, { readonly: true });
  // Installs the SIGIO handler that a lease needs before the first one is taken.
  const leases = options.mode === 'stability' ? new LeaseKeeper() : undefined;
  const events = new IngestorEvents();
  events.on('file:skipped', ({ source, reason }) => report({ action: 'skip', source, reason }));
  const now = clock();
  const partition = path.join(options.warehouse, partitionName(now));
  const duplicates = path.join(options.duplicatesDir, utcDate(now));
  const seen = new Map<string, string>();
  const reserved = new Set<string>();
  const destFor = (candidate: Candidate, sha256: string, dir: string) =>
    displayPath(freeName(dir, baseName(candidate.path), sha256, reserved));
  const examine = async (candidate: Candidate) => {
    const source = displayPath(candidate.path);
    try {
      // Read under a lease as the daemon would (a file open for writing is reported as
      // waiting), let go at once: the audit keeps no writer waiting.
      const read = await readAndHash(
        candidate.path,
        candidate.identity,
        undefined,
        undefined,
        leases !== undefined,
      );
      if (read.leaseFd !== null) fs.closeSync(read.leaseFd);
      const { sha256, identity } = read;
      const bytes = identity.size;
      const committed = store.findContent(sha256);
      const original = committed !== undefined ? displayPath(committed.source) : seen.get(sha256);
      if (original !== undefined) {
        const dest =
          options.onDuplicate === 'move' ? destFor(candidate, sha256, duplicates) : undefined;
        report({
          action: 'duplicate',
          source,
          sha256,
          bytes,
          original,
          ...(dest === undefined ? {} : { dest }),
        });
        return;
      }
      seen.set(sha256, source);
      report({
        action: 'ingest',
        source,
        sha256,
        bytes,
        dest: destFor(candidate, sha256, partition),
      });
    } catch (error) {
      const changed = classifyFailure(error) === 'changed';
      report({ action: changed ? 'wait' : 'error', source, reason: describeError(error) });
    }
  };
  const discovery = new Discovery({
    input: options.input,
    mode: options.mode,
    stabilityMs: options.stabilityMs,
    filter: createNameFilter(options),
    clock,
    logger: deps.logger,
    events,
    isBusy: () => false,
    submit: examine,
    onWaiting: (p, _rel, why) => report({ action: 'wait', source: displayPath(p), reason: why }),
    pendingCapacity: options.pendingCapacity,
  });
  try {
    await discovery.scan();
  } finally {
    leases?.close();
    store.close();
  }
  return summary;
}

/** One line of the human-readable report. */
export function formatDryRunEntry(e: DryRunEntry): string {
  switch (e.action) {
    case 'ingest':
      return `ingest     ${e.source} -> ${e.dest} (${e.bytes} bytes, sha256 ${e.sha256})`;
    case 'duplicate':
      return `duplicate  ${e.source} same content as ${e.original}${e.dest === undefined ? ' (would be deleted)' : ` -> ${e.dest}`}`;
    case 'skip':
      return `skip       ${e.source} (${e.reason})`;
    case 'wait':
      return `wait       ${e.source} (not complete: ${e.reason})`;
    case 'error':
      return `error      ${e.source} (${e.reason})`;
  }
}
