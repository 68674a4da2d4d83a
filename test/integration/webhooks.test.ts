import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import {
  baseArgs,
  finished,
  makeDirs,
  manifestLines,
  output,
  run,
  start,
  waitFor,
  writeOld,
} from '../helpers/ingestor.js';
import type { Dirs } from '../helpers/ingestor.js';
import { metricValue, metricsUrl, scrape } from '../helpers/metrics.js';
import { WebhookReceiver } from '../helpers/webhook-receiver.js';
import { ctlArgs, setUpApi, startWithApi } from '../helpers/api.js';

const newSecret = () => `whsec_${randomBytes(32).toString('base64')}`;

/** Retries a hundred times sooner than in production (first retry after 50 ms, not 5 s). */
const FAST_RETRIES = { INGEST_TEST_WEBHOOK_BACKOFF_SCALE: '0.01' };

function daemon(d: Dirs, receiver: WebhookReceiver, secret: string, extra: string[] = []) {
  return start(
    [
      ...baseArgs(d),
      '--stability-seconds',
      '0.3',
      '--scan-interval',
      '1',
      '--max-file-size',
      '1KiB',
      '--webhook',
      receiver.url,
      ...extra,
    ],
    { env: { INGESTOR_WEBHOOK_SECRET: secret, ...FAST_RETRIES } },
  );
}

/** The outbox as the state keeps it. */
function outbox(d: Dirs): { msg_id: string; type: string; status: string; attempts: number }[] {
  if (!fs.existsSync(d.state)) return [];
  const db = new Database(d.state, { readonly: true });
  try {
    const table = db.prepare(`SELECT 1 FROM sqlite_master WHERE name = 'webhook_outbox'`).get();
    if (table === undefined) return [];
    return db
      .prepare('SELECT msg_id, type, status, attempts FROM webhook_outbox ORDER BY id')
      .all() as { msg_id: string; type: string; status: string; attempts: number }[];
  } finally {
    db.close();
  }
}

describe('webhooks', () => {
  it('announces start, quarantine, stop, signed so that the Standard Webhooks library verifies them', async () => {
    const d = makeDirs();
    const secret = newSecret();
    const receiver = new WebhookReceiver(secret);
    await receiver.start();
    try {
      const child = daemon(d, receiver, secret);
      await waitFor(() => receiver.accepted('ingestor.started').length === 1, 20_000, 'started');
      writeOld(path.join(d.input, 'small.csv'), 'a,b\n');
      writeOld(path.join(d.input, 'big.bin'), Buffer.alloc(4096, 1));
      await waitFor(
        () => receiver.accepted('file.quarantined').length === 1,
        20_000,
        'quarantined',
      );
      await waitFor(() => manifestLines(d.manifests).length === 1, 20_000, 'the small file');
      child.kill('SIGTERM');
      expect((await finished(child)).code).toBe(0);
      // The stop is announced and delivered before the daemon exits.
      expect(receiver.accepted('ingestor.stopped')).toHaveLength(1);
      expect(receiver.received.map((r) => r.verifyError)).toEqual(
        receiver.received.map(() => undefined),
      );
      const quarantined = receiver.accepted('file.quarantined')[0]!;
      expect(quarantined.data).toMatchObject({
        source: path.join(d.input, 'big.bin'),
        size: 4096,
        code: 'INGEST_ERR_TOO_LARGE',
        attempts: 1,
      });
      expect(String(quarantined.data.reason)).toContain('larger than --max-file-size 1.0 KiB');
      expect(receiver.accepted('ingestor.started')[0]!.data).toMatchObject({
        recovery: { rolledForward: 0, rolledBack: 0 },
        daemon: { pid: child.pid },
      });
      expect(receiver.accepted('ingestor.stopped')[0]!.data).toMatchObject({ ingested: 1 });
      // A message signed with another secret is refused by the library: the check bites.
      const other = new WebhookReceiver(newSecret());
      await other.start();
      try {
        const again = daemon(d, other, secret);
        await waitFor(() => other.received.length > 0, 20_000, 'a message to the other receiver');
        again.kill('SIGTERM');
        await finished(again);
        expect(other.received[0]!.verifyError).toMatch(/signature/i);
      } finally {
        await other.stop();
      }
    } finally {
      await receiver.stop();
    }
  });

  it('keeps a message across a kill -9 while the receiver is down, and delivers it with the same id later', async () => {
    const d = makeDirs();
    const secret = newSecret();
    const receiver = new WebhookReceiver(secret);
    await receiver.start();
    const port = new URL(receiver.url).port;
    await receiver.stop(); // down: nothing listens on its port
    const child = daemon(d, receiver, secret);
    writeOld(path.join(d.input, 'big.bin'), Buffer.alloc(4096, 2));
    await waitFor(
      () => outbox(d).some((m) => m.type === 'file.quarantined' && m.attempts > 0),
      20_000,
      'a failed attempt',
    );
    const before = outbox(d).find((m) => m.type === 'file.quarantined')!;
    expect(before.status).toBe('pending');
    child.kill('SIGKILL');
    await finished(child);
    const up = new WebhookReceiver(secret, Number(port));
    await up.start();
    try {
      const again = daemon(d, up, secret);
      await waitFor(() => up.accepted('file.quarantined').length === 1, 20_000, 'redelivery');
      again.kill('SIGTERM');
      expect((await finished(again)).code).toBe(0);
      expect(up.accepted('file.quarantined')[0]!.id).toBe(before.msg_id);
      expect(up.received.every((r) => r.verifyError === undefined)).toBe(true);
      expect(outbox(d).find((m) => m.msg_id === before.msg_id)!.status).toBe('delivered');
    } finally {
      await up.stop();
    }
  });

  it("a kill between a quarantine's intent and its commit loses no notification, and sends none for what did not happen", async () => {
    const secret = newSecret();
    const receiver = new WebhookReceiver(secret);
    await receiver.start();
    try {
      // In place (the input on another filesystem than the quarantine directory): recovery
      // commits the quarantine, and the message written with its intent goes. Moved aside:
      // the move had not happened, recovery rolls it back and the message is deleted; the
      // file is quarantined again, with a message of its own.
      for (const inPlace of [true, false]) {
        const d = makeDirs({ tmpfsWarehouse: inPlace });
        receiver.received.length = 0;
        writeOld(path.join(d.input, 'big.bin'), Buffer.alloc(4096, 4));
        const killed = start(
          [...baseArgs(d), '--once', '--max-file-size', '1KiB', '--webhook', receiver.url],
          { env: { INGESTOR_WEBHOOK_SECRET: secret, INGEST_TEST_CRASH_AT: 'quarantine-intent' } },
        );
        expect((await finished(killed)).signal).toBe('SIGKILL');
        // Written with the intent, not sent: the row is not committed.
        const written = outbox(d).filter((m) => m.type === 'file.quarantined');
        expect(written.map((m) => m.status)).toEqual(['pending']);
        expect(receiver.accepted('file.quarantined')).toHaveLength(0);
        const again = daemon(d, receiver, secret);
        await waitFor(() => receiver.accepted('file.quarantined').length === 1, 20_000, 'delivery');
        await new Promise((r) => setTimeout(r, 500));
        again.kill('SIGTERM');
        expect((await finished(again)).code).toBe(0);
        const sent = receiver.accepted('file.quarantined');
        expect(sent, `in place: ${inPlace}`).toHaveLength(1);
        expect(sent[0]!.data).toMatchObject({ source: path.join(d.input, 'big.bin') });
        const after = outbox(d).filter((m) => m.type === 'file.quarantined');
        if (inPlace) {
          expect(sent[0]!.id).toBe(written[0]!.msg_id);
          expect(after.map((m) => m.status)).toEqual(['delivered']);
        } else {
          expect(after.map((m) => [m.msg_id === written[0]!.msg_id, m.status])).toEqual([
            [false, 'delivered'],
          ]);
        }
      }
    } finally {
      await receiver.stop();
    }
  });

  it('a receiver that answers 500 for a while gets the event later; the failing endpoint is said, in a line and a metric, and ingestion goes on', async () => {
    const d = makeDirs();
    const secret = newSecret();
    const receiver = new WebhookReceiver(secret);
    let failing = true;
    receiver.answer = () => (failing ? 500 : 204);
    await receiver.start();
    try {
      const child = daemon(d, receiver, secret, ['--metrics-port', '0']);
      const url = await metricsUrl(child);
      writeOld(path.join(d.input, 'big.bin'), Buffer.alloc(4096, 3));
      await waitFor(
        () => receiver.received.filter((r) => r.type === 'file.quarantined').length >= 3,
        30_000,
        'three failed attempts',
      );
      // Ingestion does not wait for the receiver.
      writeOld(path.join(d.input, 'ok.csv'), 'fine\n');
      await waitFor(() => manifestLines(d.manifests).length === 1, 20_000, 'an ingest meanwhile');
      await waitFor(
        () => output(child).stdout.includes('"event":"webhook-failing"'),
        10_000,
        'the failing line',
      );
      const label = receiver.url;
      const metrics = await scrape(url);
      expect(metricValue(metrics, 'ingestor_webhook_failing', `{endpoint="${label}"}`)).toBe(1);
      failing = false;
      await waitFor(() => receiver.accepted('file.quarantined').length === 1, 30_000, 'delivery');
      const attempts = receiver.received.filter((r) => r.type === 'file.quarantined');
      expect(new Set(attempts.map((r) => r.id)).size).toBe(1);
      await waitFor(
        () => output(child).stdout.includes('"event":"webhook-recovered"'),
        10_000,
        'the recovery line',
      );
      expect(
        metricValue(await scrape(url), 'ingestor_webhook_failing', `{endpoint="${label}"}`),
      ).toBe(0);
      child.kill('SIGTERM');
      expect((await finished(child)).code).toBe(0);
    } finally {
      await receiver.stop();
    }
  });

  it("ctl webhooks lists the outbox and redelivers one with its id; an operator's pause and resume are announced", async () => {
    const { d, certs } = setUpApi();
    const secret = newSecret();
    const receiver = new WebhookReceiver(secret);
    await receiver.start();
    const ctl = (...args: string[]) => run(['ctl', ...args, ...ctlArgs(certs, port)]);
    let port = 0;
    try {
      const started = await startWithApi(d, certs, ['--webhook', receiver.url], {
        env: { INGESTOR_WEBHOOK_SECRET: secret, ...FAST_RETRIES },
      });
      port = started.port;
      await waitFor(() => receiver.accepted('ingestor.started').length === 1, 20_000, 'started');
      expect((await ctl('pause')).code).toBe(0);
      expect((await ctl('resume')).code).toBe(0);
      await waitFor(() => receiver.accepted('ingestor.resumed').length === 1, 20_000, 'resumed');
      expect(receiver.accepted('ingestor.paused')[0]!.data).toMatchObject({
        kind: 'operator',
        actor: expect.stringContaining('CN=admin') as unknown,
      });
      const list = await ctl('webhooks', '--json');
      expect(list.code, list.stderr).toBe(0);
      const { deliveries } = JSON.parse(list.stdout) as {
        deliveries: {
          id: number;
          webhookId: string;
          type: string;
          status: string;
          endpoint: string;
        }[];
      };
      expect(deliveries.map((x) => x.type)).toEqual([
        'ingestor.resumed',
        'ingestor.paused',
        'ingestor.started',
      ]);
      expect(deliveries.every((x) => x.status === 'delivered' && x.endpoint === receiver.url)).toBe(
        true,
      );
      const table = await ctl('webhooks');
      expect(table.stdout.split('\n')[0]).toMatch(
        /^ID\s+TYPE\s+STATUS\s+TRIES\s+WHEN\s+LAST\s+ENDPOINT$/,
      );
      const first = deliveries.at(-1)!;
      const again = await ctl('webhooks', 'redeliver', String(first.id));
      expect(again.code, again.stderr).toBe(0);
      expect(again.stdout).toContain(`redeliver ${first.id}: ingestor.started ${first.webhookId}`);
      await waitFor(() => receiver.accepted('ingestor.started').length === 2, 20_000, 'redelivery');
      expect(receiver.accepted('ingestor.started').map((r) => r.id)).toEqual([
        first.webhookId,
        first.webhookId,
      ]);
      const missing = await ctl('webhooks', 'redeliver', '999');
      expect(missing.code).not.toBe(0);
      expect(missing.stderr).toContain('no webhook delivery 999');
      const bad = await ctl('webhooks', 'resend', '1');
      expect(bad.code).toBe(2);
      expect(bad.stderr).toContain('ctl webhooks takes redeliver ID or nothing');
      started.daemon.kill('SIGTERM');
      expect((await finished(started.daemon)).code).toBe(0);
    } finally {
      await receiver.stop();
    }
  });

  it('announces a closed hour (manifest.closed) with what its _SUCCESS says', async () => {
    const d = makeDirs();
    const secret = newSecret();
    const receiver = new WebhookReceiver(secret);
    await receiver.start();
    try {
      // The daemon's clock in another hour (a test hook): a pass at 10:10, then one at 11:05.
      const hour = Date.UTC(2030, 0, 1, 10);
      const at = (ms: number) => ({
        INGESTOR_WEBHOOK_SECRET: secret,
        INGEST_TEST_CLOCK_OFFSET_MS: String(ms - Date.now()),
      });
      const once = (ms: number) =>
        run([...baseArgs(d), '--once', '--webhook', `${receiver.url} events=manifest.*`], {
          env: at(ms),
        });
      writeOld(path.join(d.input, 'a.csv'), 'a\n');
      expect((await once(hour + 10 * 60_000)).code).toBe(0);
      expect(receiver.received).toEqual([]);
      expect((await once(hour + 65 * 60_000)).code).toBe(0);
      const closed = receiver.accepted('manifest.closed');
      expect(closed).toHaveLength(1);
      expect(closed[0]!.verifyError).toBeUndefined();
      const success = JSON.parse(
        fs.readFileSync(path.join(d.manifests, '2030/01/01/10/_SUCCESS'), 'utf8'),
      ) as { lines: number; bytes: number; sha256: string };
      expect(closed[0]!.data).toMatchObject({
        hour: '2030-01-01T10:00:00Z',
        lines: 1,
        bytes: success.bytes,
        sha256: success.sha256,
      });
      expect(outbox(d).map((m) => [m.type, m.status])).toEqual([['manifest.closed', 'delivered']]);
    } finally {
      await receiver.stop();
    }
  });

  it('refuses webhooks it cannot sign or reach, naming the problem, exit 2', async () => {
    const d = makeDirs();
    const cases: [string[], Record<string, string>, RegExp][] = [
      [['--webhook', 'https://h.example/x'], {}, /--webhook https:\/\/h\.example\/x has no secret/],
      [
        ['--webhook', 'https://h.example/x', '--webhook-secret', 'hunter2'],
        {},
        /--webhook-secret must be a Standard Webhooks secret: whsec_/,
      ],
      [
        ['--webhook', 'ftp://h.example/x'],
        { INGESTOR_WEBHOOK_SECRET: newSecret() },
        /must start with an http:\/\/ or https:\/\/ URL/,
      ],
      [
        ['--webhook', 'https://h.example/x events=file.deleted'],
        { INGESTOR_WEBHOOK_SECRET: newSecret() },
        /no event "file\.deleted"/,
      ],
      [
        ['--webhook', 'https://h.example/x secret-env=NOPE'],
        {},
        /secret-env=NOPE but \$NOPE is not set/,
      ],
    ];
    // A value from a variable is said to come from it.
    cases.push(
      [
        [],
        { INGESTOR_WEBHOOK: 'ftp://h.example/x' },
        /^ingestor: INGESTOR_WEBHOOK "ftp:\/\/h\.example\/x" must start with an http/,
      ],
      [
        ['--webhook', 'https://h.example/x'],
        { INGESTOR_WEBHOOK_SECRET: 'hunter2' },
        /^ingestor: INGESTOR_WEBHOOK_SECRET must be a Standard Webhooks secret/,
      ],
    );
    for (const [args, env, message] of cases) {
      const r = await run([...baseArgs(d), '--once', ...args], { env });
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
      expect(r.stderr, args.join(' ')).toMatch(message);
    }
    expect(fs.existsSync(d.state)).toBe(false);
  });
});
