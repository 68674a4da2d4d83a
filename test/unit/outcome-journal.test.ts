import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { IngestError, SourceReadError } from '../../src/errors.js';
import { IngestorEvents } from '../../src/events.js';
import type { Candidate } from '../../src/interfaces.js';
import { FailurePolicy } from '../../src/orchestrator/failure-policy.js';
import { OutcomeEvents } from '../../src/orchestrator/outcome-events.js';
import type { NewJournalEvent } from '../../src/state/store.js';

const candidate: Candidate = {
  path: '/in/a',
  relPath: 'a',
  identity: { device: 1, inode: 2, size: 3, mtimeMs: 4 },
  links: 1,
};

function setUp() {
  const journal: NewJournalEvent[] = [];
  const policy = new FailurePolicy({
    pipeline: {
      pause: () => {},
      quarantine: async () => ({ kind: 'deferred', reason: '' }),
      pausedReason: undefined,
    },
    store: { quarantinedInPlace: async () => [] },
    quarantinedInPlace: [],
    defer: () => {},
    clock: () => 10_000,
    options: { maxRetries: 8 },
  });
  const outcomes = new OutcomeEvents({
    events: new IngestorEvents(),
    logger: pino({ level: 'silent' }),
    clock: () => 10_000,
    policy,
    defer: () => {},
    lastIngestAt: undefined,
    journal: (e) => journal.push(e),
  });
  return { journal, outcomes };
}

describe('the journal of failures', () => {
  it('a transient read failure is journaled with class, code and attempt, and the retry it schedules', () => {
    const { journal, outcomes } = setUp();
    const eio = Object.assign(new Error('i/o error'), { code: 'EIO' });
    outcomes.report(candidate, { kind: 'failed', error: new SourceReadError('/in/a: EIO', eio) });
    outcomes.report(candidate, { kind: 'failed', error: new SourceReadError('/in/a: EIO', eio) });
    expect(journal.map((e) => [e.type, e.source, e.fileId, e.actor])).toEqual([
      ['failed', '/in/a', null, null],
      ['retry-scheduled', '/in/a', null, null],
      ['failed', '/in/a', null, null],
      ['retry-scheduled', '/in/a', null, null],
    ]);
    expect(journal[0]!.detail).toMatchObject({
      class: 'retry',
      code: 'INGEST_ERR_SOURCE_READ',
      cause: 'EIO',
      attempt: 1,
    });
    expect(journal[2]!.detail).toMatchObject({ attempt: 2 });
    expect(journal[3]!.detail).toMatchObject({ attempt: 3 });
  });

  it('a pause (a full volume) and a file that changed are not journaled per file', () => {
    const { journal, outcomes } = setUp();
    const full = Object.assign(new Error('no space'), { code: 'ENOSPC' });
    outcomes.report(candidate, { kind: 'failed', error: full });
    outcomes.report(candidate, {
      kind: 'deferred',
      reason: 'changed',
      code: new IngestError('INGEST_ERR_CHANGED', 'changed').code,
    });
    expect(journal).toEqual([]);
  });
});
