import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import type { Dirs } from '../helpers/ingestor.js';
import {
  expectExactlyOnce,
  filesUnder,
  finished,
  makeDirs,
  manifestLines,
  output,
  run,
  start,
  waitFor,
} from '../helpers/ingestor.js';
import type { Postgres } from '../helpers/postgres.js';
import { removeAllPostgres, startPostgres } from '../helpers/postgres.js';

let server: Postgres;

beforeAll(async () => {
  server = await startPostgres();
}, 60_000);
afterAll(() => removeAllPostgres());

const freshState = (): string => server.database('daemons');

/** A daemon of the group: its own node id, the shared input, warehouse, manifests and state. */
function daemon(
  d: Dirs,
  url: string,
  node: string,
  extra: string[] = [],
  env: Record<string, string> = {},
): ChildProcess {
  return start(
    [
      'run',
      '--input',
      d.input,
      '--warehouse',
      d.warehouse,
      '--manifests',
      d.manifests,
      '--state-url',
      url,
      '--node-id',
      node,
      '--stability-seconds',
      '0.5',
      '--scan-interval',
      '1',
      ...extra,
    ],
    { env },
  );
}

/** Whether a process is stopped (SIGSTOP): `T` in /proc/PID/stat. */
function stopped(pid: number): boolean {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).startsWith('T');
}

/** What a process that does not stop is doing: its threads' wait channels and signal masks. */
function procState(pid: number): string {
  try {
    const status = fs
      .readFileSync(`/proc/${pid}/status`, 'utf8')
      .split('\n')
      .filter((l) => /^(State|Sig|Threads)/.test(l));
    const tasks = fs.readdirSync(`/proc/${pid}/task`).map((t) => {
      const wchan = fs.readFileSync(`/proc/${pid}/task/${t}/wchan`, 'utf8');
      const comm = fs.readFileSync(`/proc/${pid}/task/${t}/comm`, 'utf8').trim();
      return `${t}:${comm}:${wchan}`;
    });
    return `${status.join(' ')} tasks ${tasks.join(' ')}`;
  } catch (error) {
    return String(error);
  }
}

/** Stops every daemon with SIGTERM and checks each ended cleanly. */
async function stopAll(daemons: ChildProcess[]): Promise<string[]> {
  for (const p of daemons) p.kill('SIGTERM');
  const results = await Promise.all(
    daemons.map((p) =>
      finished(p, 60_000).catch((error: unknown) => {
        const tail = output(p).stdout.split('\n').slice(-15).join('\n');
        throw new Error(`${String(error)}\n${tail}\n${procState(p.pid!)}`);
      }),
    ),
  );
  for (const r of results) expect(r.code, r.stderr).toBe(0);
  return results.map((r) => r.stdout);
}

async function verifyClean(d: Dirs, url: string): Promise<void> {
  const verify = await run(
    ['verify', '--warehouse', d.warehouse, '--manifests', d.manifests, '--state-url', url],
    { timeoutMs: 120_000 },
  );
  expect(verify.stdout).toMatch(/OK, no problems/);
  expect(verify.code).toBe(0);
}

/** Files written at once, with an old mtime so they are complete when seen. */
function writeMany(dir: string, files: [string, string][]): void {
  const old = new Date(Date.now() - 120_000);
  for (const [name, content] of files) {
    const file = path.join(dir, name);
    fs.writeFileSync(file, content);
    fs.utimesSync(file, old, old);
  }
}

const inputLeft = (d: Dirs) => fs.readdirSync(d.input).filter((n) => !n.startsWith('.')).length;

describe('several daemons on one input and one PostgreSQL state', () => {
  it('three daemons, 20,000 files, some resent under new names: each content once, one line each, verify clean', async () => {
    const d = makeDirs();
    const url = freshState();
    const contents = Array.from({ length: 20_000 }, (_, i) => `content ${i}\n`);
    const resent = contents.slice(0, 1_000);
    const daemons = ['a', 'b', 'c'].map((node) => daemon(d, url, node));
    writeMany(d.input, [
      ...contents.map((c, i): [string, string] => [`f${i}.csv`, c]),
      ...resent.map((c, i): [string, string] => [`again-${i}.csv`, c]),
    ]);
    try {
      await waitFor(() => inputLeft(d) === 0, 180_000, 'the input to empty');
    } catch (error) {
      for (const p of daemons) {
        const out = output(p);
        console.log(
          out.stdout
            .split('\n')
            .filter((l) => !/"level":30/.test(l) || /took over|lease|paused/.test(l))
            .slice(-30)
            .join('\n'),
          out.stderr,
        );
      }
      console.log('left', inputLeft(d));
      throw error;
    }
    for (const p of daemons) p.kill('SIGTERM');
    const results = await Promise.all(daemons.map((p) => finished(p, 60_000)));
    for (const r of results) {
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
    }
    expectExactlyOnce(d, contents);
    // Each daemon wrote its own manifest, and took a share of the files.
    const perNode = new Map<string, number>();
    for (const f of filesUnder(d.manifests).filter((f) => f.endsWith('.jsonl'))) {
      const node = /manifest\.(\w+)\.jsonl$/.exec(f)?.[1] ?? 'none';
      const lines = fs.readFileSync(path.join(d.manifests, f), 'utf8').split('\n').length - 1;
      perNode.set(node, (perNode.get(node) ?? 0) + lines);
    }
    expect([...perNode.keys()].sort()).toEqual(['a', 'b', 'c']);
    for (const n of perNode.values()) expect(n).toBeGreaterThan(3_000);
    expect(manifestLines(d.manifests)).toHaveLength(20_000);
    const duplicates = filesUnder(path.join(d.warehouse, '_duplicates'));
    expect(duplicates).toHaveLength(1_000);
    const verify = await run(
      ['verify', '--warehouse', d.warehouse, '--manifests', d.manifests, '--state-url', url],
      { timeoutMs: 120_000 },
    );
    expect(verify.stderr).toBe('');
    expect(verify.code).toBe(0);
    const status = JSON.parse((await run(['status', '--state-url', url, '--json'])).stdout) as {
      ingested: { files: number };
      duplicates: number;
      inFlight: number;
      daemons: { nodeId: string; live: boolean; stoppedAt: string | null }[];
    };
    // Each daemon listed, stopped cleanly (its lease given back).
    expect(status.daemons.map((x) => [x.nodeId, x.live, x.stoppedAt !== null])).toEqual([
      ['a', false, true],
      ['b', false, true],
      ['c', false, true],
    ]);
    const text = await run(['status', '--state-url', url]);
    expect(text.stdout).toMatch(/^daemon {7}a on .* \(pid \d+\): stopped at /m);
    expect(status.ingested.files).toBe(20_000);
    expect(status.duplicates).toBe(1_000);
    expect(status.inFlight).toBe(0);
  }, 300_000);

  for (const point of ['after-intent', 'after-rename', 'after-manifest'] as const) {
    it(`a daemon frozen ${point} past its lease: a survivor takes its files over, and once woken it places, appends and commits none of them`, async () => {
      const d = makeDirs();
      const url = freshState();
      const lease = ['--lease-seconds', '3'];
      const frozen = daemon(d, url, 'a', lease, { INGEST_TEST_CRASH_AT: `${point}:1:stop` });
      const contents = Array.from({ length: 300 }, (_, i) => `frozen ${point} ${i}\n`);
      writeMany(
        d.input,
        contents.map((c, i): [string, string] => [`f${i}.csv`, c]),
      );
      await waitFor(() => stopped(frozen.pid!), 30_000, 'daemon a to freeze');
      const survivor = daemon(d, url, 'b', lease);
      await waitFor(() => inputLeft(d) === 0, 60_000, 'the survivor to take everything');
      // Its intents were taken over: by the survivor's start (it found the lease run out) or
      // by its takeover pass.
      await waitFor(
        () =>
          /took over \d+ files|"rolledBack":[1-9]|"rolledForward":[1-9]/.test(
            output(survivor).stdout,
          ),
        30_000,
        'the takeover',
      );
      frozen.kill('SIGCONT');
      await waitFor(
        () => /restarting in place after losing the lease/.test(output(frozen).stdout),
        30_000,
        'daemon a to notice it lost its lease',
      );
      // It restarts in place (the same process), and ingests what comes next.
      const more = ['after the wake 1\n', 'after the wake 2\n'];
      writeMany(d.input, [
        ['late-1.csv', more[0]!],
        ['late-2.csv', more[1]!],
      ]);
      await waitFor(() => inputLeft(d) === 0, 60_000, 'the last files');
      await new Promise((r) => setTimeout(r, 1_500)); // a late step of the woken daemon would land now
      const logs = await stopAll([frozen, survivor]);
      expect(logs[0]).toMatch(/lost its lease/);
      expectExactlyOnce(d, [...contents, ...more]);
      await verifyClean(d, url);
    }, 180_000);
  }

  it('a daemon killed with intents in flight: a survivor settles them once its lease runs out', async () => {
    const d = makeDirs();
    const url = freshState();
    const lease = ['--lease-seconds', '3'];
    const killed = daemon(d, url, 'a', lease, { INGEST_TEST_CRASH_AT: 'after-rename' });
    const contents = Array.from({ length: 300 }, (_, i) => `killed ${i}\n`);
    writeMany(
      d.input,
      contents.map((c, i): [string, string] => [`f${i}.csv`, c]),
    );
    const end = await finished(killed, 30_000);
    expect(end.signal).toBe('SIGKILL');
    const survivor = daemon(d, url, 'b', lease);
    await waitFor(() => inputLeft(d) === 0, 60_000, 'the survivor to take everything');
    await waitFor(
      () => /took over \d+ files/.test(output(survivor).stdout),
      30_000,
      'the takeover line',
    );
    await stopAll([survivor]);
    expectExactlyOnce(d, contents);
    await verifyClean(d, url);
  }, 120_000);

  it('PostgreSQL restarting during a run: ingestion pauses with a line naming the database, resumes by itself, nothing lost or doubled', async () => {
    const d = makeDirs();
    const url = freshState();
    const daemons = ['a', 'b'].map((node) => daemon(d, url, node, ['--lease-seconds', '4']));
    const contents: string[] = [];
    let n = 0;
    const drop = (count: number) => {
      const batch = Array.from({ length: count }, () => `restart ${(n += 1)}\n`);
      contents.push(...batch);
      writeMany(
        d.input,
        batch.map((c): [string, string] => [`r${contents.indexOf(c)}.csv`, c]),
      );
    };
    drop(500);
    await waitFor(() => inputLeft(d) < 400, 30_000, 'ingestion to start');
    server.stop();
    drop(300);
    // Down for longer than the lease: each daemon loses it, restarts in place, and waits.
    await new Promise((r) => setTimeout(r, 6_000));
    server.start();
    drop(200);
    await waitFor(() => inputLeft(d) === 0, 120_000, 'every file after the restart');
    const logs = await stopAll(daemons);
    const all = logs.join('\n');
    expect(all).toMatch(/does not answer/);
    expectExactlyOnce(d, contents);
    await verifyClean(d, url);
  }, 240_000);

  it('an hour written by two daemons closes once, its _SUCCESS listing both manifests', async () => {
    const d = makeDirs();
    const url = freshState();
    // The clock 8 s before the end of an hour.
    const hourEnd = Math.ceil(Date.now() / 3_600_000) * 3_600_000 + 3_600_000;
    const env = { INGEST_TEST_CLOCK_OFFSET_MS: String(hourEnd - 8_000 - Date.now()) };
    const daemons = ['a', 'b'].map((node) => daemon(d, url, node, [], env));
    await waitFor(
      () => daemons.every((p) => /ingestor started/.test(output(p).stdout)),
      20_000,
      'both daemons',
    );
    await new Promise((r) => setTimeout(r, 1_200)); // each has read the list of daemons
    const contents = Array.from({ length: 200 }, (_, i) => `hour ${i}\n`);
    writeMany(
      d.input,
      contents.map((c, i): [string, string] => [`h${i}.csv`, c]),
    );
    await waitFor(() => inputLeft(d) === 0, 30_000, 'the files');
    const hour = hourEnd - 3_600_000;
    const dir = path.join(
      d.manifests,
      new Date(hour).toISOString().slice(0, 13).replace(/[-T]/g, '/'),
    );
    await waitFor(() => fs.existsSync(path.join(dir, '_SUCCESS')), 30_000, '_SUCCESS');
    const success = JSON.parse(fs.readFileSync(path.join(dir, '_SUCCESS'), 'utf8')) as {
      lines: number;
      manifests: { name: string; lines: number }[];
    };
    expect(success.manifests.map((m) => m.name)).toEqual(['manifest.a.jsonl', 'manifest.b.jsonl']);
    expect(success.lines).toBe(200);
    await stopAll(daemons);
    await verifyClean(d, url);
  }, 120_000);

  it("an operator's pause in the shared state pauses every daemon, and its end resumes them all", async () => {
    const d = makeDirs();
    const url = freshState();
    const daemons = ['a', 'b'].map((node) => daemon(d, url, node));
    await waitFor(
      () => daemons.every((p) => /ingestor started/.test(output(p).stdout)),
      20_000,
      'both daemons',
    );
    // What `ctl pause` asked of one daemon writes: the setting in the shared state.
    const db = url.slice(url.lastIndexOf('/') + 1);
    server.sql(
      `\\c ${db}\nINSERT INTO settings (key, value, at) VALUES ('operator-pause', '{"by":"CN=alice","since":${Date.now()}}', 0);`,
    );
    await waitFor(
      () => daemons.every((p) => /ingestion paused by CN=alice/.test(output(p).stdout)),
      10_000,
      'both paused',
    );
    writeMany(d.input, [['held.csv', 'held while paused\n']]);
    await new Promise((r) => setTimeout(r, 2_500));
    expect(inputLeft(d)).toBe(1);
    server.sql(`\\c ${db}\nDELETE FROM settings WHERE key = 'operator-pause';`);
    await waitFor(() => inputLeft(d) === 0, 20_000, 'ingestion to resume');
    for (const p of daemons) expect(output(p).stdout).toMatch(/ingestion resumed/);
    await stopAll(daemons);
    expectExactlyOnce(d, ['held while paused\n']);
  }, 60_000);
});
