import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { apiArgs, request, setUpApi, startWithApi, testCaOf } from '../helpers/api.js';
import type { Client } from '../helpers/api.js';
import { expectError } from '../helpers/api-actions.js';
import { baseArgs, finished, output, run, sha256, waitFor, writeOld } from '../helpers/ingestor.js';

interface FileJson {
  id: number;
  status: string;
  source: string;
  sha256: string | null;
  duplicateOf: { id: number } | null;
}
interface Page {
  files: FileJson[];
  next: string | null;
}
interface Status {
  state: string;
  files: { ingested: { files: number; bytes: number }; duplicates: { files: number } };
  queue: { queued: number; inflight: number; pending: number; held: number; backoff: number };
  limits: Record<string, number>;
  resources: {
    cpuPercent: number | null;
    rssBytes: number;
    eventLoopDelayMs: { mean: number; p99: number; max: number } | null;
    openFiles: number;
    inotifyWatches: number;
    volumes: { name: string; path: string; freeBytes: number; totalBytes: number }[];
  };
}

async function ingestedCount(port: number, ca: Buffer, client: Client): Promise<number> {
  const r = await request({ port, ca, client, path: '/v1/status' });
  return (r.body as Status).files.ingested.files;
}

async function waitForIngested(port: number, ca: Buffer, client: Client, n: number) {
  const until = Date.now() + 60_000;
  while ((await ingestedCount(port, ca, client)) < n) {
    if (Date.now() > until) throw new Error(`fewer than ${n} files ingested in time`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('the control API with admin and user certificates', () => {
  it('both read status and files; a certificate without a role gets 403 on everything', async () => {
    const { d, certs, ca, admin, user } = setUpApi();
    const testCa = testCaOf(d, certs);
    for (let i = 0; i < 5; i++) writeOld(path.join(d.input, `f${i}.csv`), `content ${i}\n`);
    const { daemon, port } = await startWithApi(d, certs, ['--log-level', 'debug']);
    await waitForIngested(port, ca, admin, 5);

    for (const client of [admin, user]) {
      const status = await request({ port, ca, client, path: '/v1/status' });
      expect(status.status).toBe(200);
      const s = status.body as Status;
      expect(s.state).toBe('running');
      expect(s.files.ingested).toEqual({ files: 5, bytes: 50 });
      expect(s.queue).toEqual({ queued: 0, inflight: 0, pending: 0, held: 0, backoff: 0 });
      expect(s.limits.concurrency).toBe(16);
      expect(s.resources.rssBytes).toBeGreaterThan(10_000_000);
      expect(s.resources.openFiles).toBeGreaterThan(3);
      expect(s.resources.inotifyWatches).toBeGreaterThanOrEqual(1); // the input is watched
      expect(s.resources.volumes.map((v) => v.name)).toEqual([
        'input',
        'warehouse',
        'manifests',
        'state',
      ]);
      for (const v of s.resources.volumes) expect(v.freeBytes).toBeGreaterThan(0);

      const files = await request({ port, ca, client, path: '/v1/files' });
      expect(files.status).toBe(200);
      const page = files.body as Page;
      expect(page.files.map((f) => f.id)).toEqual([5, 4, 3, 2, 1]);
      expect(page.next).toBeNull();
      const one = await request({ port, ca, client, path: `/v1/files/${page.files[2]!.id}` });
      expect(one.status).toBe(200);
      expect(one.body).toEqual(page.files[2]);
    }
    // CPU and event-loop delay cover the last interval: there after the first one.
    await waitFor(() => true, 1);
    let cpu: Status['resources'] | undefined;
    for (let i = 0; i < 40 && cpu?.cpuPercent == null; i++) {
      await new Promise((r) => setTimeout(r, 100));
      cpu = ((await request({ port, ca, client: user, path: '/v1/status' })).body as Status)
        .resources;
    }
    expect(cpu!.cpuPercent).toBeGreaterThanOrEqual(0);
    expect(cpu!.eventLoopDelayMs!.max).toBeGreaterThanOrEqual(cpu!.eventLoopDelayMs!.mean);

    // Who the caller is, and whether it may act: what a page offers buttons by.
    for (const [client, role] of [
      [admin, 'admin'],
      [user, 'user'],
    ] as const) {
      const who = await request({ port, ca, client, path: '/v1/whoami' });
      expect(who.body).toEqual({
        subject: `O=Ingestor, OU=${role}, CN=${role}`,
        role,
        mayAct: role === 'admin',
      });
    }

    const nobody = testCa.issue('nobody', '/O=Ingestor/CN=nobody');
    for (const p of ['/v1/status', '/v1/files', '/v1/files/1', '/v1/whoami', '/v1/nothing-here']) {
      expectError(
        await request({ port, ca, client: nobody, path: p }),
        403,
        'API_ERR_FORBIDDEN',
        'this call needs the user role; the certificate O=Ingestor, CN=nobody has no role',
      );
    }
    // A call that would change something is logged at info, with the certificate's subject.
    // A path that exists, with a method it does not take: 405 naming those it takes.
    const del = await request({ port, ca, client: admin, path: '/v1/files/1', method: 'DELETE' });
    expectError(del, 405, 'API_ERR_METHOD_NOT_ALLOWED', '/v1/files/1 takes GET, HEAD, not DELETE');
    expect(del.headers.allow).toBe('GET, HEAD');
    daemon.kill('SIGTERM');
    const { stdout } = await finished(daemon);
    const calls = stdout
      .split('\n')
      .filter((l) => l.includes('"event":"api-call"'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(calls.find((c) => c.method === 'DELETE')).toMatchObject({
      level: 'info',
      path: '/v1/files/1',
      status: 405,
      subject: 'O=Ingestor, OU=admin, CN=admin',
      role: 'admin',
    });
    expect(calls.filter((c) => c.method === 'GET').every((c) => c.level === 'debug')).toBe(true);
    expect(calls.some((c) => c.subject === 'O=Ingestor, CN=nobody' && c.status === 403)).toBe(true);
  });

  it('--api-roles maps subjects and CNs to roles, over the OU', async () => {
    const { d, certs, ca, admin, user } = setUpApi();
    const testCa = testCaOf(d, certs);
    const roles = path.join(d.root, 'roles.json');
    fs.writeFileSync(
      roles,
      JSON.stringify({
        'O = Ingestor, OU = user, CN = user': 'none', // as `openssl x509 -subject` prints it
        '/O=Ingestor/OU=admin/CN=admin': 'user', // as `openssl req -subj` takes it
        robot: 'user', // a CN
      }),
    );
    const robot = testCa.issue('robot', '/O=Elsewhere/CN=robot');
    const { daemon, port } = await startWithApi(d, certs, [
      '--api-roles',
      roles,
      '--log-level',
      'debug',
    ]);
    expectError(
      await request({ port, ca, client: user, path: '/v1/status' }),
      403,
      'API_ERR_FORBIDDEN',
      /has no role$/,
    );
    expect((await request({ port, ca, client: robot, path: '/v1/status' })).status).toBe(200);
    expect((await request({ port, ca, client: admin, path: '/v1/status' })).status).toBe(200);
    daemon.kill('SIGTERM');
    const { stdout } = await finished(daemon);
    expect(stdout).toContain('"subject":"O=Ingestor, OU=admin, CN=admin","role":"user"');
    expect(stdout).toContain('"subject":"O=Elsewhere, CN=robot","role":"user"');
  });
});

describe('bad requests', () => {
  it('each gets a 4xx in the JSON shape, naming the problem; the daemon is unharmed', async () => {
    const { d, certs, ca, admin } = setUpApi();
    writeOld(path.join(d.input, 'before.csv'), 'before\n');
    const { daemon, port } = await startWithApi(d, certs);
    await waitForIngested(port, ca, admin, 1);
    const get = (p: string) => request({ port, ca, client: admin, path: p });
    const param = (name: string) => new RegExp(`^${name} must be `);

    const cases: [string, number, string, RegExp | string][] = [
      ['/v1/files/..%2F..%2Fetc%2Fpasswd', 400, 'API_ERR_BAD_PARAMETER', param('id')],
      [
        '/v1/files/../../etc/passwd',
        404,
        'API_ERR_NOT_FOUND',
        'no route GET /v1/files/../../etc/passwd',
      ],
      ['/v1/files/-1', 400, 'API_ERR_BAD_PARAMETER', param('id')],
      ['/v1/files/0', 400, 'API_ERR_BAD_PARAMETER', param('id')],
      ['/v1/files/007', 400, 'API_ERR_BAD_PARAMETER', param('id')],
      ['/v1/files/1e3', 400, 'API_ERR_BAD_PARAMETER', param('id')],
      ['/v1/files/0x10', 400, 'API_ERR_BAD_PARAMETER', param('id')],
      ['/v1/files/99999999999999999999999999', 400, 'API_ERR_BAD_PARAMETER', param('id')],
      ['/v1/files/123456789012345', 404, 'API_ERR_NOT_FOUND', 'no file has the id 123456789012345'],
      [`/v1/files/${'9'.repeat(100)}`, 400, 'API_ERR_BAD_PARAMETER', /longer than 64 characters/],
      ['/v1/files/%E0%A4%A', 400, 'API_ERR_BAD_PARAMETER', 'the URL is not valid'],
      [
        '/v1/files?limit=0',
        400,
        'API_ERR_BAD_PARAMETER',
        'limit must be an integer from 1 to 1000, got "0"',
      ],
      ['/v1/files?limit=1001', 400, 'API_ERR_BAD_PARAMETER', param('limit')],
      ['/v1/files?limit=99999999999999999999999', 400, 'API_ERR_BAD_PARAMETER', param('limit')],
      ['/v1/files?limit=-5', 400, 'API_ERR_BAD_PARAMETER', param('limit')],
      ['/v1/files?limit=1e2', 400, 'API_ERR_BAD_PARAMETER', param('limit')],
      ['/v1/files?limit=%2010', 400, 'API_ERR_BAD_PARAMETER', param('limit')],
      ['/v1/files?limit=1&limit=2', 400, 'API_ERR_BAD_PARAMETER', param('limit')],
      ['/v1/files?limit=', 400, 'API_ERR_BAD_PARAMETER', param('limit')],
      [
        '/v1/files?foo=bar',
        400,
        'API_ERR_BAD_PARAMETER',
        '"foo" is not a query parameter of this call; it takes status, since, q, sha256, limit, cursor',
      ],
      [
        '/v1/files?__proto__=1',
        400,
        'API_ERR_BAD_PARAMETER',
        /"__proto__" is not a query parameter/,
      ],
      ['/v1/files?status=everything', 400, 'API_ERR_BAD_PARAMETER', param('status')],
      ['/v1/files?sha256=xyz123', 400, 'API_ERR_BAD_PARAMETER', param('sha256')],
      ['/v1/files?sha256=abc', 400, 'API_ERR_BAD_PARAMETER', param('sha256')],
      ['/v1/files?since=yesterday', 400, 'API_ERR_BAD_PARAMETER', param('since')],
      ['/v1/files?since=1e9d', 400, 'API_ERR_BAD_PARAMETER', param('since')],
      ['/v1/files?q=', 400, 'API_ERR_BAD_PARAMETER', param('q')],
      [`/v1/files?q=${'a'.repeat(2000)}`, 400, 'API_ERR_BAD_PARAMETER', param('q')],
      ['/v1/files?cursor=..%2F', 400, 'API_ERR_BAD_PARAMETER', param('cursor')],
      [
        '/v1/files?cursor=YmVsb3c6MA',
        400,
        'API_ERR_BAD_PARAMETER',
        /^cursor is not one this API gave/,
      ],
      ['/v1/status?verbose=1', 400, 'API_ERR_BAD_PARAMETER', /"verbose" is not a query parameter/],
      // Every route refuses unknown query fields the same way.
      ...[
        '/v1/status',
        '/v1/files/1',
        '/v1/files/1/history',
        '/v1/files/1/manifest',
        '/v1/pending',
        '/v1/inflight',
        '/v1/stats',
        '/v1/stats/series',
      ].map((p): [string, number, string, string] => [
        `${p}?x=1`,
        400,
        'API_ERR_BAD_PARAMETER',
        `"x" is not a query parameter of this call; it takes ${p === '/v1/pending' || p === '/v1/inflight' ? 'limit' : 'none'}`,
      ]),
      // Queries are strings taken as plain decimals: no coercion.
      ['/v1/pending?limit=0x10', 400, 'API_ERR_BAD_PARAMETER', param('limit')],
      ['/v2/status', 404, 'API_ERR_NOT_FOUND', 'no route GET /v2/status'],
      // `/` is the dashboard's page (browser.test.ts); beside it, nothing.
      ['/nope', 404, 'API_ERR_NOT_FOUND', 'no route GET /nope'],
      ['/assets/nope.js', 404, 'API_ERR_NOT_FOUND', 'no dashboard file nope.js'],
    ];
    for (const [p, status, code, message] of cases) {
      const r = await get(p);
      expectError(r, status, code, message);
    }

    // A 10 MB body, asked for first (as curl does): refused before a byte of it is sent.
    const big = Buffer.alloc(10 * 1024 * 1024, 'x');
    const json = { 'content-type': 'application/json' };
    const post = { port, ca, client: admin, method: 'POST', body: big, headers: json };
    for (const p of ['/v1/status', '/v1/files/1', '/nowhere']) {
      expectError(
        await request({ ...post, path: p, expectContinue: true }),
        413,
        'API_ERR_BODY_TOO_LARGE',
        'the body is larger than 65536 bytes, the most this API takes',
      );
    }
    // Sent at once, with or without a length: answered 413 and the connection closed, which
    // the client may see as a reset before it reads the answer; never anything else.
    for (const headers of [json, { ...json, 'transfer-encoding': 'chunked' }]) {
      for (let i = 0; i < 5; i++) {
        const answer = await request({ ...post, path: '/v1/status', headers }).catch(
          (error: NodeJS.ErrnoException) => error,
        );
        if (answer instanceof Error) expect(['EPIPE', 'ECONNRESET']).toContain(answer.code);
        else expectError(answer, 413, 'API_ERR_BODY_TOO_LARGE');
      }
    }
    // Headers larger than the limit: answered 431 and the connection closed (the rest of them
    // unread, so the client may see the reset first).
    for (let i = 0; i < 3; i++) {
      const answer = await request({
        port,
        ca,
        client: admin,
        path: '/v1/status',
        headers: { 'x-big': 'y'.repeat(20_000) },
      }).catch((error: NodeJS.ErrnoException) => error);
      if (answer instanceof Error) expect(['EPIPE', 'ECONNRESET']).toContain(answer.code);
      else expectError(answer, 431, 'API_ERR_HEADERS_TOO_LARGE');
    }

    // Unharmed: it still answers and still ingests.
    writeOld(path.join(d.input, 'after.csv'), 'after\n');
    await waitForIngested(port, ca, admin, 2);
    const page = (await get('/v1/files')).body as Page;
    expect(page.files.map((f) => f.source)).toEqual([
      path.join(d.input, 'after.csv'),
      path.join(d.input, 'before.csv'),
    ]);
    daemon.kill('SIGTERM');
    const r = await finished(daemon);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).not.toContain('"level":"error"');
    expect(r.stdout).not.toContain('"level":"fatal"');
  });
});

describe('GET /v1/files over a few thousand rows', () => {
  it('pages by cursor, newest first, with filters, unmoved by new rows', async () => {
    const { d, certs, ca, admin, user } = setUpApi();
    const N = 3000;
    const contents: string[] = [];
    for (let i = 0; i < N; i++) {
      contents.push(`row ${i}\n`);
      writeOld(path.join(d.input, `batch-${i}.csv`), contents[i]!);
    }
    for (let i = 0; i < 40; i++) writeOld(path.join(d.input, `dup-${i}.csv`), contents[i]!);
    const { daemon, port } = await startWithApi(d, certs);
    await waitForIngested(port, ca, admin, N);
    await waitFor(() => fs.readdirSync(d.input).length === 0, 30_000, 'the input to empty');
    const get = async (p: string, client = admin) => {
      const r = await request({ port, ca, client, path: p });
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      return r.body as Page;
    };
    const walk = async (query: string, client = admin) => {
      const files: FileJson[] = [];
      let next: string | null = null;
      let pages = 0;
      do {
        const sep = query === '' ? '' : '&';
        const page: Page = await get(
          `/v1/files?${query}${next === null ? '' : `${sep}cursor=${next}`}`,
          client,
        );
        files.push(...page.files);
        next = page.next;
        pages += 1;
      } while (next !== null && pages < 10_000);
      return { files, pages };
    };

    const all = await walk('limit=1000');
    expect(all.pages).toBe(4); // 3040 rows: 1000, 1000, 1000, 40
    const ids = all.files.map((f) => f.id);
    expect(new Set(ids).size).toBe(N + 40);
    expect(ids).toEqual([...ids].sort((a, b) => b - a));
    expect((await walk('limit=37', user)).files.map((f) => f.id)).toEqual(ids);
    const first = await get('/v1/files');
    expect(first.files).toHaveLength(50); // the default

    const dups = await walk('status=duplicate&limit=1000');
    expect(dups.files).toHaveLength(40);
    expect(dups.files.every((f) => f.status === 'duplicate' && f.duplicateOf !== null)).toBe(true);
    expect((await walk('status=ingested&limit=1000')).files).toHaveLength(N);
    expect((await walk('status=quarantined')).files).toEqual([]);

    // q: a part of the path. batch-12, batch-120..129, batch-1200..1299.
    const q = await walk('q=batch-12&limit=20');
    expect(q.files).toHaveLength(111);
    expect(q.files.every((f) => f.source.includes('batch-12'))).toBe(true);
    expect(
      (await walk(`q=${encodeURIComponent(`${d.input}/dup-3`)}`)).files
        .map((f) => path.basename(f.source))
        .sort(),
    ).toEqual([
      'dup-3.csv',
      'dup-30.csv',
      'dup-31.csv',
      'dup-32.csv',
      'dup-33.csv',
      'dup-34.csv',
      'dup-35.csv',
      'dup-36.csv',
      'dup-37.csv',
      'dup-38.csv',
      'dup-39.csv',
    ]);
    // sha256: a prefix finds the ingest and its duplicate.
    const hash = sha256(contents[7]!);
    const bySha = await walk(`sha256=${hash.slice(0, 12).toUpperCase()}`);
    expect(bySha.files.map((f) => path.basename(f.source)).sort()).toEqual([
      'batch-7.csv',
      'dup-7.csv',
    ]);
    expect(bySha.files.every((f) => f.sha256 === hash)).toBe(true);
    // since: an age, and an ISO time to come.
    expect((await walk('since=1h&limit=1000')).files).toHaveLength(N + 40);
    const later = new Date(Date.now() + 3_600_000).toISOString();
    expect(await get(`/v1/files?since=${later}`)).toEqual({ files: [], next: null });

    // New rows do not move a page: the next page after a cursor is where it was.
    const page1 = await get('/v1/files?limit=100');
    writeOld(path.join(d.input, 'newer.csv'), 'newer\n');
    await waitForIngested(port, ca, admin, N + 1);
    const page2 = await get(`/v1/files?limit=100&cursor=${page1.next}`);
    expect(page2.files[0]!.id).toBe(page1.files[99]!.id - 1);
    expect((await get('/v1/files?limit=1')).files[0]!.source).toBe(path.join(d.input, 'newer.csv'));
    // One row by id, as the list has it.
    const row = all.files[1234]!;
    expect((await request({ port, ca, client: user, path: `/v1/files/${row.id}` })).body).toEqual(
      row,
    );

    daemon.kill('SIGTERM');
    expect((await finished(daemon)).code).toBe(0);
    expect(output(daemon).stdout).not.toContain('"level":"error"');
  }, 120_000);
});

describe('--api-host', () => {
  it('an address this host does not have is a usage error naming --api-host (exit 2)', async () => {
    const { d, certs } = setUpApi();
    // 192.0.2.1 is TEST-NET-1 (RFC 5737): no host has it.
    const r = await run([...baseArgs(d), ...apiArgs(certs), '--api-host', '192.0.2.1']);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(
      /^ingestor: cannot serve the control API on 192\.0\.2\.1:0: .*EADDRNOTAVAIL.*; choose an --api-host address of this host \(127\.0\.0\.1, ::1, 0\.0\.0\.0 for all\)\n$/,
    );
    expect(r.stderr).not.toContain('--api-port');
  });
});
