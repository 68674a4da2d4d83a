import path from 'node:path';
import type { Clock } from '../clock.js';
import { systemClock } from '../clock.js';
import fs from 'node:fs';
import { EXIT, describeError, hasCode } from '../errors.js';
import { classifyFailure } from '../ingest/failures.js';
import { LeaseKeeper } from '../ingest/lease.js';
import { IngestorEvents } from '../events.js';
import { readAndHash } from '../ingest/hasher.js';
import { freeName } from '../naming.js';
import type { Candidate } from '../interfaces.js';
import { createLogger } from '../ops/logger.js';
import type { Logger } from '../ops/logger.js';
import { Progress } from '../ops/progress.js';
import { partitionName, utcDate } from '../manifest/manifest-line.js';
import type { DaemonOptions, ResolvedOptions } from '../options/types.js';
import { baseName, displayPath } from '../paths.js';
import { openState } from '../state/open.js';
import { Discovery, discoveryOptionsOf } from '../watch/discovery.js';

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
  const store = await openState(options, { readonly: true });
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
      const committed = await store.findContent(sha256);
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
    ...discoveryOptionsOf(options),
    clock,
    logger: deps.logger,
    events,
    isBusy: () => false,
    submit: async (candidate) => {
      await examine(candidate);
      return true;
    },
    onWaiting: (p, _rel, why) => report({ action: 'wait', source: displayPath(p), reason: why }),
  });
  try {
    await discovery.scan();
  } finally {
    leases?.close();
    await store.close();
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

/**
 * `ingestor run --dry-run`: the audit's report on stdout (text or JSON lines), its logs on
 * stderr, a progress line on a terminal. Returns the exit code; `exit` ends the process at once
 * (bin/ingestor.ts passes `process.exit`) when the audit fails.
 */
export async function runDryRun(
  options: ResolvedOptions,
  d: DaemonOptions,
  exit: (code: number) => never,
): Promise<number> {
  const progress =
    process.stderr.isTTY === true ? new Progress(process.stderr, 'auditing') : undefined;
  const beforeWrite = () => progress?.clear();
  // The report owns stdout; logs go to stderr.
  const logger = createLogger(d.logLevel, {
    fd: 2,
    pretty: process.stderr.isTTY === true,
    beforeWrite,
  });
  // A reader that stops early (`ingestor --dry-run | head -2`) closes stdout: a write fails
  // with EPIPE (bin/ingestor.ts keeps that from ending the process). The audit then stops at
  // its next report, through dryRun's own cleanup (its snapshot of the state removed, leases
  // let go), rather than reading the rest of the input for nobody, and ends as a finished one.
  let readerGone = false;
  const stopped = new Error('stdout was closed by its reader');
  const write = (text: string) =>
    process.stdout.write(text, (error) => {
      if (hasCode(error, 'EPIPE')) readerGone = true;
    });
  progress?.start();
  try {
    const summary = await dryRun(options, {
      logger,
      report: (entry) => {
        if (readerGone) throw stopped;
        progress?.clear();
        progress?.add(entry.bytes ?? 0);
        write(`${d.json ? JSON.stringify(entry) : formatDryRunEntry(entry)}\n`);
      },
    });
    progress?.stop();
    const line = `dry-run: ${summary.ingest} to ingest, ${summary.duplicate} duplicates, ${summary.skip} skipped, ${summary.wait} not complete, ${summary.error} errors; nothing was changed`;
    write(d.json ? `${JSON.stringify({ summary })}\n` : `${line}\n`);
    logger.flush();
    return EXIT.ok;
  } catch (error) {
    progress?.stop();
    if (error === stopped) {
      logger.flush();
      return EXIT.ok;
    }
    process.stderr.write(`ingestor: ${describeError(error)}\n`);
    logger.flush();
    return exit(EXIT.failure);
  }
}
