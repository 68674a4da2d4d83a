import { MANIFEST_NAME } from '../../src/manifest/manifest-line.js';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { IngestorEvents } from '../../src/events.js';
import type { IngestorEventMap } from '../../src/events.js';
import { hourOfPath } from '../../src/manifest/hours.js';
import { ManifestWriter } from '../../src/manifest/manifest-writer.js';
import { OpenHours } from '../../src/manifest/open-hours.js';
import { formatSuccess, measureManifest, parseSuccess } from '../../src/manifest/success-marker.js';
import { HourCloser } from '../../src/orchestrator/hour-closer.js';
import { SqliteStateStore } from '../../src/state/sqlite-async.js';
import { openSqliteState } from '../../src/state/sqlite-store.js';

const HOUR = 3_600_000;
/** 2030-01-01T10:00:00Z: the hour the tests' states begin in. */
const H = Date.UTC(2030, 0, 1, 10);
const EMPTY_SHA = createHash('sha256').digest('hex');
const silent = pino({ level: 'silent' });
const sha = (text: string) => createHash('sha256').update(text).digest('hex');

const closing: { closer: HourCloser; store: SqliteStateStore }[] = [];
afterEach(async () => {
  for (const { closer, store } of closing.splice(0)) {
    await closer.stop();
    await store.close();
  }
});

/** A closer on a real state and manifests directory, whose clock the test sets. */
async function makeCloser(options: { firstHour?: number } = {}) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'hours-'));
  const manifests = path.join(root, 'mf');
  const store = new SqliteStateStore(openSqliteState(path.join(root, 'state.db')));
  const clock = { now: H + 10 * 60_000 };
  const marks = await store.beginHours(options.firstHour ?? H, clock.now);
  const hours = new OpenHours(marks.closedThrough, silent);
  const events = new IngestorEvents();
  const closed: IngestorEventMap['manifest:closed'][0][] = [];
  events.on('manifest:closed', (e) => closed.push(e));
  // How often the closer asked the state whether an hour may close: a pass's cost.
  let asked = 0;
  const closer = new HourCloser({
    options: { manifests, manifestName: MANIFEST_NAME },
    store: {
      hourMarks: () => store.hourMarks(),
      closingTurn: () => store.closingTurn(),
      earliestOpenLineAt: () => {
        asked += 1;
        return store.earliestOpenLineAt();
      },
      closeHour: (closed) => store.closeHour(closed),
      beginHours: (hour, at) => store.beginHours(hour, at),
    },
    hours,
    marks,
    clock: () => clock.now,
    crash: () => {},
    logger: silent,
    events,
  });
  closing.push({ closer, store });
  const manifestOf = (hour: number) =>
    path.join(manifests, new Date(hour).toISOString().slice(0, 13).replace(/[-T]/g, '/'));
  return {
    root,
    manifests,
    store,
    clock,
    hours,
    closer,
    closed,
    dirOf: manifestOf,
    asked: () => asked,
  };
}

describe('OpenHours: the hours a line may still land in', () => {
  it('holds the hour of each batch in memory from its instant until it leaves', () => {
    const hours = new OpenHours(undefined);
    const a = hours.enter(H + HOUR - 1);
    const b = hours.enter(H + HOUR + 5);
    expect(a.at).toBe(H + HOUR - 1);
    expect(hours.busyThrough(H)).toBe(true);
    expect(hours.busyThrough(H - HOUR)).toBe(false);
    a.leave();
    a.leave(); // twice is once
    expect(hours.busyThrough(H)).toBe(false);
    expect(hours.busyThrough(H + HOUR)).toBe(true);
    b.leave();
    expect(hours.busyThrough(H + HOUR)).toBe(false);
  });

  it('refuses to seal an hour a batch holds, and moves a clock set back to the first open hour', () => {
    const hours = new OpenHours(undefined);
    const a = hours.enter(H + 1);
    expect(() => hours.seal(H)).toThrow(/a batch in memory holds it/);
    a.leave();
    hours.seal(H);
    expect(hours.isSealed(H)).toBe(true);
    expect(hours.isSealed(H + HOUR)).toBe(false);
    const late = hours.enter(H + 30 * 60_000);
    expect(late.at).toBe(H + HOUR);
    expect(hours.busyThrough(H)).toBe(false);
    expect(hours.busyThrough(H + HOUR)).toBe(true);
    late.leave();
  });

  it('names the hour of a manifest path, whatever the root; none for other shapes', () => {
    expect(hourOfPath('/srv/mf/2030/01/01/10/manifest.jsonl')).toBe(H);
    expect(hourOfPath('2030/01/01/10/_SUCCESS')).toBe(H);
    expect(hourOfPath('/srv/mf/2030/13/01/10/manifest.jsonl')).toBeUndefined();
    expect(hourOfPath('/srv/mf/manifest.jsonl')).toBeUndefined();
  });

  it('the manifest writer refuses a line for a sealed hour, writing nothing', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'hours-'));
    const hours = new OpenHours(undefined);
    const writer = new ManifestWriter(hours);
    const file = path.join(root, '2030/01/01/10/manifest.jsonl');
    await writer.append(file, 'one\n');
    hours.seal(H);
    await expect(writer.append(file, 'two\n')).rejects.toMatchObject({
      code: 'INGEST_ERR_HOUR_CLOSED',
      message: expect.stringMatching(/its hour 2030-01-01T10:00:00Z is closed/),
    });
    await writer.append(path.join(root, '2030/01/01/11/manifest.jsonl'), 'three\n');
    await writer.close();
    expect(fs.readFileSync(file, 'utf8')).toBe('one\n');
  });
});

describe('_SUCCESS', () => {
  it('is one JSON line, and parses back', () => {
    const marker = { hour: H, lines: 2, bytes: 10, sha256: 'a'.repeat(64), closedAt: H + HOUR + 5 };
    const text = formatSuccess(marker);
    expect(text).toBe(
      `{"hour":"2030-01-01T10:00:00Z","lines":2,"bytes":10,"sha256":"${'a'.repeat(64)}","closedAt":"2030-01-01T11:00:00.005Z"}\n`,
    );
    expect(parseSuccess(text)).toEqual(marker);
    expect(parseSuccess('{"hour":"x"}')).toMatch(/hour, lines, bytes, sha256, closedAt/);
    expect(parseSuccess('nope')).toBe('not valid JSON');
  });

  it('measures a manifest: lines, bytes, hash, and the hash of its first bytes', async () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'hours-')), 'm');
    expect(await measureManifest(file)).toEqual({ lines: 0, bytes: 0, sha256: EMPTY_SHA });
    fs.writeFileSync(file, 'a\nbb\nccc\n');
    expect(await measureManifest(file, 5)).toEqual({
      lines: 3,
      bytes: 9,
      sha256: sha('a\nbb\nccc\n'),
      prefixSha256: sha('a\nbb\n'),
    });
  });
});

describe('HourCloser', () => {
  it('closes past hours in order, an empty one with 0 lines, and not the current hour', async () => {
    const t = await makeCloser();
    fs.mkdirSync(t.dirOf(H), { recursive: true });
    fs.writeFileSync(path.join(t.dirOf(H), 'manifest.jsonl'), '{"a":1}\n{"b":2}\n');
    t.clock.now = H + 2 * HOUR + 60_000; // hours 10 and 11 are over, 12 runs
    await t.closer.closeDue();
    expect(t.closed.map((e) => [e.hour, e.lines])).toEqual([
      ['2030-01-01T10:00:00Z', 2],
      ['2030-01-01T11:00:00Z', 0],
    ]);
    const ten = parseSuccess(fs.readFileSync(path.join(t.dirOf(H), '_SUCCESS'), 'utf8'));
    expect(ten).toEqual({
      hour: H,
      lines: 2,
      bytes: 16,
      sha256: sha('{"a":1}\n{"b":2}\n'),
      closedAt: t.clock.now,
    });
    // The empty hour has its directory, an empty manifest and a _SUCCESS that says so.
    expect(fs.readFileSync(path.join(t.dirOf(H + HOUR), 'manifest.jsonl'), 'utf8')).toBe('');
    expect(
      parseSuccess(fs.readFileSync(path.join(t.dirOf(H + HOUR), '_SUCCESS'), 'utf8')),
    ).toMatchObject({ lines: 0, bytes: 0, sha256: EMPTY_SHA });
    expect(fs.existsSync(t.dirOf(H + 2 * HOUR))).toBe(false);
    expect(fs.existsSync(path.join(t.dirOf(H), '._SUCCESS.tmp'))).toBe(false);
    expect(await t.store.hourMarks()).toEqual({ firstHour: H, closedThrough: H + HOUR });
    expect(t.closer.closedThrough).toBe(H + HOUR);
    expect(t.hours.isSealed(H + HOUR)).toBe(true);
    expect(t.hours.isSealed(H + 2 * HOUR)).toBe(false);
  });

  it('writes nothing for hours before the first (a state older than closed hours)', async () => {
    const t = await makeCloser({ firstHour: H + 3 * HOUR });
    t.clock.now = H + 4 * HOUR + 1;
    await t.closer.closeDue();
    expect(t.closed.map((e) => e.hour)).toEqual(['2030-01-01T13:00:00Z']);
    expect(fs.readdirSync(path.join(t.manifests, '2030/01/01'))).toEqual(['13']);
  });

  it('THE RACE: a batch that took its instant at 10:59:59.999 keeps hour 10 open until it ends', async () => {
    const t = await makeCloser();
    const writer = new ManifestWriter(t.hours);
    t.closer.start();
    t.clock.now = H + HOUR - 1; // 10:59:59.999: the batch takes its instant...
    const batch = t.hours.enter(t.clock.now);
    t.clock.now = H + HOUR + 5; // ...its claim is still on its way at 11:00:00.005
    await t.closer.closeDue();
    expect(t.closed).toEqual([]);
    expect(t.hours.isSealed(H)).toBe(false);
    // The batch appends its line and ends: hour 10 closes then, with the line counted.
    await writer.append(path.join(t.dirOf(batch.at), 'manifest.jsonl'), 'late\n');
    batch.leave();
    await waitUntil(() => t.closed.length === 1);
    expect(t.closed[0]).toMatchObject({ hour: '2030-01-01T10:00:00Z', lines: 1, bytes: 5 });
    // And nothing lands in it any more.
    await expect(
      writer.append(path.join(t.dirOf(H), 'manifest.jsonl'), 'later\n'),
    ).rejects.toMatchObject({ code: 'INGEST_ERR_HOUR_CLOSED' });
    await writer.close();
  });

  it("an open intent in the state keeps its hour open until it is settled, whoever's it was", async () => {
    const t = await makeCloser();
    t.closer.start();
    const identity = { device: 1, inode: 2, size: 3, mtimeMs: 4 };
    const [claimed] = await t.store.claim(
      [
        {
          sha256: 'a'.repeat(64),
          source: '/in/a',
          identity,
          sidecar: null,
          completedAt: 1,
          hashMs: 1,
        },
      ],
      H + HOUR - 10,
      { partition: '/wh/p', duplicates: null, manifest: path.join(t.dirOf(H), 'manifest.jsonl') },
    );
    t.clock.now = H + 3 * HOUR + 1;
    await t.closer.closeDue();
    expect(t.closed).toEqual([]);
    // A batch of another hour ending does not settle it: no pass, no close.
    t.hours.enter(t.clock.now).leave();
    await new Promise((r) => setTimeout(r, 20));
    expect(t.closed).toEqual([]);
    // Settled (as recovery or a held batch's settlement would): hours 10 to 12 close.
    if (claimed!.outcome !== 'ingest') throw new Error('unreachable');
    await t.store.finish([{ id: claimed.row.id, status: 'aborted' }], t.clock.now);
    t.hours.settled();
    await waitUntil(() => t.closed.length === 3);
    expect(t.closed.map((e) => e.hour)).toEqual([
      '2030-01-01T10:00:00Z',
      '2030-01-01T11:00:00Z',
      '2030-01-01T12:00:00Z',
    ]);
  });

  it('a close redone after a kill keeps a _SUCCESS that says the same, and replaces one that does not', async () => {
    const t = await makeCloser();
    fs.mkdirSync(t.dirOf(H), { recursive: true });
    fs.mkdirSync(t.dirOf(H + HOUR), { recursive: true });
    const published = { hour: H, lines: 0, bytes: 0, sha256: EMPTY_SHA, closedAt: H + HOUR + 7 };
    fs.writeFileSync(path.join(t.dirOf(H), '_SUCCESS'), formatSuccess(published));
    fs.writeFileSync(path.join(t.dirOf(H + HOUR), '_SUCCESS'), '{"someone":"else"}\n');
    t.clock.now = H + 2 * HOUR + 1;
    await t.closer.closeDue();
    expect(fs.readFileSync(path.join(t.dirOf(H), '_SUCCESS'), 'utf8')).toBe(
      formatSuccess(published),
    );
    expect((await t.store.closedHours())[0]!.closedAt).toBe(published.closedAt);
    expect(
      parseSuccess(fs.readFileSync(path.join(t.dirOf(H + HOUR), '_SUCCESS'), 'utf8')),
    ).toMatchObject({ hour: H + HOUR, lines: 0, closedAt: t.clock.now });
  });

  it('a close that fails is tried again, and no line lands in its hour meanwhile', async () => {
    const t = await makeCloser();
    // The hour's directory cannot be made: a file is where it goes.
    fs.mkdirSync(path.dirname(t.dirOf(H)), { recursive: true });
    fs.writeFileSync(t.dirOf(H), 'in the way');
    t.clock.now = H + HOUR + 1;
    await t.closer.closeDue();
    expect(t.closed).toEqual([]);
    expect(t.hours.isSealed(H)).toBe(true);
    fs.rmSync(t.dirOf(H));
    await t.closer.closeDue();
    expect(t.closed.map((e) => e.hour)).toEqual(['2030-01-01T10:00:00Z']);
  });

  it('a close that fails is not tried again at the end of every batch of the hours after it', async () => {
    const t = await makeCloser();
    fs.mkdirSync(path.dirname(t.dirOf(H)), { recursive: true });
    fs.writeFileSync(t.dirOf(H), 'in the way');
    t.clock.now = H + HOUR + 1;
    t.closer.start();
    await waitUntil(() => t.asked() === 1);
    await new Promise((r) => setTimeout(r, 20));
    for (let i = 0; i < 10; i += 1) t.hours.enter(t.clock.now).leave();
    await new Promise((r) => setTimeout(r, 20));
    expect(t.asked()).toBe(1);
    expect(t.closed).toEqual([]);
  });
});

async function waitUntil(check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}
