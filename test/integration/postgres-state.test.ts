import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Dirs } from '../helpers/ingestor.js';
import {
  baseArgs,
  expectExactlyOnce,
  filesUnder,
  finished,
  makeDirs,
  manifestLines,
  output,
  run,
  start,
  waitFor,
  writeOld,
} from '../helpers/ingestor.js';
import { apiArgs, apiPort, ctlArgs, request, setUpApi } from '../helpers/api.js';
import type { Postgres } from '../helpers/postgres.js';
import { openStream } from '../helpers/sse.js';
import { freePort, removeAllPostgres, startPostgres } from '../helpers/postgres.js';

let server: Postgres;

beforeAll(async () => {
  server = await startPostgres();
}, 60_000);
afterAll(() => removeAllPostgres());

/** A database of the test's own in the shared cluster: a state as fresh as a new file. */
const freshState = (): string => server.database('state');

function pgArgs(d: Dirs, url: string): string[] {
  return [
    '--input',
    d.input,
    '--warehouse',
    d.warehouse,
    '--manifests',
    d.manifests,
    '--state-url',
    url,
  ];
}

describe('one daemon on a PostgreSQL state', () => {
  it('ingests each content once, sees a resent content as a duplicate, and status, list and verify read it', async () => {
    const d = makeDirs();
    const url = freshState();
    const contents = Array.from({ length: 40 }, (_, i) => `row ${i}\n`);
    contents.forEach((c, i) => writeOld(path.join(d.input, `f${i}.csv`), c));
    const first = await run(['run', ...pgArgs(d, url), '--once', '--stability-seconds', '0.2']);
    expect(first.stderr).toMatch(/^ingestor: 40 ingested, 0 duplicates, 0 failed/);
    expect(first.code).toBe(0);
    expectExactlyOnce(d, contents);
    // The same content again under a new name: a duplicate, not a second line.
    writeOld(path.join(d.input, 'again.csv'), contents[3]!);
    const second = await run(['run', ...pgArgs(d, url), '--once', '--stability-seconds', '0.2']);
    expect(second.code).toBe(0);
    expect(manifestLines(d.manifests)).toHaveLength(40);
    expect(filesUnder(path.join(d.warehouse, '_duplicates')).map((f) => path.basename(f))).toEqual([
      'again.csv',
    ]);
    // Nothing of the SQLite state: no file beside the manifests.
    expect(fs.existsSync(path.join(d.manifests, 'ingestor.db'))).toBe(false);

    const status = await run(['status', '--state-url', url, '--json']);
    expect(status.code).toBe(0);
    const report = JSON.parse(status.stdout) as { ingested: { files: number }; duplicates: number };
    expect(report.ingested.files).toBe(40);
    expect(report.duplicates).toBe(1);
    const list = await run(['list', '--state-url', url, '--json', '--limit', '5']);
    expect(list.code).toBe(0);
    expect(list.stdout.trim().split('\n')).toHaveLength(5);
    const verify = await run([
      'verify',
      '--warehouse',
      d.warehouse,
      '--manifests',
      d.manifests,
      '--state-url',
      url,
    ]);
    expect(verify.stderr).toBe('');
    expect(verify.stdout).toMatch(
      /40 lines, 40 warehouse files, 41 state rows; 1 duplicate files$/m,
    );
    expect(verify.code).toBe(0);
  }, 120_000);

  it('runs as a daemon: files that arrive are ingested, and a SIGTERM stops it cleanly', async () => {
    const d = makeDirs();
    const url = freshState();
    const daemon = start(['run', ...pgArgs(d, url), '--stability-seconds', '0.2']);
    const contents = Array.from({ length: 30 }, (_, i) => `live ${i}\n`);
    for (const [i, c] of contents.entries()) writeOld(path.join(d.input, `l${i}.csv`), c);
    await waitFor(() => manifestLines(d.manifests).length === 30, 30_000, 'every line');
    daemon.kill('SIGTERM');
    const result = await finished(daemon);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('');
    expectExactlyOnce(d, contents);
  }, 120_000);
});

describe('one input, one state, PostgreSQL or not', () => {
  it('refuses a daemon with another state (SQLite, or another database) on the input of daemons sharing one', async () => {
    const d = makeDirs();
    const url = freshState();
    const shared = start([
      'run',
      ...pgArgs(d, url),
      '--node-id',
      'a',
      '--stability-seconds',
      '0.2',
    ]);
    await waitFor(() => output(shared).stdout.includes('ingestor started'), 20_000, 'start');
    // Another daemon of the same state shares the input.
    const same = start(['run', ...pgArgs(d, url), '--node-id', 'b', '--stability-seconds', '0.2']);
    await waitFor(() => output(same).stdout.includes('ingestor started'), 20_000, 'the second');
    // A SQLite state, and another database, on that input: refused before anything is read.
    const sqlite = await run(['run', ...baseArgs(d), '--once']);
    expect(sqlite.code).toBe(1);
    expect(sqlite.stderr).toMatch(/another ingestor with another state is ingesting --input/);
    const other = await run(['run', ...pgArgs(d, freshState()), '--node-id', 'c', '--once']);
    expect(other.code).toBe(1);
    expect(other.stderr).toMatch(/another ingestor with another state is ingesting --input/);
    for (const p of [shared, same]) p.kill('SIGTERM');
    for (const p of [shared, same]) expect((await finished(p)).code).toBe(0);
  }, 120_000);
});

describe('the control API and ctl on a PostgreSQL state', () => {
  it('lists files, shows one with its history, replays the durable events, and ctl reads the status', async () => {
    const { d, certs, ca, admin } = setUpApi();
    const url = freshState();
    const daemon = start([
      'run',
      ...pgArgs(d, url),
      '--stability-seconds',
      '0.2',
      '--scan-interval',
      '1',
      ...apiArgs(certs),
    ]);
    const port = await apiPort(daemon);
    // Followed live for the first six files...
    const live = await openStream({
      port,
      ca,
      client: admin,
      path: '/v1/events?types=file.ingested',
    });
    for (let i = 0; i < 6; i += 1) writeOld(path.join(d.input, `api${i}.csv`), `api ${i}\n`);
    await live.until((e) => e.length === 6, 30_000, 'six live events');
    live.close();
    const last = live.events.at(-1)!.id!;
    // ...then six more while no one follows: a client that comes back with its last id gets
    // those six from the state, each once.
    for (let i = 6; i < 12; i += 1) writeOld(path.join(d.input, `api${i}.csv`), `api ${i}\n`);
    await waitFor(() => manifestLines(d.manifests).length === 12, 30_000, 'the files');
    const back = await openStream({
      port,
      ca,
      client: admin,
      path: '/v1/events?types=file.ingested',
      lastEventId: last,
    });
    await back.until((e) => e.length >= 6, 30_000, 'the replayed events');
    await new Promise((r) => setTimeout(r, 500));
    back.close();
    const replayed = back.events.map((e) => String(e.data.source));
    expect(new Set(replayed).size).toBe(6);
    expect(replayed.every((source) => /api([6-9]|1[01])\.csv$/.test(source))).toBe(true);
    const files = await request({ port, ca, client: admin, path: '/v1/files?limit=5' });
    expect(files.status).toBe(200);
    const page = files.body as { files: { id: number; status: string }[] };
    expect(page.files).toHaveLength(5);
    const one = await request({ port, ca, client: admin, path: `/v1/files/${page.files[0]!.id}` });
    expect(one.status).toBe(200);
    const status = await run(['ctl', 'status', '--json', ...ctlArgs(certs, port)]);
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ files: { ingested: { files: 12 } } });
    daemon.kill('SIGTERM');
    expect((await finished(daemon)).code).toBe(0);
  }, 120_000);
});

describe('a PostgreSQL state that cannot be used', () => {
  const attempt = async (url: string) => {
    const d = makeDirs();
    writeOld(path.join(d.input, 'kept.csv'), 'kept\n');
    const result = await run(['run', ...pgArgs(d, url), '--once'], { timeoutMs: 60_000 });
    // Nothing was taken: the file is where it was.
    expect(fs.existsSync(path.join(d.input, 'kept.csv'))).toBe(true);
    const lines = result.stderr.trim().split('\n');
    return { code: result.code, lines, stderr: result.stderr };
  };

  it('a wrong password: one line naming the user, exit 2, and the password never printed', async () => {
    server.requirePassword('ingest_user', 'right-secret');
    const base = server.url.replace('postgres@', 'ingest_user:wrong-secret@');
    const r = await attempt(base);
    expect(r.code).toBe(2);
    expect(r.lines).toHaveLength(1);
    expect(r.stderr).toMatch(/password authentication failed for user "ingest_user"/);
    expect(r.stderr).not.toMatch(/wrong-secret/);
    // The right one works.
    const ok = await run(
      ['status', '--state-url', server.url.replace('postgres@', 'ingest_user:right-secret@')],
      { timeoutMs: 30_000 },
    );
    expect(ok.stderr).not.toMatch(/password/);
  }, 60_000);

  it('a database that does not exist: exit 2, naming it', async () => {
    const r = await attempt(server.url.replace(/\/postgres$/, '/no_such_db'));
    expect(r.code).toBe(2);
    expect(r.lines).toHaveLength(1);
    expect(r.stderr).toMatch(/database "no_such_db" does not exist/);
  }, 60_000);

  it('a port where nothing listens: exit 1, saying the database does not answer', async () => {
    const port = await freePort();
    const r = await attempt(`postgres://postgres@127.0.0.1:${port}/postgres`);
    expect(r.code).toBe(1);
    expect(r.lines).toHaveLength(1);
    expect(r.stderr).toMatch(/does not answer.*ECONNREFUSED/);
  }, 60_000);

  it('not a PostgreSQL URL, or beside --state-path: exit 2 before anything is opened', async () => {
    for (const [url, message] of [
      ['mysql://x@host/db', /must start with postgres:\/\//],
      ['not a url', /is not a URL/],
    ] as const) {
      const r = await attempt(url);
      expect(r.code).toBe(2);
      expect(r.lines).toHaveLength(1);
      expect(r.stderr).toMatch(message);
    }
    const d = makeDirs();
    const both = await run(['run', ...pgArgs(d, server.url), '--state-path', d.state, '--once']);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/--state-path and --state-url name two states/);
    const env = await run(['status'], { env: { INGESTOR_STATE_URL: 'mysql://x@y/z' } });
    expect(env.code).toBe(2);
    expect(env.stderr).toMatch(/INGESTOR_STATE_URL/);
  }, 60_000);
});
