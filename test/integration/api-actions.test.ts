import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { request, setUpApi, startWithApi } from '../helpers/api.js';
import type { ApiSetup } from '../helpers/api.js';
import { openStream } from '../helpers/sse.js';
import {
  call,
  expectError,
  historyOf,
  listFiles,
  ok,
  pendingIdOf,
} from '../helpers/api-actions.js';
import {
  expectExactlyOnce,
  finished,
  manifestLines,
  output,
  rowsWithStatus,
  run,
  waitFor,
  waitForCommitted,
  writeOld,
} from '../helpers/ingestor.js';

/** What each action takes, as its refusal says. */
const TAKES: Record<string, string> = {
  hold: 'a file that waits (pending or backing off)',
  cancel: 'a file being read or copied',
  release: 'a held file',
};

interface StatusJson {
  state: string;
  paused: { kind: string; by?: string; since?: string; reason: string } | null;
  limits: Record<string, number>;
  files: { ingested: { files: number } };
  queue: { pending: number; held: number; backoff: number };
}
interface PendingJson {
  total: number;
  truncated: boolean;
  pausedBy: string | null;
  files: { id: string; source: string; reason: string; why: string; dueAt: string | null }[];
}

async function status(s: ApiSetup, port: number): Promise<StatusJson> {
  return ok<StatusJson>(await call(s, port, s.user, 'GET', '/v1/status'));
}

async function stop(daemon: ChildProcess): Promise<void> {
  daemon.kill('SIGTERM');
  const result = await finished(daemon);
  expect(result.code, result.stderr).toBe(0);
}

describe('admin actions', () => {
  it('are refused to the user role (403 naming admin) and change nothing', async () => {
    const s = setUpApi();
    const { daemon, port } = await startWithApi(s.d, s.certs);
    const id = pendingIdOf(path.join(s.d.input, 'x.csv'));
    const calls: [string, string, unknown?][] = [
      ['POST', '/v1/pause'],
      ['POST', '/v1/resume'],
      ['PUT', '/v1/limits', { concurrency: 7 }],
      ['POST', '/v1/retry', {}],
      ['POST', '/v1/files/1/retry'],
      ['POST', `/v1/files/${id}/cancel`],
      ['POST', `/v1/files/${id}/hold`],
      ['POST', `/v1/files/${id}/release`],
    ];
    const before = await status(s, port);
    for (const [method, url, body] of calls) {
      expectError(
        await call(s, port, s.user, method, url, body),
        403,
        'API_ERR_FORBIDDEN',
        /needs the admin role; the certificate .* has the user role/,
      );
    }
    const after = await status(s, port);
    expect(after.paused).toBeNull();
    expect(after.limits).toEqual(before.limits);
    // The journal holds nothing: no action was taken.
    expect(fs.readdirSync(s.d.input)).toEqual([]);
    await stop(daemon);
  });

  it("an operator's pause survives a restart; resume lets files in; limits change at run time", async () => {
    const s = setUpApi();
    let { daemon, port } = await startWithApi(s.d, s.certs);
    const paused = ok<{ paused: { by: string; since: string } }>(
      await call(s, port, s.admin, 'POST', '/v1/pause'),
    ).paused;
    expect(paused.by).toMatch(/admin/);
    // An ISO time, like every time the API answers (the status shows the same).
    expect(paused.since).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expectError(
      await call(s, port, s.admin, 'POST', '/v1/pause'),
      409,
      'API_ERR_CONFLICT',
      /already paused/,
    );
    let st = await status(s, port);
    expect(st.state).toBe('paused');
    expect(st.paused).toMatchObject({ kind: 'operator', by: paused.by, since: paused.since });

    writeOld(path.join(s.d.input, 'a.csv'), 'alpha');
    await new Promise((r) => setTimeout(r, 2_500)); // two scans
    expect(manifestLines(s.d.manifests)).toEqual([]);
    expect(ok<PendingJson>(await call(s, port, s.user, 'GET', '/v1/pending')).pausedBy).toBe(
      paused.by,
    );

    await stop(daemon);
    ({ daemon, port } = await startWithApi(s.d, s.certs));
    st = await status(s, port);
    expect(st.paused).toMatchObject({ kind: 'operator', by: paused.by, since: paused.since });
    await new Promise((r) => setTimeout(r, 2_000));
    expect(manifestLines(s.d.manifests)).toEqual([]);
    // `ingestor status` on the host shows it too.
    const local = await run(['status', '--state-path', s.d.state]);
    expect(local.stdout).toMatch(/PAUSED: by an operator \(.*admin.*\) since/);

    ok(await call(s, port, s.admin, 'POST', '/v1/resume'));
    expectError(await call(s, port, s.admin, 'POST', '/v1/resume'), 409, 'API_ERR_CONFLICT');
    await waitFor(() => manifestLines(s.d.manifests).length === 1, 20_000, 'ingest after resume');
    expect((await status(s, port)).paused).toBeNull();

    // Limits: in force at once, shown by the status, and checked.
    const limits = ok<{ limits: Record<string, number> }>(
      await call(s, port, s.admin, 'PUT', '/v1/limits', { concurrency: 3 }),
    ).limits;
    expect(limits.concurrency).toBe(3);
    expect((await status(s, port)).limits.concurrency).toBe(3);
    for (const bad of [{ concurrency: 0 }, { concurrency: 100_000 }, { concurrency: 'many' }, {}]) {
      expectError(
        await call(s, port, s.admin, 'PUT', '/v1/limits', bad),
        400,
        'API_ERR_BAD_PARAMETER',
        /concurrency/,
      );
    }
    expectError(
      await call(s, port, s.admin, 'PUT', '/v1/limits', { concurrency: 2, rate: 5 }),
      400,
      'API_ERR_BAD_PARAMETER',
      '"rate" is not a field of this body; it takes concurrency, maxBytesPerSecond, minFreeSpace, maxFileSize, readStallTimeout',
    );
    expect((await status(s, port)).limits.concurrency).toBe(3);

    // Files still go in with the new limit.
    writeOld(path.join(s.d.input, 'b.csv'), 'beta');
    await waitFor(() => manifestLines(s.d.manifests).length === 2, 20_000, 'ingest with limit 3');

    // The other run-time limits: sizes as numbers or with units, a floor as a percentage, null
    // for none; in force at once.
    const set = ok<{ limits: Record<string, unknown> }>(
      await call(s, port, s.admin, 'PUT', '/v1/limits', {
        maxBytesPerSecond: '8MiB',
        minFreeSpace: '1%',
        maxFileSize: 4,
        readStallTimeout: 30,
      }),
    ).limits;
    expect(set).toMatchObject({
      concurrency: 3,
      maxBytesPerSecond: 8 * 1024 * 1024,
      minFreeSpace: '1%',
      maxFileSize: 4,
      readStallTimeoutSeconds: 30,
    });
    writeOld(path.join(s.d.input, 'too-big.csv'), 'longer than four bytes');
    await waitFor(
      () => rowsWithStatus(s.d.state, 'committed') === 3,
      20_000,
      'the quarantine of a file over the new --max-file-size',
    );
    expect(manifestLines(s.d.manifests)).toHaveLength(2);
    expect(
      ok<{ limits: Record<string, unknown> }>(
        await call(s, port, s.admin, 'PUT', '/v1/limits', {
          maxFileSize: null,
          minFreeSpace: null,
        }),
      ).limits,
    ).toMatchObject({ maxFileSize: null, minFreeSpace: null, maxBytesPerSecond: 8 * 1024 * 1024 });
    for (const [body, message] of [
      [{ maxFileSize: '10XB' }, 'maxFileSize must be a positive size in bytes'],
      [{ minFreeSpace: '100%' }, 'minFreeSpace must be a percentage above 0 and below 100'],
      [{ maxBytesPerSecond: 0 }, 'maxBytesPerSecond must be a positive size in bytes'],
      [{ readStallTimeout: 0.5 }, 'readStallTimeout must be seconds, a number from 1 to'],
      [{ maxFileSize: true }, 'maxFileSize must be a JSON'],
    ] as const) {
      expectError(
        await call(s, port, s.admin, 'PUT', '/v1/limits', body),
        400,
        'API_ERR_BAD_PARAMETER',
        new RegExp(`^${message.replace(/[()]/g, '\\$&')}`),
      );
    }

    // The history of an ingested file: the ordinary path from its row, then the journal has
    // nothing for it; the operator's pause and resume are not per file.
    const files = await listFiles(s, port);
    const a = files.find((f) => f.source.endsWith('a.csv'))!;
    const history = await historyOf(s, port, a.id);
    expect(history.map((e) => e.type)).toEqual([
      'complete',
      'hashed',
      'claimed',
      'moved',
      'manifest',
      'committed',
    ]);
    expect(history.find((e) => e.type === 'manifest')!.detail.manifest).toEqual(
      expect.stringContaining(s.d.manifests),
    );
    await stop(daemon);
    // Limits hold until the next start.
    ({ daemon, port } = await startWithApi(s.d, s.certs));
    expect((await status(s, port)).limits.concurrency).not.toBe(3);
    await stop(daemon);
    expectExactlyOnce(s.d, ['alpha', 'beta']);
    // The ordinary path wrote nothing to the journal: only the operator's actions are there
    // (a quarantine is in its row).
    const db = new Database(s.d.state, { readonly: true });
    try {
      const rows = db.prepare('SELECT type, actor FROM events ORDER BY id').all();
      expect(rows).toEqual(
        ['paused', 'resumed', 'limits', 'limits', 'limits'].map((type) => ({
          type,
          actor: paused.by,
        })),
      );
    } finally {
      db.close();
    }
  }, 90_000);

  it('history of a duplicate names its original; stats count the files', async () => {
    const s = setUpApi();
    const { daemon, port } = await startWithApi(s.d, s.certs);
    writeOld(path.join(s.d.input, 'one.csv'), 'same');
    await waitFor(() => manifestLines(s.d.manifests).length === 1, 20_000, 'first');
    writeOld(path.join(s.d.input, 'two.csv'), 'same');
    await waitForCommitted(s.d.state, 2); // the duplicate's row as well
    const files = await listFiles(s, port);
    const original = files.find((f) => f.source.endsWith('one.csv'))!;
    const duplicate = files.find((f) => f.source.endsWith('two.csv'))!;
    const history = await historyOf(s, port, duplicate.id);
    expect(history.map((e) => e.type)).toEqual([
      'complete',
      'hashed',
      'claimed',
      'moved',
      'committed',
    ]);
    expect(history[2]!.detail).toMatchObject({
      outcome: 'duplicate',
      duplicateOf: { id: original.id, source: original.source },
    });
    const stats = ok<{
      windows: Record<string, { files: number; duplicates: number; latencyMs: { p95: number } }>;
    }>(await call(s, port, s.user, 'GET', '/v1/stats'));
    expect(Object.keys(stats.windows)).toEqual(['1m', '5m', '60m']);
    expect(stats.windows['1m']).toMatchObject({ files: 1, duplicates: 1 });
    expect(stats.windows['60m']!.latencyMs.p95).toBeGreaterThanOrEqual(0);
    expectError(await call(s, port, s.user, 'GET', '/v1/stats?x=1'), 400, 'API_ERR_BAD_PARAMETER');
    expectError(
      await call(s, port, s.user, 'GET', '/v1/files/999/history'),
      404,
      'API_ERR_NOT_FOUND',
    );
    await stop(daemon);
  }, 60_000);

  it('pending shows why; a pending file is held, survives a restart, and is released', async () => {
    const s = setUpApi();
    const file = path.join(s.d.input, 'fresh.csv');
    let { daemon, port } = await startWithApi(s.d, s.certs, [], { stabilitySeconds: '8' });
    fs.writeFileSync(file, 'fresh'); // changed just now: waits for its window
    const id = pendingIdOf(file);
    let pending: PendingJson | undefined;
    for (let i = 0; i < 50 && pending?.files.some((f) => f.id === id) !== true; i += 1) {
      pending = ok<PendingJson>(await call(s, port, s.user, 'GET', '/v1/pending'));
      if (pending.files.some((f) => f.id === id)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const entry = pending!.files.find((f) => f.id === id)!;
    expect(entry).toMatchObject({ source: file, reason: 'stabilizing' });
    expect(entry.why).toMatch(/^stable for [0-9.]+ of 8 s$/);

    expectError(
      await call(s, port, s.admin, 'POST', `/v1/files/${id}/cancel`),
      409,
      'API_ERR_CONFLICT',
      /hold it instead/,
    );
    const held = ok<{ held: { id: string; reason: string; by: string } }>(
      await call(s, port, s.admin, 'POST', `/v1/files/${id}/hold`),
    ).held;
    expect(held).toMatchObject({ id, reason: 'held' });
    // The status counts it as held, not pending (a held file is not being looked at).
    expect((await status(s, port)).queue).toMatchObject({ pending: 0, held: 1, backoff: 0 });
    expectError(
      await call(s, port, s.admin, 'POST', `/v1/files/${id}/hold`),
      409,
      'API_ERR_CONFLICT',
      /held already/,
    );

    await stop(daemon);
    ({ daemon, port } = await startWithApi(s.d, s.certs));
    await new Promise((r) => setTimeout(r, 2_500));
    expect(manifestLines(s.d.manifests)).toEqual([]);
    pending = ok<PendingJson>(await call(s, port, s.user, 'GET', '/v1/pending'));
    expect(pending.files).toEqual([
      expect.objectContaining({
        id,
        reason: 'held',
        why: expect.stringMatching(/^held by .*admin/),
      }),
    ]);
    ok(await call(s, port, s.admin, 'POST', `/v1/files/${id}/release`));
    await waitFor(() => manifestLines(s.d.manifests).length === 1, 20_000, 'ingest after release');
    // Gone from the input: nothing to release (while it was in flight, 409 "not held").
    expectError(
      await call(s, port, s.admin, 'POST', `/v1/files/${id}/release`),
      404,
      'API_ERR_NOT_FOUND',
    );
    const row = (await listFiles(s, port))[0]!;
    const history = await historyOf(s, port, row.id);
    expect(history.map((e) => [e.type, e.actor === null ? null : 'admin'])).toEqual([
      ['held', 'admin'],
      ['released', 'admin'],
      ['complete', null],
      ['hashed', null],
      ['claimed', null],
      ['moved', null],
      ['manifest', null],
      ['committed', null],
    ]);
    expect(history[0]!.actor).toBe(held.by);
    await stop(daemon);
    expectExactlyOnce(s.d, ['fresh']);
  }, 60_000);

  it('hostile ids and bodies get a 4xx in the JSON shape, and the daemon is unharmed', async () => {
    const s = setUpApi();
    const { daemon, port } = await startWithApi(s.d, s.certs);
    const cases: [string, string, unknown, number][] = [
      ['POST', '/v1/files/..%2F..%2Fetc/retry', undefined, 400],
      ['POST', '/v1/files/0/retry', undefined, 400],
      ['POST', '/v1/files/99999999999999999999/retry', undefined, 400],
      ['POST', '/v1/files/-1/cancel', undefined, 400],
      ['POST', '/v1/files/p123/cancel', undefined, 400],
      ['POST', `/v1/files/p${'A'.repeat(22)}/cancel`, undefined, 404],
      ['POST', '/v1/files/12345/retry', undefined, 404],
      ['POST', `/v1/files/p${'A'.repeat(22)}/release`, undefined, 404],
      ['POST', '/v1/files/1/hold?force=1', undefined, 400],
      ['POST', '/v1/retry', { status: 'everything' }, 400],
      ['POST', '/v1/retry', { since: 'yesterday-ish' }, 400],
      ['POST', '/v1/retry', { q: '', status: 'failed' }, 400],
      ['POST', '/v1/retry', { __proto__: { x: 1 }, constructor: 1 }, 400],
      ['POST', '/v1/retry', '[1,2', 400],
      ['POST', '/v1/retry', '"a string"', 400],
      ['PUT', '/v1/limits', { concurrency: 1e300 }, 400],
      ['PUT', '/v1/limits', { concurrency: 2.5 }, 400],
      ['GET', '/v1/pending?limit=0', undefined, 400],
      ['GET', '/v1/pending?limit=1001', undefined, 400],
      ['GET', '/v1/files/abc/history', undefined, 400],
    ];
    for (const [method, url, body, code] of cases) {
      const r = await call(s, port, s.admin, method, url, body);
      expect(r.status, `${method} ${url}: ${JSON.stringify(r.body)}`).toBe(code);
      expect(Object.keys(r.body as object).sort()).toEqual(['error', 'message']);
    }
    const bulk = ok<{ retried: number; failed: number; failures: unknown[] }>(
      await call(s, port, s.admin, 'POST', '/v1/retry', {}),
    );
    expect(bulk).toEqual({ retried: 0, failed: 0, failures: [] });
    writeOld(path.join(s.d.input, 'after.csv'), 'after');
    await waitFor(() => manifestLines(s.d.manifests).length === 1, 20_000, 'still ingesting');
    expect(output(daemon).stderr).toBe('');
    await stop(daemon);
  }, 60_000);

  it('bodies are strict JSON, unknown fields are named first, wrong methods get 405, row ids 409', async () => {
    const s = setUpApi();
    writeOld(path.join(s.d.input, 'done.csv'), 'done');
    const { daemon, port } = await startWithApi(s.d, s.certs);
    await waitFor(() => manifestLines(s.d.manifests).length === 1, 20_000, 'done.csv ingested');
    const before = (await status(s, port)).limits.concurrency;
    // No coercion of a body's values: a string, a boolean is not a number.
    for (const [value, type] of [
      ['0x10', 'a string'],
      ['1e1', 'a string'],
      [' 5', 'a string'],
      ['16', 'a string'],
      [true, 'a boolean'],
      [null, 'null'],
      [[4], 'an array'],
    ] as const) {
      expectError(
        await call(s, port, s.admin, 'PUT', '/v1/limits', { concurrency: value }),
        400,
        'API_ERR_BAD_PARAMETER',
        `concurrency must be a JSON number: an integer from 1 to 256, got ${JSON.stringify(value)} (${type})`,
      );
    }
    expectError(
      await call(s, port, s.admin, 'POST', '/v1/retry', { status: 1 }),
      400,
      'API_ERR_BAD_PARAMETER',
      'status must be a JSON string: quarantined or failed, got 1 (a number)',
    );
    // An unknown field is named before a missing one.
    expectError(
      await call(s, port, s.admin, 'PUT', '/v1/limits', { batchSize: 3 }),
      400,
      'API_ERR_BAD_PARAMETER',
      '"batchSize" is not a field of this body; it takes concurrency, maxBytesPerSecond, minFreeSpace, maxFileSize, readStallTimeout',
    );
    expect((await status(s, port)).limits.concurrency).toBe(before);

    // Calls that take no body: none, or {}; a field or a text body is refused.
    for (const url of ['/v1/pause', '/v1/resume', '/v1/files/1/hold']) {
      expectError(
        await call(s, port, s.admin, 'POST', url, { x: 1 }),
        400,
        'API_ERR_BAD_PARAMETER',
        '"x" is not a field of this body; it takes none: send no body, or {}',
      );
      expectError(
        await request({
          port,
          ca: s.ca,
          client: s.admin,
          method: 'POST',
          path: url,
          body: 'x',
          headers: { 'content-type': 'text/plain' },
        }),
        415,
        'API_ERR_UNSUPPORTED_MEDIA_TYPE',
      );
    }
    expect((await status(s, port)).paused).toBeNull();
    ok(await call(s, port, s.admin, 'POST', '/v1/pause', {}));
    ok(await call(s, port, s.admin, 'POST', '/v1/resume', {}));

    // A known path with a method it does not take: 405, the allow header, the methods named.
    for (const method of ['GET', 'POST']) {
      const r = await call(s, port, s.admin, method, '/v1/limits');
      expectError(r, 405, 'API_ERR_METHOD_NOT_ALLOWED', `/v1/limits takes PUT, not ${method}`);
      expect(r.headers.allow).toBe('PUT');
    }
    const get = await call(s, port, s.admin, 'GET', '/v1/pause');
    expectError(get, 405, 'API_ERR_METHOD_NOT_ALLOWED', '/v1/pause takes POST, not GET');
    expect(get.headers.allow).toBe('POST');

    // A row id: an action on a file that is not pending says what it is and what to do.
    const [row] = await listFiles(s, port);
    for (const action of ['hold', 'cancel', 'release']) {
      expectError(
        await call(s, port, s.admin, 'POST', `/v1/files/${row!.id}/${action}`),
        409,
        'API_ERR_CONFLICT',
        `file ${row!.id} (${row!.source}) is ingested, not pending: ${action} takes ${TAKES[action]}, by its pending id (GET /v1/pending lists them)`,
      );
      expectError(
        await call(s, port, s.admin, 'POST', `/v1/files/12345/${action}`),
        404,
        'API_ERR_NOT_FOUND',
        'no file has the id 12345',
      );
    }
    expectError(
      await call(s, port, s.admin, 'POST', `/v1/files/${row!.id}/retry`),
      409,
      'API_ERR_CONFLICT',
      /is ingested: only a quarantined file, or one that failed and waits, can be retried$/,
    );
    expect(output(daemon).stderr).toBe('');
    await stop(daemon);
  }, 60_000);

  it("the event stream carries an operator's pause, resume, hold and release, with who asked", async () => {
    const s = setUpApi();
    const { daemon, port } = await startWithApi(s.d, s.certs, [], { stabilitySeconds: '30' });
    const stream = await openStream({ port, ca: s.ca, client: s.user });
    ok(await call(s, port, s.admin, 'POST', '/v1/pause'));
    ok(await call(s, port, s.admin, 'POST', '/v1/resume'));
    const file = path.join(s.d.input, 'wait.csv');
    fs.writeFileSync(file, 'not stable for 30 s');
    const id = pendingIdOf(file);
    // Held once discovery has seen it (pending: not stable for 30 s).
    const deadline = Date.now() + 10_000;
    while ((await call(s, port, s.admin, 'POST', `/v1/files/${id}/hold`)).status !== 200) {
      if (Date.now() > deadline) throw new Error('the file was never pending');
      await new Promise((r) => setTimeout(r, 100));
    }
    ok(await call(s, port, s.admin, 'POST', `/v1/files/${id}/release`));
    await stream.until(
      (events) => events.some((e) => e.type === 'file.released'),
      10_000,
      'released on the stream',
    );
    const first = (type: string) => stream.events.find((e) => e.type === type)?.data;
    const admin = expect.stringMatching(/admin/);
    expect(first('daemon.paused')).toMatchObject({ kind: 'operator', actor: admin });
    expect(first('daemon.resumed')).toMatchObject({ kind: 'operator', actor: admin });
    expect(first('file.held')).toMatchObject({ id, source: file, actor: admin });
    expect(first('file.released')).toMatchObject({ id, source: file, actor: admin });
    stream.close();
    daemon.kill('SIGTERM');
    expect((await finished(daemon)).code).toBe(0);
  });
});
