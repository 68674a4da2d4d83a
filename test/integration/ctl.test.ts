import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { pendingIdOf } from '../helpers/api-actions.js';
import { ctlArgs, makeCerts, setUpApi, startWithApi, testCaOf } from '../helpers/api.js';
import { slowDisk } from '../helpers/slow-disk.js';
import { BIN, finished, output, run, start, waitFor, writeOld } from '../helpers/ingestor.js';
import type { Dirs, RunResult } from '../helpers/ingestor.js';

/** The flags that point ctl at `port` with the `role` certificate of `certs`. */
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
    // One after the other: the tests read b.csv as the newer file.
    const ingested = () => (output(daemon).stdout.match(/"event":"ingested"/g) ?? []).length;
    writeOld(path.join(d.input, 'a.csv'), 'alpha');
    await waitFor(() => ingested() === 1, 20_000, 'a.csv');
    writeOld(path.join(d.input, 'b.csv'), 'beta');
    await waitFor(() => ingested() === 2, 20_000, 'b.csv');
  });

  afterEach(async () => {
    daemon.kill('SIGTERM');
    expect((await finished(daemon)).code).toBe(0);
  });

  it('status, ls and show: tables for people, JSON with --json', async () => {
    const status = await ctl(['status', ...ctlArgs(certs, port, 'user')]);
    expect(status.code, status.stderr).toBe(0);
    const screen = status.stdout.split('\n');
    expect(screen[0]).toMatch(/^ingestor: running \(pid \d+, up \d+s, version \S+\)$/);
    expect(status.stdout).toMatch(/^ingested {5}2 files, 9 B, last at \S+Z$/m);
    expect(status.stdout).toContain('\nquarantined  0\n');
    expect(status.stdout).toMatch(/^queue {8}0 queued, 0 in progress, 0 pending/m);
    expect(status.stdout).toMatch(/^limits {7}concurrency 16, batch size \d+, /m);
    expect(status.stdout).toMatch(/^resources {4}(CPU [\d.]+%, )?memory [\d.]+ MiB \(heap /m);
    expect(status.stdout).toMatch(/^VOLUME +FREE +TOTAL +USED +PATH$/m);
    expect(status.stdout).toMatch(
      new RegExp(`^warehouse +[\\d.]+ [KMGT]iB +[\\d.]+ [KMGT]iB +[\\d.]+% +${d.warehouse}$`, 'm'),
    );
    // No flattened dump of the answer: no `a.b: value` lines, no JSON.
    expect(status.stdout).not.toMatch(/^\w+\.\w+: |[{[]"/m);
    const json = await ctl(['status', '--json', ...ctlArgs(certs, port)]);
    expect(JSON.parse(json.stdout)).toMatchObject({
      state: 'running',
      files: { ingested: { files: 2 } },
    });

    const ls = await ctl(['ls', ...ctlArgs(certs, port)]);
    expect(ls.code, ls.stderr).toBe(0);
    expect(ls.stderr).toBe('');
    const lines = ls.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^ID\s+STATUS\s+SIZE\s+AT\s+SOURCE$/);
    expect(lines[1]).toMatch(/^\d+ +ingested +4 B +\S+Z +\S+b\.csv$/);
    expect(lines.slice(1).map((l) => l.split(/\s+/).at(-1))).toEqual([
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

  it('ls: filters, pages with the next cursor on stderr, and names with control characters escaped', async () => {
    const odd = path.join(d.input, 'new\nline\t.csv');
    writeOld(odd, 'odd');
    await waitFor(
      () => (output(daemon).stdout.match(/"event":"ingested"/g) ?? []).length === 3,
      20_000,
      'the third file',
    );
    const args = ctlArgs(certs, port, 'user');
    const first = await ctl(['ls', '--limit', '2', ...args]);
    expect(first.code, first.stderr).toBe(0);
    const rows = first.stdout.trim().split('\n');
    expect(rows).toHaveLength(3); // the header and two files, whatever their names hold
    expect(rows[1]).toMatch(/ +\S+\/new\\nline\\t\.csv$/);
    const next = /^ingestor: more files: ctl ls --limit 2 --cursor ([\w-]+)\n$/.exec(first.stderr);
    expect(next, first.stderr).not.toBeNull();
    const second = await ctl(['ls', '--limit', '2', '--cursor', next![1]!, ...args]);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout.trim().split('\n').slice(1)).toEqual([
      expect.stringMatching(new RegExp(`  ${path.join(d.input, 'a.csv')}$`)),
    ]);
    expect(second.stderr).toBe('');

    // JSON stays exact: the name as it is.
    const json = JSON.parse((await ctl(['ls', '--json', '--q', 'line', ...args])).stdout);
    expect(json.files.map((f: { source: string }) => f.source)).toEqual([odd]);
    const id = String(json.files[0].id);
    const show = await ctl(['show', id, ...args]);
    expect(show.stdout).toContain(`source: ${path.join(d.input, 'new\\nline\\t.csv')}\n`);
    expect(show.stdout.split('\n').filter((l) => l.startsWith('source: '))).toHaveLength(1);

    const none = await ctl(['ls', '--status', 'quarantined', '--since', '1h', ...args]);
    expect([none.code, none.stdout]).toEqual([0, '(none)\n']);
    const sha = await ctl(['ls', '--json', '--sha256', json.files[0].sha256.slice(0, 8), ...args]);
    expect(JSON.parse(sha.stdout).files.map((f: { id: number }) => f.id)).toEqual([Number(id)]);
    expectFailure(
      await ctl(['ls', '--limit', '1001', ...args]),
      2,
      /--limit must be at most 1000, got 1001/,
    );
    expectFailure(await ctl(['ls', '--since', 'yesterday', ...args]), 2, /--since must be an ISO/);
    expectFailure(await ctl(['ls', '--sha256', 'xyz', ...args]), 2, /--sha256 must be a SHA-256/);
    expectFailure(await ctl(['status', '--q', 'a', ...args]), 2, /--q applies only to ctl ls/);
  });

  it('status and stats for people: sizes in units, rates rounded, a row per window', async () => {
    const stats = await ctl(['stats', ...ctlArgs(certs, port, 'user')]);
    expect(stats.code, stats.stderr).toBe(0);
    const lines = stats.stdout.trim().split('\n');
    expect(lines[0]).toMatch(
      /^WINDOW +FILES\/S +BYTES\/S +FILES +BYTES +DUPLICATES +LATENCY MEAN +P95 +FAILURES$/,
    );
    expect(lines.slice(1).map((l) => l.split(/\s+/)[0])).toEqual(['1m', '5m', '60m']);
    // Two files of 9 bytes in the last minute: rates rounded, bytes with a unit, times in ms.
    expect(lines[1]).toMatch(
      /^1m +(0\.0\d|<0\.01) +\d+ B\/s +2 +9 B +0 +[\d.]+ m?s +[\d.]+ m?s +none$/,
    );
    expect(stats.stdout).not.toMatch(/\d\.\d{3,}/); // no 0.03333333
    const json = JSON.parse((await ctl(['stats', '--json', ...ctlArgs(certs, port)])).stdout);
    expect(json.windows['1m']).toMatchObject({ seconds: 60, files: 2, bytes: 9 });
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
    // The server's words as they are, and what to do: the role this call needs.
    expectFailure(
      noRole,
      3,
      /^ingestor: refused: this call needs the user role; the certificate O=Ingestor, CN=nobody has no role \(use a certificate with OU=user or OU=admin, or give this certificate's subject or CN the user role in the daemon's --api-roles\)$/m,
    );
    expectFailure(
      await ctl(['pause', ...ctlArgs(certs, port, 'user')]),
      3,
      /refused: this call needs the admin role; the certificate .*OU=user.* has the user role \(use a certificate with OU=admin, /,
    );
    expectFailure(
      await ctl([
        'status',
        ...ctlArgs(certs, port).slice(0, 4),
        '--key',
        path.join(certs, 'user.key'),
        ...ctlArgs(certs, port).slice(6),
      ]),
      2,
      /^ingestor: --cert ".*admin\.crt" and --key ".*user\.key": the key does not match the certificate \(give the \.key made with that \.crt\)$/m,
    );
    // Something at the address that does not speak TLS: plain HTTP.
    const plain = http.createServer((_req, res) => res.end('hello'));
    await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', resolve));
    try {
      const plainPort = (plain.address() as AddressInfo).port;
      expectFailure(
        await ctl(['status', ...ctlArgs(certs, plainPort)]),
        7,
        /^ingestor: the TLS handshake with https:\/\/localhost:\d+ failed \(EPROTO: wrong version number\): is --server the control API's address \(the daemon's --api-port\)\? The API speaks HTTPS with client certificates only$/m,
      );
    } finally {
      plain.close();
    }
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
    expectFailure(
      await ctl(['show', ...args]),
      2,
      /ctl show takes one id \(ctl show ROW-ID\), got 0/,
    );
    expectFailure(await ctl(['show', '1', '2', ...args]), 2, /ctl show takes one id/);
    expectFailure(
      await ctl(['show', '../x', ...args]),
      2,
      /ctl show takes a row id \(a positive integer, as ctl ls shows\), got "\.\.\/x"/,
    );
    const pid = `p${'A'.repeat(22)}`;
    expectFailure(
      await ctl(['history', pid, ...args]),
      2,
      new RegExp(
        `ctl history takes a row id .*, got the pending id ${pid}: a file has a row once it is taken`,
      ),
    );
    expectFailure(
      await ctl(['cancel', 'pshort', ...args]),
      2,
      /ctl cancel takes row ids \(a positive integer, as ctl ls shows\) or pending ids \(p and 22 characters, as ctl pending shows\), got "pshort"/,
    );
    expectFailure(await ctl(['hold', ...args]), 2, /ctl hold takes one id \(ctl hold ID\), got 0/);
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
    expectFailure(
      await ctl(['limits', '--max-file-size', '2 parsecs', ...args]),
      2,
      /--max-file-size must be a positive size in bytes/,
    );
    expectFailure(
      await ctl(['ls', '--min-free-space', '5%', ...args]),
      2,
      /--min-free-space applies only to ctl limits, not ctl ls/,
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
      /--server must be https:\/\/HOST:PORT \(the daemon's host and its --api-port\), got "http:\/\/localhost:1"/,
    );
    for (const server of ['https://localhost', 'https://localhost/', 'https://[::1]']) {
      expectFailure(
        await ctl(['status', '--server', server, ...args.slice(2)]),
        2,
        /--server must be https:\/\/HOST:PORT \(the daemon's host and its --api-port\)/,
      );
    }
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

describe('ingestor ctl with pending ids', () => {
  it('holds and releases a pending file by the id ctl pending shows; cancel and retry send it too', async () => {
    const { d, certs } = setUpApi();
    // A window longer than the test: the file stays pending, with its pending id.
    const { daemon, port } = await startWithApi(d, certs, [], { stabilitySeconds: '600' });
    try {
      const args = ctlArgs(certs, port);
      const source = path.join(d.input, 'waiting.csv');
      fs.writeFileSync(source, 'waiting');
      let pid = '';
      for (const until = Date.now() + 20_000; pid === '' && Date.now() < until;) {
        const r = await ctl(['pending', '--json', ...args]);
        pid = (JSON.parse(r.stdout) as { files: { id: string }[] }).files[0]?.id ?? '';
      }
      expect(pid).toMatch(/^p[A-Za-z0-9_-]{22}$/);
      const listed = await ctl(['pending', ...args]);
      expect(listed.stdout.split('\n')[1]).toMatch(
        new RegExp(`^${pid}  stabilizing  \\S+  stable for [\\d.]+ of 600 s  ${source}$`),
      );

      const hold = await ctl(['hold', pid, ...args]);
      expect([hold.code, hold.stderr]).toEqual([0, '']);
      expect(hold.stdout).toBe(
        `held ${pid}: ${source} is held as ${pid} (ctl release ${pid} lets it be taken again)\n`,
      );
      expect((await ctl(['pending', ...args])).stdout).toMatch(new RegExp(`^${pid}  held `, 'm'));
      const release = await ctl(['release', pid, ...args]);
      expect([release.code, release.stdout]).toEqual([
        0,
        `released ${pid}: ${source} may be taken again\n`,
      ]);
      expect((await ctl(['pending', ...args])).stdout).toMatch(
        new RegExp(`^${pid}  stabilizing `, 'm'),
      );
      // Cancel is for a file being read or copied: the daemon takes the pending id, and says
      // why it is refused (a pending file is held instead).
      const cancel = await ctl(['cancel', pid, ...args]);
      expectFailure(
        cancel,
        5,
        new RegExp(`^ingestor: conflict: file ${pid} is not being read or copied`),
      );
      // A retry by pending id reaches the daemon too: this file has not failed.
      expectFailure(await ctl(['retry', pid, ...args]), 5, /conflict: .* has not failed/);
      const again = await ctl(['release', pid, '--json', ...args]);
      expectFailure(again, 5, /conflict: file .* is not held/);
    } finally {
      daemon.kill('SIGTERM');
      expect((await finished(daemon)).code).toBe(0);
    }
  });
});

describe('ingestor ctl cancel on a file being read', () => {
  it('cancels it by its pending id, holds it, and releases it to be ingested', async () => {
    const { d: tree, certs } = setUpApi();
    // The input on a disk the daemon reads at 8 MiB/s: a 32 MiB file is read for seconds.
    const disk = slowDisk(tree.root, {
      sizeBytes: 128 * 1024 * 1024,
      readBytesPerSecond: 8 * 1024 * 1024,
    });
    const d = { ...tree, input: path.join(disk.dir, 'in') };
    fs.mkdirSync(d.input);
    const { daemon, port } = await startWithApi(d, certs);
    try {
      disk.limit(daemon.pid!);
      const args = ctlArgs(certs, port);
      const source = path.join(d.input, 'big.bin');
      const pid = pendingIdOf(source);
      disk.writeUncached(source, 32 * 1024 * 1024);
      // Until the daemon has taken it, a cancel is refused (409): the file is not being read.
      let cancel = await ctl(['cancel', pid, ...args]);
      for (const until = Date.now() + 20_000; cancel.code === 5 && Date.now() < until;) {
        await new Promise((r) => setTimeout(r, 100));
        cancel = await ctl(['cancel', pid, ...args]);
      }
      expect([cancel.code, cancel.stderr]).toEqual([0, '']);
      expect(cancel.stdout).toBe(
        `cancelled ${pid}: ${source} is held as ${pid} (ctl release ${pid} lets it be taken again)\n`,
      );
      expect((await ctl(['pending', ...args])).stdout).toMatch(
        new RegExp(`^${pid}  held  .*cancelled by .*  ${source}$`, 'm'),
      );
      const release = await ctl(['release', pid, ...args]);
      expect([release.code, release.stdout]).toEqual([
        0,
        `released ${pid}: ${source} may be taken again\n`,
      ]);
      await waitFor(
        () => output(daemon).stdout.includes('"event":"ingested"'),
        60_000,
        'the released file ingested',
      );
      const ls = JSON.parse((await ctl(['ls', '--json', ...args])).stdout);
      expect(ls.files.map((f: { source: string; status: string }) => [f.source, f.status])).toEqual(
        [[source, 'ingested']],
      );
    } finally {
      daemon.kill('SIGTERM');
      expect((await finished(daemon, 60_000)).code).toBe(0);
    }
  });
});

/** `ingestor ctl ARGS | READER` as a shell runs it, with ctl's own exit code and a deadline. */
function piped(args: string[], reader: string, timeoutMs = 30_000) {
  const r = spawnSync(
    'bash',
    [
      '-c',
      `"$0" "$@" | ${reader}; exit "\${PIPESTATUS[0]}"`,
      process.execPath,
      BIN,
      'ctl',
      ...args,
    ],
    { encoding: 'utf8', timeout: timeoutMs },
  );
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

describe('ingestor ctl with a reader that leaves early', () => {
  it('watch, watch --json and ls end quietly with exit 0 once the pipe closes', async () => {
    const { d, certs } = setUpApi();
    const { daemon, port } = await startWithApi(d, certs);
    try {
      const args = ctlArgs(certs, port, 'user');
      // The stream's stats events come every second: the third line's write finds no reader.
      const started = Date.now();
      const json = piped(['watch', '--json', ...args], 'head -2');
      expect(json.signal, 'ctl watch --json | head -2 did not end').toBeNull();
      expect([json.code, json.stderr]).toEqual([0, '']);
      expect(json.stdout.trim().split('\n')).toHaveLength(2);
      expect(Date.now() - started).toBeLessThan(20_000);

      // One line per file event: files arrive until the watch has written past `head -1`.
      let n = 0;
      const writer = setInterval(() => writeOld(path.join(d.input, `f${(n += 1)}.csv`), 'x'), 300);
      const lines = await new Promise<ReturnType<typeof piped>>((resolve) => {
        const child = spawn(
          'bash',
          [
            '-c',
            `"$0" "$@" | head -1; exit "\${PIPESTATUS[0]}"`,
            process.execPath,
            BIN,
            'ctl',
            'watch',
            ...args,
          ],
          { stdio: ['ignore', 'pipe', 'pipe'] },
        );
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
        child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
        const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
        child.on('close', (code, signal) => {
          clearTimeout(timer);
          resolve({ code, signal, stdout, stderr });
        });
      }).finally(() => clearInterval(writer));
      expect(lines.signal, 'ctl watch | head -1 did not end').toBeNull();
      expect([lines.code, lines.stderr]).toEqual([0, '']);
      expect(lines.stdout).toMatch(/^\d\d:\d\d:\d\d {2}file\.\w+ .*\n$/);

      const ls = piped(['ls', '--limit', '1000', ...args], 'head -1');
      expect([ls.code, ls.stderr]).toEqual([0, '']);
      expect(ls.stdout).toMatch(/^ID +STATUS/);
    } finally {
      daemon.kill('SIGTERM');
      expect((await finished(daemon)).code).toBe(0);
    }
  });
});

interface Seen {
  method: string;
  url: string;
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

/**
 * A small HTTPS server with mutual TLS (the certificates of `ingestor certs`) that answers with
 * the shapes the API gives (src/api/routes/), and records what it was sent: the answers a real
 * daemon gives only in states that take long to reach (a quarantined file put back).
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

const P = `p${'x'.repeat(21)}Q`;

describe('ingestor ctl: the requests it builds, and one line per action', () => {
  let certs: string;
  let fake: Awaited<ReturnType<typeof fakeDaemon>>;

  beforeAll(async () => {
    ({ certs } = setUpApi());
    const retried = (id: string, source: string, restoredTo: string | null) => [
      200,
      { retried: { id, source, restoredTo } },
    ];
    const held = { id: P, source: '/in/x.csv', reason: 'held', by: 'CN=admin', at: 'T' };
    fake = await fakeDaemon(certs, {
      'POST /v1/files/5/retry': retried('5', '/q/5.csv', '/in/5.csv') as [number, unknown],
      'POST /v1/files/6/retry': retried('6', '/q/6.csv', '/in/6.csv') as [number, unknown],
      [`POST /v1/files/${P}/retry`]: retried(P, '/in/x.csv', null) as [number, unknown],
      'POST /v1/files/7/retry': [
        409,
        { error: 'API_ERR_CONFLICT', message: 'file 7 is an ingest, committed; nothing to retry' },
      ],
      'POST /v1/files/8/retry': [
        404,
        { error: 'API_ERR_NOT_FOUND', message: 'no file has the id 8' },
      ],
      [`POST /v1/files/${P}/cancel`]: [200, { held: { ...held, reason: 'cancelled' } }],
      [`POST /v1/files/${P}/hold`]: [200, { held }],
      [`POST /v1/files/${P}/release`]: [200, { released: held }],
      'POST /v1/pause': [
        200,
        { paused: { by: 'O=Ingestor, OU=admin, CN=admin', since: '2026-11-24T01:00:00.000Z' } },
      ],
      'POST /v1/resume': [200, { resumed: true }],
      'PUT /v1/limits': [200, { limits: { concurrency: 4, batchSize: 256 } }],
      'GET /v1/status': [200, { state: 'running', limits: { concurrency: 16, batchSize: 256 } }],
      'GET /v1/files/3/history': [
        200,
        {
          id: 3,
          events: [
            { at: '2026-11-24T01:00:00.000Z', type: 'complete', actor: null, from: 'row' },
            {
              at: '2026-11-24T01:00:01.000Z',
              type: 'cancelled',
              actor: 'CN=admin',
              from: 'journal',
            },
          ],
        },
      ],
      'GET /v1/pending?limit=5': [
        200,
        {
          total: 7,
          truncated: true,
          pausedBy: null,
          files: [
            {
              id: P,
              source: '/in/x\u001b[2J.csv',
              reason: 'backoff',
              why: 'retry at 01:00:05 after EIO',
              dueAt: '2026-11-24T01:00:05.000Z',
            },
          ],
        },
      ],
    });
  });

  afterAll(() => fake.close());

  const call = (...args: string[]) => ctl([...args, ...ctlArgs(certs, fake.port)]);
  const last = () => fake.seen.at(-1)!;

  it('builds each request as the API takes it, with row ids and pending ids', async () => {
    let r = await call('retry', '5', '6', P);
    expect(r.code, r.stderr).toBe(0);
    expect(fake.seen.slice(-3).map((s) => `${s.method} ${s.url}`)).toEqual([
      'POST /v1/files/5/retry',
      'POST /v1/files/6/retry',
      `POST /v1/files/${P}/retry`,
    ]);
    expect(last().headers['content-length']).toBe('0');
    expect(last().headers['content-type']).toBeUndefined();
    expect(r.stdout).toBe(
      [
        'retried 5: /q/5.csv (put back as /in/5.csv)',
        'retried 6: /q/6.csv (put back as /in/6.csv)',
        `retried ${P}: /in/x.csv`,
        '',
      ].join('\n'),
    );
    expect(r.stderr).toBe('');

    r = await call('cancel', P);
    expect([r.code, `${last().method} ${last().url}`]).toEqual([0, `POST /v1/files/${P}/cancel`]);
    expect(r.stdout).toBe(
      `cancelled ${P}: /in/x.csv is held as ${P} (ctl release ${P} lets it be taken again)\n`,
    );
    r = await call('hold', P);
    expect([r.code, `${last().method} ${last().url}`]).toEqual([0, `POST /v1/files/${P}/hold`]);
    r = await call('release', P);
    expect([r.code, `${last().method} ${last().url}`]).toEqual([0, `POST /v1/files/${P}/release`]);
    expect(r.stdout).toBe(`released ${P}: /in/x.csv may be taken again\n`);
    r = await call('pause');
    expect([r.code, `${last().method} ${last().url}`]).toEqual([0, 'POST /v1/pause']);
    expect(r.stdout).toBe(
      'paused by O=Ingestor, OU=admin, CN=admin since 2026-11-24T01:00:00.000Z (ctl resume ends it)\n',
    );
    r = await call('resume');
    expect([r.code, `${last().method} ${last().url}`, r.stdout]).toEqual([
      0,
      'POST /v1/resume',
      "resumed: the operator's pause is over\n",
    ]);

    r = await call('limits', '--concurrency', '4');
    expect([r.code, `${last().method} ${last().url}`]).toEqual([0, 'PUT /v1/limits']);
    expect(JSON.parse(last().body)).toEqual({ concurrency: 4 });
    expect(last().headers['content-type']).toBe('application/json');
    expect(r.stdout).toBe('limits: concurrency 4, batch size 256\n');
    r = await call('limits');
    expect([r.code, `${last().method} ${last().url}`, r.stdout]).toEqual([
      0,
      'GET /v1/status',
      'limits: concurrency 16, batch size 256\n',
    ]);
    r = await call(
      'limits',
      '--max-bytes-per-second',
      '50MiB',
      '--min-free-space',
      '10%',
      '--max-file-size',
      'none',
      '--read-stall-timeout',
      '30',
    );
    expect([r.code, `${last().method} ${last().url}`]).toEqual([0, 'PUT /v1/limits']);
    expect(JSON.parse(last().body)).toEqual({
      maxBytesPerSecond: 50 * 1024 * 1024,
      minFreeSpace: '10%',
      maxFileSize: null,
      readStallTimeout: 30,
    });

    r = await call('history', '3');
    expect([r.code, `${last().method} ${last().url}`]).toEqual([0, 'GET /v1/files/3/history']);
    expect(r.stdout.split('\n')[0]).toMatch(/^AT\s+TYPE\s+ACTOR\s+FROM\s+DETAIL$/);
    expect(r.stdout).toContain('2026-11-24T01:00:01.000Z  cancelled  CN=admin  journal  -');

    // A pending file's id first, what the actions take; the name's escape sequence shown, not run.
    r = await call('pending', '--limit', '5');
    expect([r.code, `${last().method} ${last().url}`]).toEqual([0, 'GET /v1/pending?limit=5']);
    expect(r.stdout.split('\n')[0]).toMatch(/^ID +REASON +DUE +WHY +SOURCE$/);
    expect(r.stdout.split('\n')[1]).toBe(
      `${P}  backoff  2026-11-24T01:00:05.000Z  retry at 01:00:05 after EIO  /in/x\\x1b[2J.csv`,
    );
    expect(r.stderr).toBe(
      'ingestor: 1 of 7 pending files shown: ctl pending --limit N shows up to 1000\n',
    );
  });

  it('honours --json in every action: the answers as they came, one JSON line each', async () => {
    let r = await call('retry', '5', P, '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(
      r.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l)),
    ).toEqual([
      { retried: { id: '5', source: '/q/5.csv', restoredTo: '/in/5.csv' } },
      { retried: { id: P, source: '/in/x.csv', restoredTo: null } },
    ]);
    for (const words of [['hold', P], ['cancel', P], ['release', P], ['pause'], ['resume']]) {
      r = await call(...words, '--json');
      expect(r.code, r.stderr).toBe(0);
      expect(typeof JSON.parse(r.stdout), words.join(' ')).toBe('object');
    }
    r = await call('limits', '--json');
    expect(JSON.parse(r.stdout)).toMatchObject({ limits: { concurrency: 16 } });
    r = await call('history', '3', '--json');
    expect(JSON.parse(r.stdout).events).toHaveLength(2);
  });

  it("goes on past a refused retry: each failure one line on stderr, the first one's exit code", async () => {
    let r = await call('retry', '7', '5', '8');
    expect(r.code).toBe(5);
    expect(fake.seen.slice(-3).map((s) => s.url)).toEqual([
      '/v1/files/7/retry',
      '/v1/files/5/retry',
      '/v1/files/8/retry',
    ]);
    expect(r.stdout).toBe('retried 5: /q/5.csv (put back as /in/5.csv)\n');
    expect(r.stderr).toBe(
      'ingestor: retry 7: conflict: file 7 is an ingest, committed; nothing to retry\n' +
        'ingestor: retry 8: not found: no file has the id 8\n',
    );
    r = await call('retry', '7', '--json');
    expect([r.code, r.stdout, r.stderr]).toEqual([
      5,
      '',
      'ingestor: conflict: file 7 is an ingest, committed; nothing to retry\n',
    ]);
  });
});
