import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { makeCerts, setUpApi, startWithApi, testCaOf } from '../helpers/api.js';
import { finished, output, run, start, waitFor, writeOld } from '../helpers/ingestor.js';
import type { Dirs, RunResult } from '../helpers/ingestor.js';

/** The flags that point ctl at `port` with the `role` certificate of `certs`. */
function ctlArgs(certs: string, port: number, role = 'admin'): string[] {
  return [
    '--server',
    `https://localhost:${port}`,
    '--cert',
    path.join(certs, `${role}.crt`),
    '--key',
    path.join(certs, `${role}.key`),
    '--ca',
    path.join(certs, 'ca.crt'),
  ];
}

function ctl(args: string[], env: Record<string, string> = {}): Promise<RunResult> {
  return run(['ctl', ...args], { env });
}

/** One line on stderr, and the exit code. */
function expectFailure(r: RunResult, code: number, message: RegExp) {
  expect(r.code, r.stderr).toBe(code);
  expect(r.stdout).toBe('');
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
  expect(r.stderr).toMatch(message);
}

describe('ingestor ctl against a running daemon', () => {
  let d: Dirs;
  let certs: string;
  let port: number;
  let daemon: ChildProcess;

  // The helper that fails a test leaking a process ends each test's daemon: one per test.
  beforeEach(async () => {
    ({ d, certs } = setUpApi());
    ({ daemon, port } = await startWithApi(d, certs));
    writeOld(path.join(d.input, 'a.csv'), 'alpha');
    writeOld(path.join(d.input, 'b.csv'), 'beta');
    await waitFor(
      () => (output(daemon).stdout.match(/"event":"ingested"/g) ?? []).length === 2,
      20_000,
      'two files',
    );
  });

  afterEach(async () => {
    daemon.kill('SIGTERM');
    expect((await finished(daemon)).code).toBe(0);
  });

  it('status, ls and show: tables for people, JSON with --json', async () => {
    const status = await ctl(['status', ...ctlArgs(certs, port, 'user')]);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toMatch(/^running, pid \d+, up \d+ s\n/);
    expect(status.stdout).toContain('files.ingested.files: 2\n');
    expect(status.stdout).toContain('limits.concurrency: 16\n');
    const json = await ctl(['status', '--json', ...ctlArgs(certs, port)]);
    expect(JSON.parse(json.stdout)).toMatchObject({
      state: 'running',
      files: { ingested: { files: 2 } },
    });

    const ls = await ctl(['ls', ...ctlArgs(certs, port)]);
    expect(ls.code, ls.stderr).toBe(0);
    const lines = ls.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^ID\s+STATUS\s+BYTES\s+COMMITTEDAT\s+SOURCE$/);
    expect(lines.slice(1).map((l) => l.split(/\s+/)[4])).toEqual([
      path.join(d.input, 'b.csv'),
      path.join(d.input, 'a.csv'),
    ]);
    const lsJson = JSON.parse((await ctl(['ls', '--json', ...ctlArgs(certs, port)])).stdout);
    expect(lsJson.files).toHaveLength(2);

    const show = await ctl(['show', String(lsJson.files[1].id), ...ctlArgs(certs, port)]);
    expect(show.code, show.stderr).toBe(0);
    expect(show.stdout).toContain(`source: ${path.join(d.input, 'a.csv')}\n`);
    expect(show.stdout).toContain('status: ingested\n');
  });

  it('takes its flags from INGESTOR_CTL_* and a --config file', async () => {
    const [, server, , cert, , key, , ca] = ctlArgs(certs, port, 'user');
    const env = {
      INGESTOR_CTL_SERVER: server!,
      INGESTOR_CTL_CERT: cert!,
      INGESTOR_CTL_KEY: key!,
      INGESTOR_CTL_CA: ca!,
      // A daemon's variables in the same environment are not ctl's.
      INGESTOR_INPUT: '/nowhere',
    };
    const r = await ctl(['status', '--json'], env);
    expect(r.code, r.stderr).toBe(0);
    // ...and ctl's variables are not the other commands'.
    const { INGESTOR_INPUT: _daemons, ...ctlOnly } = env;
    const status = await run(['status', '--state-path', d.state], { env: ctlOnly });
    expect(status.code, status.stderr).toBe(0);
    const config = path.join(d.root, 'ctl.json');
    fs.writeFileSync(config, JSON.stringify({ server, cert, key, ca }));
    expect((await ctl(['status', '--config', config])).code).toBe(0);
    const typo = await ctl(['status', '--config', config], { INGESTOR_CTL_SERVERS: 'x' });
    expectFailure(
      typo,
      2,
      /unknown environment variable INGESTOR_CTL_SERVERS \(ctl has no flag --servers\)/,
    );
  });

  it('exits with a code of its own for each failure, and one line that says what to do', async () => {
    expectFailure(await ctl(['show', '999999', ...ctlArgs(certs, port)]), 4, /not found: .*999999/);
    const testCa = testCaOf(d, certs);
    const nobody = testCa.issue('nobody', '/O=Ingestor/CN=nobody');
    const noRole = await ctl([
      'status',
      ...ctlArgs(certs, port).slice(0, 2),
      '--cert',
      nobody.certFile,
      '--key',
      nobody.keyFile,
      '--ca',
      path.join(certs, 'ca.crt'),
    ]);
    expectFailure(noRole, 3, /refused: this call needs the user role.*OU=admin/);
    expectFailure(
      await ctl(['status', ...ctlArgs(certs, 1)]),
      6,
      /cannot connect to https:\/\/localhost:1 \(ECONNREFUSED\): is the daemon running with --api-port/,
    );
    const other = path.join(d.root, 'other-tls');
    makeCerts(other);
    const untrusted = await ctl([
      'status',
      ...ctlArgs(certs, port).slice(0, 6),
      '--ca',
      path.join(other, 'ca.crt'),
    ]);
    expectFailure(untrusted, 7, /the server's certificate is not trusted .*is --ca the CA/);
    const refused = await ctl([
      'status',
      ...ctlArgs(other, port).slice(0, 6),
      '--ca',
      path.join(certs, 'ca.crt'),
    ]);
    expectFailure(
      refused,
      7,
      /the server refused the connection .*is --cert signed by the daemon's --tls-ca/,
    );
  });

  it('refuses bad words and flags with exit 2 before connecting', async () => {
    const args = ctlArgs(certs, port);
    expectFailure(await ctl([...args]), 2, /ctl needs an action: one of status, ls, show/);
    expectFailure(await ctl(['bogus', ...args]), 2, /ctl has no action "bogus"/);
    expectFailure(await ctl(['show', ...args]), 2, /ctl show takes one id \(ctl show ID\), got 0/);
    expectFailure(await ctl(['show', '1', '2', ...args]), 2, /ctl show takes one id/);
    expectFailure(
      await ctl(['show', '../x', ...args]),
      2,
      /an id is a row id \(a positive integer\), got "\.\.\/x"/,
    );
    expectFailure(await ctl(['retry', ...args]), 2, /ctl retry takes at least one id/);
    expectFailure(await ctl(['status', '5', ...args]), 2, /ctl status takes no ids, got 5/);
    expectFailure(
      await ctl(['status', '--concurrency', '3', ...args]),
      2,
      /--concurrency applies only to ctl limits/,
    );
    expectFailure(
      await ctl(['limits', '--concurrency', '0', ...args]),
      2,
      /--concurrency must be a positive integer, got "0"/,
    );
    // Without --server: the default, a daemon on this host at 8443.
    expectFailure(
      await ctl(['status', ...args.slice(2)]),
      6,
      /https:\/\/localhost:8443 \(ECONNREFUSED\)/,
    );
    expectFailure(
      await ctl(['status', '--server', 'http://localhost:1', ...args.slice(2)]),
      2,
      /--server must be https:\/\/HOST:PORT, got "http:\/\/localhost:1"/,
    );
    expectFailure(
      await ctl(['status', ...args.slice(0, 2)]),
      2,
      /ctl needs --cert \(or INGESTOR_CTL_CERT/,
    );
    expectFailure(
      await ctl(['status', ...args.slice(0, 6), '--ca', '/nonexistent.crt']),
      2,
      /--ca "\/nonexistent.crt" cannot be read: ENOENT/,
    );
    expectFailure(await ctl(['status', '--bogus', ...args]), 2, /Unknown argument: bogus/);
  });

  it('watch prints one line per event when stdout is not a terminal', async () => {
    const watch = start(['ctl', 'watch', ...ctlArgs(certs, port, 'user')]);
    await new Promise((r) => setTimeout(r, 500));
    writeOld(path.join(d.input, 'watched.csv'), 'watched');
    await waitFor(() => output(watch).stdout.includes('file.ingested'), 20_000, 'the watch line');
    watch.kill('SIGINT');
    const r = await finished(watch);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    const source = path.join(d.input, 'watched.csv');
    expect(lines.find((l) => l.includes('file.complete'))).toMatch(
      new RegExp(`^\\d\\d:\\d\\d:\\d\\d  file\\.complete +${source}  7 B$`),
    );
    expect(lines.find((l) => l.includes('file.ingested'))).toMatch(
      new RegExp(`^\\d\\d:\\d\\d:\\d\\d  file\\.ingested +${source}  #\\d+  7 B$`),
    );
    expect(r.stdout).not.toContain('stats');
    expect(r.stdout).not.toContain('\x1b[');

    const json = start(['ctl', 'watch', '--json', ...ctlArgs(certs, port, 'user')]);
    await waitFor(() => output(json).stdout.includes('"type":"stats"'), 10_000, 'a stats event');
    json.kill('SIGTERM');
    const j = await finished(json);
    expect(j.code).toBe(0);
    const events = j.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { id: string; type: string; data: object });
    for (const e of events) expect(e.id).toMatch(/^\d+-\d+\.[A-Za-z0-9_-]+$/);
    expect(events.find((e) => e.type === 'stats')!.data).toMatchObject({ paused: false });
  });
});

interface Seen {
  method: string;
  url: string;
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

/**
 * A small HTTPS server with mutual TLS (the certificates of `ingestor certs`) that answers the
 * calls still to come with the shapes issue 11 gives them, and records what it was sent.
 */
async function fakeDaemon(certs: string, answers: Record<string, [number, unknown]>) {
  const seen: Seen[] = [];
  const server = https.createServer(
    {
      cert: fs.readFileSync(path.join(certs, 'server.crt')),
      key: fs.readFileSync(path.join(certs, 'server.key')),
      ca: fs.readFileSync(path.join(certs, 'ca.crt')),
      requestCert: true,
      rejectUnauthorized: true,
    },
    (req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (c: string) => (body += c));
      req.on('end', () => {
        seen.push({ method: req.method!, url: req.url!, body, headers: req.headers });
        const [status, answer] = answers[`${req.method} ${req.url}`] ?? [
          404,
          { error: 'API_ERR_NOT_FOUND', message: `no route ${req.method} ${req.url}` },
        ];
        res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
        res.end(JSON.stringify(answer));
      });
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { seen, port: (server.address() as AddressInfo).port, close: () => server.close() };
}

describe('ingestor ctl: the calls whose endpoints come with the controls', () => {
  let certs: string;
  let fake: Awaited<ReturnType<typeof fakeDaemon>>;

  beforeAll(async () => {
    ({ certs } = setUpApi());
    fake = await fakeDaemon(certs, {
      'POST /v1/files/5/retry': [200, { id: 5, status: 'queued' }],
      'POST /v1/files/6/retry': [200, { id: 6, status: 'queued' }],
      'POST /v1/files/7/retry': [
        409,
        { error: 'API_ERR_CONFLICT', message: 'file 7 is ingested: nothing to retry' },
      ],
      'POST /v1/files/3/cancel': [200, { id: 3, status: 'held' }],
      'POST /v1/files/3/release': [200, { id: 3, status: 'pending' }],
      'POST /v1/pause': [
        200,
        { paused: { reason: 'operator', by: 'O=Ingestor, OU=admin, CN=admin' } },
      ],
      'POST /v1/resume': [200, { paused: null }],
      'PUT /v1/limits': [200, { limits: { concurrency: 4 } }],
      'GET /v1/status': [200, { state: 'running', limits: { concurrency: 16, batchSize: 256 } }],
      'GET /v1/files/3/history': [
        200,
        {
          events: [
            { at: '2026-11-24T01:00:00.000Z', type: 'complete' },
            { at: '2026-11-24T01:00:01.000Z', type: 'cancelled', subject: 'CN=admin' },
          ],
        },
      ],
      'GET /v1/pending': [200, { files: [{ path: '/in/x.csv', why: 'stable for 3 of 5 s' }] }],
      'GET /v1/stats': [200, { rates: { '1m': { files: 2.5, bytes: 100 } }, failures: {} }],
    });
  });

  afterAll(() => fake.close());

  const call = (...args: string[]) => ctl([...args, ...ctlArgs(certs, fake.port)]);
  const last = () => fake.seen.at(-1)!;

  it('builds each request as the API takes it and shows the answer', async () => {
    let r = await call('retry', '5', '6');
    expect(r.code, r.stderr).toBe(0);
    expect(fake.seen.slice(-2).map((s) => `${s.method} ${s.url}`)).toEqual([
      'POST /v1/files/5/retry',
      'POST /v1/files/6/retry',
    ]);
    expect(last().headers['content-length']).toBe('0');
    expect(last().headers['content-type']).toBeUndefined();
    expect(r.stdout).toContain('retry 5: id: 5');
    expect(r.stdout).toContain('retry 6: id: 6');

    r = await call('cancel', '3');
    expect([r.code, `${last().method} ${last().url}`]).toEqual([0, 'POST /v1/files/3/cancel']);
    expect(r.stdout).toContain('cancel 3: id: 3\nstatus: held');
    r = await call('release', '3');
    expect([r.code, `${last().method} ${last().url}`]).toEqual([0, 'POST /v1/files/3/release']);
    r = await call('pause');
    expect([r.code, `${last().method} ${last().url}`]).toEqual([0, 'POST /v1/pause']);
    expect(r.stdout).toBe('paused.reason: operator\npaused.by: O=Ingestor, OU=admin, CN=admin\n');
    r = await call('resume');
    expect([r.code, `${last().method} ${last().url}`, r.stdout]).toEqual([
      0,
      'POST /v1/resume',
      'paused: -\n',
    ]);

    r = await call('limits', '--concurrency', '4');
    expect([r.code, `${last().method} ${last().url}`]).toEqual([0, 'PUT /v1/limits']);
    expect(JSON.parse(last().body)).toEqual({ concurrency: 4 });
    expect(last().headers['content-type']).toBe('application/json');
    expect(r.stdout).toBe('limits.concurrency: 4\n');
    r = await call('limits');
    expect([r.code, `${last().method} ${last().url}`, r.stdout]).toEqual([
      0,
      'GET /v1/status',
      'concurrency: 16\nbatchSize: 256\n',
    ]);

    r = await call('history', '3');
    expect([r.code, `${last().method} ${last().url}`]).toEqual([0, 'GET /v1/files/3/history']);
    expect(r.stdout.split('\n')[0]).toMatch(/^AT\s+TYPE$/);
    expect(r.stdout).toContain('2026-11-24T01:00:01.000Z  cancelled');
    r = await call('pending');
    expect(r.stdout).toMatch(/^PATH\s+WHY\n\/in\/x\.csv\s+stable for 3 of 5 s\n$/);
    r = await call('stats');
    expect(r.stdout).toBe('rates.1m.files: 2.5\nrates.1m.bytes: 100\nfailures: {}\n');
    r = await call('stats', '--json');
    expect(JSON.parse(r.stdout)).toEqual({
      rates: { '1m': { files: 2.5, bytes: 100 } },
      failures: {},
    });
  });

  it('goes on past a refused retry and exits 5 for the conflict', async () => {
    const r = await call('retry', '7', '5');
    expect(r.code).toBe(5);
    expect(fake.seen.slice(-2).map((s) => s.url)).toEqual([
      '/v1/files/7/retry',
      '/v1/files/5/retry',
    ]);
    expect(r.stdout).toContain('retry: not now: file 7 is ingested: nothing to retry');
    expect(r.stdout).toContain('retry 5: id: 5');
    expect(r.stderr).toBe('ingestor: not now: file 7 is ingested: nothing to retry\n');
  });
});
