import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { IngestorEvents } from '../../src/events.js';
import { Pipeline } from '../../src/ingest/pipeline.js';
import { Orchestrator } from '../../src/orchestrator/orchestrator.js';
import { ManifestWriter } from '../../src/manifest/manifest-writer.js';
import { OpenHours } from '../../src/manifest/open-hours.js';
import type { IngestorOptions } from '../../src/options.js';
import { resolveOptions } from '../../src/options.js';
import { SqliteStateStore } from '../../src/state/sqlite-async.js';
import { openSqliteState } from '../../src/state/sqlite-store.js';
import { identityOf } from '../../src/identity.js';
import {
  expectExactlyOnce,
  filesUnder,
  makeDirs,
  manifestLines,
  mountTmpfs,
  verifyTree,
  writeOld,
} from '../helpers/ingestor.js';

const silent = pino({ level: 'silent' });

/** Options for the test tree `d`, with `extra` on top. */
const optionsFor = (d: ReturnType<typeof makeDirs>, extra: Partial<IngestorOptions> = {}) =>
  resolveOptions({
    input: d.input,
    warehouse: d.warehouse,
    manifests: d.manifests,
    statePath: d.state,
    ...extra,
  });

/** A pipeline on the real state and manifests of `d`, and a way to close it all. */
async function openPipeline(d: ReturnType<typeof makeDirs>) {
  fs.mkdirSync(d.warehouse, { recursive: true });
  const store = new SqliteStateStore(openSqliteState(d.state));
  const hours = new OpenHours(undefined);
  const manifest = new ManifestWriter(hours);
  const events = new IngestorEvents();
  const pipeline = await Pipeline.create({
    options: optionsFor(d),
    store,
    manifest,
    hours,
    clock: Date.now,
    crash: () => {},
    logger: silent,
    events,
  });
  const close = async () => {
    await pipeline.stop();
    await manifest.close();
    await store.close();
  };
  return { pipeline, store, events, close };
}

/** Writes `content` to `name` in the input (old enough to be complete) and hashes it. */
function prepareFile(
  pipeline: Pipeline,
  d: ReturnType<typeof makeDirs>,
  name: string,
  content: string,
) {
  const file = path.join(d.input, name);
  writeOld(file, content);
  const stat = fs.lstatSync(file);
  return pipeline.hashAndCopy({ path: file, relPath: name, identity: identityOf(stat), links: 1 });
}

describe('hostile conditions, in process (real files and state, controlled clock)', () => {
  it('--once takes every file even when more are waiting than the pending set holds', async () => {
    const d = makeDirs();
    const contents = Array.from({ length: 300 }, (_, i) => `fresh ${i}`);
    contents.forEach((c, i) => fs.writeFileSync(path.join(d.input, `f${i}.csv`), c));
    const options = optionsFor(d, { stabilitySeconds: 0.5, pendingCapacity: 100 });
    const ingestor = await Orchestrator.open(options, { logger: silent });
    const summary = await ingestor.runOnce();
    await ingestor.close();
    expect(summary.ingested).toBe(300);
    expectExactlyOnce(d, contents);
  });

  it('the clock moving backwards across an hour boundary: one line per content, no loss', async () => {
    const d = makeDirs();
    const options = optionsFor(d, { stabilitySeconds: 1 });
    // A clock that runs at real speed from a chosen instant, which each run moves.
    let base = 0;
    let realStart = 0;
    const clock = () => base + (Date.now() - realStart);
    const ingestOnceAt = async (at: number, names: string[]) => {
      base = at;
      realStart = Date.now();
      const dayBefore = new Date(at - 86_400_000);
      for (const n of names) {
        const file = path.join(d.input, n);
        if (!fs.existsSync(file)) fs.writeFileSync(file, `content of ${n}`);
        fs.utimesSync(file, dayBefore, dayBefore);
      }
      const ingestor = await Orchestrator.open(options, { logger: silent, clock });
      await ingestor.runOnce();
      await ingestor.close();
    };
    await ingestOnceAt(Date.UTC(2026, 0, 1, 11, 0, 5), ['a.csv', 'b.csv']);
    // NTP steps the clock back 10 s, across 11:00: this batch belongs to hour 10.
    fs.writeFileSync(path.join(d.input, 'a-again.csv'), 'content of a.csv');
    await ingestOnceAt(Date.UTC(2026, 0, 1, 10, 59, 55), ['c.csv', 'a-again.csv']);
    fs.writeFileSync(path.join(d.input, 'b-again.csv'), 'content of b.csv');
    await ingestOnceAt(Date.UTC(2026, 0, 1, 10, 59, 58), ['b-again.csv']);
    expect(
      filesUnder(d.manifests)
        .filter((f) => f.endsWith('.jsonl'))
        .sort(),
    ).toEqual(['2026/01/01/10/manifest.jsonl', '2026/01/01/11/manifest.jsonl']);
    expectExactlyOnce(d, ['content of a.csv', 'content of b.csv', 'content of c.csv']);
    const lines = manifestLines(d.manifests);
    expect(lines.find((l) => l.path.endsWith('c.csv'))!.ingested_at).toMatch(/^2026-01-01T10:59:5/);
    expect(filesUnder(path.join(d.warehouse, '_duplicates'))).toHaveLength(2);
    const verify = await verifyTree(d);
    expect(verify.code, verify.stdout).toBe(0);
  });

  it('a file that vanishes between hashing and moving is not recorded and leaves nothing', async () => {
    const d = makeDirs();
    const { pipeline, store, close } = await openPipeline(d);
    const prepared = await prepareFile(pipeline, d, 'ghost.csv', 'here, then gone');
    fs.unlinkSync(path.join(d.input, 'ghost.csv'));
    const outcome = await pipeline.ingestInNextBatch(prepared);
    expect(outcome.kind).toBe('failed');
    if (outcome.kind === 'failed') {
      expect((outcome.error as { code: string }).code).toBe('INGEST_ERR_VANISHED');
    }
    expect(await store.openIntents()).toEqual([]);
    expect(manifestLines(d.manifests)).toEqual([]);
    expect(filesUnder(d.warehouse).filter((f) => f.startsWith('ingest_date='))).toEqual([]);
    await close();
  });

  it('a batch that cannot be settled on a full manifests volume is held, then committed', async () => {
    const d = makeDirs();
    fs.mkdirSync(d.manifests);
    mountTmpfs(d.manifests, '64k');
    const { pipeline, store, events, close } = await openPipeline(d);
    pipeline.moreComing = () => true; // the three files join one batch
    // Room for the hour's directories (no blocks on a tmpfs), none for a line.
    spawnSync('sh', ['-c', `dd if=/dev/zero of=${d.manifests}/filler bs=4k 2>/dev/null; true`]);
    const contents = ['one', 'two', 'three'];
    const prepared = await Promise.all(
      contents.map((c, i) => prepareFile(pipeline, d, `f${i}.csv`, c)),
    );
    const latePrepared = await prepareFile(pipeline, d, 'late.csv', 'late');
    const paused = new Promise((resolve) => events.once('pipeline:paused', resolve));
    const outcomes = Promise.all(prepared.map((p) => pipeline.ingestInNextBatch(p)));
    await paused;
    // Moved but not yet settled: the files are in the warehouse and none is failed.
    expect(filesUnder(d.input)).toEqual(['late.csv']);
    expect(await store.openIntents()).toHaveLength(3);
    // A file that comes while the volume is still full is not held: the settlement that runs
    // before its batch fails, so it fails as paused and stays in the input.
    const lateOutcome = await pipeline.ingestInNextBatch(latePrepared);
    expect(lateOutcome.kind).toBe('failed');
    expect(filesUnder(d.input)).toEqual(['late.csv']);
    expect(await store.openIntents()).toHaveLength(3);
    fs.rmSync(path.join(d.manifests, 'filler'));
    // Nothing else is committed: the end of the pause alone settles the batch.
    expect((await outcomes).map((o) => o.kind)).toEqual(['committed', 'committed', 'committed']);
    expect(await store.openIntents()).toEqual([]);
    // What discovery does for a file that failed as paused: try it again.
    expect((await pipeline.ingestInNextBatch(latePrepared)).kind).toBe('committed');
    expectExactlyOnce(d, [...contents, 'late']);
    await close();
  });
});
