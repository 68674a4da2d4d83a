import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { IngestorEvents } from '../../src/events.js';
import { identityOf } from '../../src/identity.js';
import { Pipeline } from '../../src/ingest/pipeline.js';
import { ManifestWriter } from '../../src/manifest/manifest-writer.js';
import { OpenHours } from '../../src/manifest/open-hours.js';
import { resolveOptions } from '../../src/options.js';
import { HourCloser } from '../../src/orchestrator/hour-closer.js';
import { SqliteStateStore } from '../../src/state/sqlite-async.js';
import { openSqliteState } from '../../src/state/sqlite-store.js';
import type { StateStore } from '../../src/state/store.js';
import { setUpApi, startWithApi } from '../helpers/api.js';
import {
  baseArgs,
  expectExactlyOnce,
  finished,
  makeDirs,
  manifestLines,
  mountTmpfs,
  output,
  run,
  start,
  verifyTree,
  waitFor,
  writeOld,
} from '../helpers/ingestor.js';
import type { Dirs, RunResult } from '../helpers/ingestor.js';
import { metricValue, metricsUrl, scrape } from '../helpers/metrics.js';
import { openStream } from '../helpers/sse.js';

const HOUR = 3_600_000;
const MINUTE = 60_000;
/** 2030-01-01T10:00:00Z: the hour each test's state begins in (the daemon's clock is moved). */
const H = Date.UTC(2030, 0, 1, 10);
const EMPTY_SHA = createHash('sha256').digest('hex');
const sha = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

/** The test hook that runs the daemon's clock at `atMs` now. */
const clockAt = (atMs: number) => ({ INGEST_TEST_CLOCK_OFFSET_MS: String(atMs - Date.now()) });

/** One `--once` pass with the daemon's clock at `atMs`. */
function onceAt(d: Dirs, atMs: number, env: Record<string, string> = {}): Promise<RunResult> {
  return run([...baseArgs(d), '--once', '--stability-seconds', '1'], {
    env: { ...clockAt(atMs), ...env },
  });
}

const dirOf = (d: Dirs, hour: number) =>
  path.join(d.manifests, new Date(hour).toISOString().slice(0, 13).replace(/[-T]/g, '/'));
const manifestOf = (d: Dirs, hour: number) => path.join(dirOf(d, hour), 'manifest.jsonl');
const successOf = (d: Dirs, hour: number) => path.join(dirOf(d, hour), '_SUCCESS');

interface Success {
  hour: string;
  lines: number;
  bytes: number;
  sha256: string;
  closedAt: string;
}

function readSuccess(d: Dirs, hour: number): Success | undefined {
  const file = successOf(d, hour);
  if (!fs.existsSync(file)) return undefined;
  const text = fs.readFileSync(file, 'utf8');
  expect(text.endsWith('}\n')).toBe(true);
  return JSON.parse(text) as Success;
}

/** What `_SUCCESS` must say of an hour's manifest as it is. */
function measured(d: Dirs, hour: number) {
  const bytes = fs.existsSync(manifestOf(d, hour)) ? fs.readFileSync(manifestOf(d, hour)) : '';
  const lines = bytes.toString().split('\n').length - 1;
  return { lines, bytes: bytes.length, sha256: sha(bytes) };
}

/** The state's closed hours and its `manifest-closed` journal events. */
function stateHours(d: Dirs): { closed: [number, number][]; events: number } {
  const db = new Database(d.state, { readonly: true });
  try {
    const closed = db
      .prepare(`SELECT hour, lines FROM closed_hours ORDER BY hour`)
      .all()
      .map((r) => [(r as { hour: number }).hour, (r as { lines: number }).lines]) as [
      number,
      number,
    ][];
    const { n } = db
      .prepare(`SELECT count(*) AS n FROM events WHERE type = 'manifest-closed'`)
      .get() as { n: number };
    return { closed, events: n };
  } finally {
    db.close();
  }
}

const logLines = (stdout: string, event: string) =>
  stdout
    .split('\n')
    .filter((l) => l.includes(`"event":"${event}"`))
    .map((l) => JSON.parse(l) as Record<string, unknown>);

interface VerifyJson {
  closedHours: number;
  problems: { kind: string; where: string; detail: string }[];
  advice: Record<string, string>;
}

async function verifyJson(d: Dirs): Promise<VerifyJson & { code: number | null }> {
  const r = await verifyTree(d, '--json');
  return { ...(JSON.parse(r.stdout) as VerifyJson), code: r.code };
}

describe('closed hours: _SUCCESS for every hour over', () => {
  it('writes _SUCCESS for past hours (empty ones too) and not for the current one', async () => {
    const d = makeDirs();
    writeOld(path.join(d.input, 'a.csv'), 'alpha\n');
    const first = await onceAt(d, H + 20 * MINUTE);
    expect(first.code, first.stderr).toBe(0);
    expect(fs.existsSync(manifestOf(d, H))).toBe(true);
    expect(fs.existsSync(successOf(d, H))).toBe(false); // the current hour

    // Three hours later: hours 10, 11 and 12 are over (11 and 12 without a file), 13 runs.
    writeOld(path.join(d.input, 'b.csv'), 'beta\n');
    const audit = await run([...baseArgs(d), '--dry-run'], {
      env: clockAt(H + 3 * HOUR + 20 * MINUTE),
    });
    expect(audit.code, audit.stderr).toBe(0);
    expect(fs.existsSync(successOf(d, H))).toBe(false); // a dry run writes nothing
    const second = await onceAt(d, H + 3 * HOUR + 20 * MINUTE);
    expect(second.code, second.stderr).toBe(0);
    const ten = readSuccess(d, H)!;
    expect(ten).toEqual({
      hour: '2030-01-01T10:00:00Z',
      ...measured(d, H),
      closedAt: expect.stringMatching(/^2030-01-01T13:2\d:\d\d\.\d{3}Z$/),
    });
    expect(ten.lines).toBe(1);
    for (const empty of [H + HOUR, H + 2 * HOUR]) {
      expect(fs.readFileSync(manifestOf(d, empty), 'utf8')).toBe('');
      expect(readSuccess(d, empty)).toMatchObject({ lines: 0, bytes: 0, sha256: EMPTY_SHA });
    }
    expect(fs.existsSync(successOf(d, H + 3 * HOUR))).toBe(false);
    expect(fs.readFileSync(manifestOf(d, H + 3 * HOUR), 'utf8')).toContain('b.csv');
    // One log line per hour closed, in order.
    expect(logLines(second.stdout, 'hour-closed').map((l) => [l.hour, l.lines])).toEqual([
      ['2030-01-01T10:00:00Z', 1],
      ['2030-01-01T11:00:00Z', 0],
      ['2030-01-01T12:00:00Z', 0],
    ]);
    expect(stateHours(d)).toEqual({
      closed: [
        [H, 1],
        [H + HOUR, 0],
        [H + 2 * HOUR, 0],
      ],
      events: 3,
    });
    const report = await verifyJson(d);
    expect(report).toMatchObject({ code: 0, closedHours: 3, problems: [] });
    const status = await run(['status', '--state-path', d.state]);
    expect(status.stdout).toContain(
      'hours        closed through 2030-01-01T12:00:00Z (its _SUCCESS written)',
    );
    const json = JSON.parse((await run(['status', '--state-path', d.state, '--json'])).stdout);
    expect(json.hours).toEqual({
      first: '2030-01-01T10:00:00Z',
      closedThrough: '2030-01-01T12:00:00Z',
      overNotClosed: 0,
    });
  });

  it('a running daemon closes the hour about a second after it ends, with its gauge', async () => {
    const d = makeDirs();
    writeOld(path.join(d.input, 'a.csv'), 'alpha\n');
    // 10:59:56: the file lands in hour 10, which ends four seconds later.
    const daemon = start([...baseArgs(d), '--stability-seconds', '0.3', '--metrics-port', '0'], {
      env: clockAt(H + HOUR - 4_000),
    });
    const url = await metricsUrl(daemon);
    await waitFor(() => manifestLines(d.manifests).length === 1, 10_000, 'a ingested');
    expect(metricValue(await scrape(url), 'ingestor_last_closed_hour_timestamp_seconds')).toBe(0);
    await waitFor(() => fs.existsSync(successOf(d, H)), 15_000, "hour 10's _SUCCESS");
    expect(readSuccess(d, H)).toMatchObject({ ...measured(d, H), lines: 1 });
    const closedAt = Date.parse(readSuccess(d, H)!.closedAt);
    // About a second after the hour (a timer may fire a millisecond early; a loaded machine late).
    expect(closedAt - (H + HOUR)).toBeGreaterThanOrEqual(990);
    expect(closedAt - (H + HOUR)).toBeLessThan(10_000);
    expect(metricValue(await scrape(url), 'ingestor_last_closed_hour_timestamp_seconds')).toBe(
      H / 1000,
    );
    // The next file goes to hour 11, which stays open.
    writeOld(path.join(d.input, 'b.csv'), 'beta\n');
    await waitFor(() => manifestLines(d.manifests).length === 2, 10_000, 'b ingested');
    expect(fs.readFileSync(manifestOf(d, H + HOUR), 'utf8')).toContain('b.csv');
    daemon.kill('SIGTERM');
    const r = await finished(daemon);
    expect(r.code, r.stderr).toBe(0);
    expect(fs.existsSync(successOf(d, H + HOUR))).toBe(false);
    expect(readSuccess(d, H)).toMatchObject({ lines: 1 });
    expect(logLines(r.stdout, 'hour-closed')).toHaveLength(1);
  });

  it('recovery across an hour boundary: the line lands in its hour, then _SUCCESS counts it', async () => {
    const d = makeDirs();
    writeOld(path.join(d.input, 'a.csv'), 'alpha\n');
    // Killed at 10:50 with the file placed and no line written: an intent of hour 10.
    const crashed = await onceAt(d, H + 50 * MINUTE, { INGEST_TEST_CRASH_AT: 'after-rename' });
    expect(crashed.signal).toBe('SIGKILL');
    expect(manifestLines(d.manifests)).toEqual([]);
    // At 11:10, killed again during recovery: hour 10 is not closed before it is settled.
    const inRecovery = await onceAt(d, H + HOUR + 10 * MINUTE, {
      INGEST_TEST_CRASH_AT: 'during-recovery',
    });
    expect(inRecovery.signal).toBe('SIGKILL');
    expect(fs.existsSync(successOf(d, H))).toBe(false);
    const restarted = await onceAt(d, H + HOUR + 10 * MINUTE);
    expect(restarted.code, restarted.stderr).toBe(0);
    // The line went to hour 10 (its intent's), and hour 10 closed after, counting it.
    expect(fs.readFileSync(manifestOf(d, H), 'utf8')).toContain('"ingested_at":"2030-01-01T10:5');
    expect(readSuccess(d, H)).toMatchObject({ ...measured(d, H), lines: 1 });
    const out = restarted.stdout;
    expect(out.indexOf('completed an interrupted ingest')).toBeGreaterThan(-1);
    expect(out.indexOf('"event":"hour-closed"')).toBeGreaterThan(
      out.indexOf('completed an interrupted ingest'),
    );
    expectExactlyOnce(d, ['alpha\n']);
    expect(await verifyJson(d)).toMatchObject({ code: 0, closedHours: 1, problems: [] });
  });

  it('a clock set back into a closed hour puts no line there', async () => {
    const d = makeDirs();
    writeOld(path.join(d.input, 'a.csv'), 'alpha\n');
    expect((await onceAt(d, H + 10 * MINUTE)).code).toBe(0);
    expect((await onceAt(d, H + HOUR + 10 * MINUTE)).code).toBe(0);
    const closed = fs.readFileSync(successOf(d, H), 'utf8');
    writeOld(path.join(d.input, 'c.csv'), 'gamma\n');
    const back = await onceAt(d, H + 30 * MINUTE); // 10:30 again
    expect(back.code, back.stderr).toBe(0);
    expect(logLines(back.stdout, 'clock-behind')).toHaveLength(1);
    const line = manifestLines(d.manifests).find((l) => l.path.endsWith('c.csv'))!;
    expect(line.ingested_at).toBe('2030-01-01T11:00:00.000Z');
    expect(fs.readFileSync(manifestOf(d, H + HOUR), 'utf8')).toContain('c.csv');
    expect(fs.readFileSync(successOf(d, H), 'utf8')).toBe(closed);
    expect(await verifyJson(d)).toMatchObject({ code: 0, problems: [] });
  });
});

describe('files held by a full manifests volume', () => {
  it('keep their hour open past its end; it closes once they are recorded, counting them', async () => {
    const d = makeDirs();
    fs.mkdirSync(d.manifests);
    mountTmpfs(d.manifests, '64k');
    // 10:59:52: the files' batch is held in hour 10 by the full volume when the hour ends.
    const env = clockAt(H + HOUR - 8_000);
    const offset = Number(env.INGEST_TEST_CLOCK_OFFSET_MS);
    const daemon = start([...baseArgs(d), '--stability-seconds', '0.3', '--scan-interval', '1'], {
      env,
    });
    await waitFor(() => output(daemon).stdout.includes('ingestor started'), 10_000, 'start');
    spawnSync('sh', ['-c', `dd if=/dev/zero of=${d.manifests}/filler bs=4k 2>/dev/null; true`]);
    for (let i = 0; i < 3; i += 1) writeOld(path.join(d.input, `f${i}.csv`), `held ${i}`);
    await waitFor(() => /"held":[1-9]/.test(output(daemon).stdout), 15_000, 'held');
    const db = new Database(d.state, { readonly: true });
    const intents = db
      .prepare(`SELECT intent_at AS at FROM files WHERE status = 'intent'`)
      .all() as { at: number }[];
    db.close();
    expect(intents.length).toBeGreaterThan(0);
    for (const { at } of intents) expect(at).toBeLessThan(H + HOUR);
    // 11:00:03 by the daemon's clock: hour 10 is over, and a pass ran at 11:00:01; its files
    // are held, so it was not even tried (the volume being full, a try would have failed).
    await new Promise((r) => setTimeout(r, Math.max(0, H + HOUR + 3_000 - offset - Date.now())));
    expect(logLines(output(daemon).stdout, 'close-failed')).toEqual([]);
    expect(fs.existsSync(successOf(d, H))).toBe(false);
    // Space returns: the pause's end records the held files in hour 10, then hour 10 closes.
    fs.rmSync(path.join(d.manifests, 'filler'));
    await waitFor(() => fs.existsSync(successOf(d, H)), 45_000, "hour 10's _SUCCESS");
    const lines = fs.readFileSync(manifestOf(d, H), 'utf8');
    expect(readSuccess(d, H)).toMatchObject(measured(d, H));
    expect(readSuccess(d, H)!.lines).toBe(lines.split('\n').length - 1);
    expect(readSuccess(d, H)!.lines).toBeGreaterThanOrEqual(intents.length);
    daemon.kill('SIGTERM');
    const r = await finished(daemon);
    expect(r.code, r.stderr).toBe(0);
    expectExactlyOnce(d, ['held 0', 'held 1', 'held 2']);
    expect(await verifyJson(d)).toMatchObject({ code: 0, problems: [] });
  });
});

describe('kill -9 at each step of closing an hour, then restart', () => {
  it.each([
    ['success-written', 'the temporary written', ['temporary-file']],
    ['success-renamed', '_SUCCESS published, not recorded', ['success-unexpected']],
    ['hour-closed', 'recorded, the event not emitted', []],
  ] as const)('%s (%s)', async (point, _what, problemsBetween) => {
    const d = makeDirs();
    writeOld(path.join(d.input, 'a.csv'), 'alpha\n');
    expect((await onceAt(d, H + 10 * MINUTE)).code).toBe(0);
    const killed = await onceAt(d, H + HOUR + 10 * MINUTE, { INGEST_TEST_CRASH_AT: point });
    expect(killed.signal).toBe('SIGKILL');
    const tmp = path.join(dirOf(d, H), '._SUCCESS.tmp');
    expect(fs.existsSync(tmp)).toBe(point === 'success-written');
    expect(fs.existsSync(successOf(d, H))).toBe(point !== 'success-written');
    expect(stateHours(d).closed).toHaveLength(point === 'hour-closed' ? 1 : 0);
    const between = await verifyJson(d);
    expect(between.problems.map((p) => p.kind)).toEqual(problemsBetween);
    const published = readSuccess(d, H);

    const restarted = await onceAt(d, H + HOUR + 20 * MINUTE);
    expect(restarted.code, restarted.stderr).toBe(0);
    expect(fs.existsSync(tmp)).toBe(false);
    expect(readSuccess(d, H)).toMatchObject({ ...measured(d, H), lines: 1 });
    // A _SUCCESS that was published stands as it was.
    if (published !== undefined) expect(readSuccess(d, H)).toEqual(published);
    expect(stateHours(d)).toEqual({ closed: [[H, 1]], events: 1 });
    expect(logLines(restarted.stdout, 'hour-closed')).toHaveLength(point === 'hour-closed' ? 0 : 1);
    expect(await verifyJson(d)).toMatchObject({ code: 0, closedHours: 1, problems: [] });
  });
});

describe('ingestor verify checks each _SUCCESS against its manifest and the state', () => {
  it('catches a manifest appended to or changed after its hour closed, and a deleted or foreign _SUCCESS', async () => {
    const d = makeDirs();
    writeOld(path.join(d.input, 'a.csv'), 'alpha\n');
    writeOld(path.join(d.input, 'b.csv'), 'beta\n');
    expect((await onceAt(d, H + 10 * MINUTE)).code).toBe(0);
    expect((await onceAt(d, H + 2 * HOUR + 10 * MINUTE)).code).toBe(0);
    expect(await verifyJson(d)).toMatchObject({ code: 0, closedHours: 2, problems: [] });
    const manifest = manifestOf(d, H);
    const original = fs.readFileSync(manifest);

    // Appended to after the close.
    fs.appendFileSync(
      manifest,
      original.toString().split('\n')[0]!.replace('a.csv', 'z.csv') + '\n',
    );
    let report = await verifyJson(d);
    expect(report.code).toBe(1);
    const appended = report.problems.find((p) => p.kind === 'success-mismatch')!;
    expect(appended.where).toBe(manifest);
    expect(appended.detail).toMatch(/appended to after its hour was closed at .*: 1 lines/);
    expect(report.advice['success-mismatch']).toMatch(/never writes to a closed hour/);
    const text = await verifyTree(d);
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/success-mismatch +.*manifest\.jsonl: appended to after/);

    // Changed in place (same size).
    fs.writeFileSync(manifest, Buffer.from(original.toString().replace('/a.csv', '/x.csv')));
    report = await verifyJson(d);
    expect(report.problems.find((p) => p.kind === 'success-mismatch')!.detail).toMatch(
      /^changed after its hour was closed/,
    );
    fs.writeFileSync(manifest, original);
    expect((await verifyJson(d)).problems).toEqual([]);

    // A deleted _SUCCESS: the detail gives the line to write back.
    const eleven = successOf(d, H + HOUR);
    const said = fs.readFileSync(eleven, 'utf8');
    fs.rmSync(eleven);
    report = await verifyJson(d);
    const missing = report.problems.find((p) => p.kind === 'success-missing')!;
    expect(missing.where).toBe(eleven);
    expect(missing.detail).toContain(said.trim());
    fs.writeFileSync(eleven, said);
    expect((await verifyJson(d)).problems).toEqual([]);

    // A _SUCCESS in an hour the state has not closed, and one that is not the ingestor's.
    fs.mkdirSync(dirOf(d, H + 2 * HOUR), { recursive: true });
    fs.writeFileSync(successOf(d, H + 2 * HOUR), fs.readFileSync(successOf(d, H)));
    fs.writeFileSync(successOf(d, H + HOUR), 'done\n');
    report = await verifyJson(d);
    expect(report.problems.map((p) => [p.kind, p.where])).toEqual([
      ['success-bad', eleven],
      ['success-bad', successOf(d, H + 2 * HOUR)],
    ]);
    expect(report.problems[1]!.detail).toMatch(/says hour 2030-01-01T10:00:00Z/);
    fs.writeFileSync(
      successOf(d, H + 2 * HOUR),
      fs.readFileSync(successOf(d, H)).toString().replace('T10:', 'T12:'),
    );
    fs.writeFileSync(eleven, said);
    report = await verifyJson(d);
    expect(report.problems.map((p) => p.kind)).toEqual(['success-mismatch', 'success-unexpected']);
    expect(report.problems[1]!.detail).toMatch(
      /state has not closed hour 2030-01-01T12:00:00Z \(closed through 2030-01-01T11:00:00Z\)/,
    );
  });
});

describe('the race at the boundary, in process', () => {
  it('a batch that read the clock at 10:59:59.999 and claims after 11:00 keeps hour 10 open until it commits', async () => {
    const d = makeDirs();
    fs.mkdirSync(d.warehouse, { recursive: true });
    const options = resolveOptions({
      input: d.input,
      warehouse: d.warehouse,
      manifests: d.manifests,
      statePath: d.state,
    });
    const real = new SqliteStateStore(openSqliteState(d.state));
    // The claim reaches the state only when the test lets it.
    let claimSent!: () => void;
    const claiming = new Promise<void>((resolve) => (claimSent = resolve));
    let letClaim!: () => void;
    const claimMayGo = new Promise<void>((resolve) => (letClaim = resolve));
    const store = new Proxy(real, {
      get(target, name) {
        if (name === 'claim') {
          return async (...args: Parameters<StateStore['claim']>) => {
            claimSent();
            await claimMayGo;
            return target.claim(...args);
          };
        }
        const value = Reflect.get(target, name, target) as unknown;
        return typeof value === 'function' ? value.bind(target) : value;
      },
    }) as StateStore;
    const clock = { now: H + HOUR - 1 };
    const marks = await real.beginHours(H, clock.now);
    const hours = new OpenHours(marks.closedThrough);
    const manifest = new ManifestWriter(hours);
    const silent = pino({ level: 'silent' });
    const deps = {
      options,
      store,
      manifest,
      hours,
      clock: () => clock.now,
      crash: () => {},
      logger: silent,
      events: new IngestorEvents(),
    };
    const pipeline = await Pipeline.create(deps);
    const closer = new HourCloser({ ...deps, marks });
    closer.start();
    try {
      const file = path.join(d.input, 'a.csv');
      writeOld(file, 'alpha\n');
      const hashed = await pipeline.hashAndCopy({
        path: file,
        relPath: 'a.csv',
        identity: identityOf(fs.lstatSync(file)),
        links: 1,
      });
      const outcome = pipeline.ingestInNextBatch(hashed);
      await claiming; // the batch took 10:59:59.999; its claim is on its way
      clock.now = H + HOUR + 5; // 11:00:00.005
      await closer.closeDue();
      expect(fs.existsSync(successOf(d, H))).toBe(false);
      letClaim();
      expect((await outcome).kind).toBe('committed');
      await waitFor(() => fs.existsSync(successOf(d, H)), 5_000, "hour 10's _SUCCESS");
      expect(readSuccess(d, H)).toMatchObject({ ...measured(d, H), lines: 1 });
      expect(manifestLines(d.manifests)[0]!.ingested_at).toBe('2030-01-01T10:59:59.999Z');
    } finally {
      letClaim(); // a failure above must not leave the batch waiting
      await closer.stop();
      await pipeline.stop();
      await manifest.close();
      await real.close();
    }
  });
});

describe('manifest.closed on the event stream', () => {
  it('is sent live when an hour closes, and replayed from the state', async () => {
    const s = setUpApi();
    const { daemon, port } = await startWithApi(s.d, s.certs, [], {
      env: clockAt(H + HOUR - 6_000), // time to start and connect before 11:00:01
    });
    const stream = await openStream({
      port,
      ca: s.ca,
      client: s.user,
      path: '/v1/events?types=manifest.closed',
    });
    await stream.until((events) => events.length === 1, 15_000, 'manifest.closed');
    const [closed] = stream.events;
    expect(closed!.type).toBe('manifest.closed');
    expect(closed!.data).toEqual({
      actor: null,
      at: expect.stringMatching(/^2030-01-01T11:00:0\d\.\d{3}Z$/),
      hour: '2030-01-01T10:00:00Z',
      manifest: manifestOf(s.d, H),
      lines: 0,
      bytes: 0,
      sha256: EMPTY_SHA,
    });
    stream.close();
    // A client that comes back from before it is replayed the same event from the state.
    const replayed = await openStream({
      port,
      ca: s.ca,
      client: s.user,
      path: '/v1/events?types=manifest.closed&file=nothing-of-a-file',
      lastEventId: 'MC4w', // the cursor of the very start (0.0)
    });
    await replayed.until((events) => events.length === 1, 10_000, 'the replay');
    expect(replayed.events[0]!.data).toEqual(closed!.data);
    replayed.close();
    daemon.kill('SIGTERM');
    const r = await finished(daemon);
    expect(r.code, output(daemon).stderr).toBe(0);
  });
});
