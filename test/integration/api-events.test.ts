import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { request, setUpApi, startWithApi } from '../helpers/api.js';
import { finished, output, waitFor, waitForCommitted, writeOld } from '../helpers/ingestor.js';
import { ok } from '../helpers/api-actions.js';
import { slowDisk } from '../helpers/slow-disk.js';
import { openStream, stalledStream } from '../helpers/sse.js';
import type { Sse, Stream } from '../helpers/sse.js';

const ofType = (events: Sse[], type: string) => events.filter((e) => e.type === type);
const sourceOf = (e: Sse) => String(e.data.source);

async function stop(daemon: ChildProcess): Promise<string> {
  daemon.kill('SIGTERM');
  const r = await finished(daemon);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout;
}

describe('GET /v1/events', () => {
  it('shows a large cross-filesystem copy as progress events, then file.ingested', async () => {
    const s = setUpApi({ tmpfsWarehouse: true });
    // The input on a disk of its own that the daemon reads at 160 MiB/s (a cgroup's limit,
    // the file not in the page cache): the 400 MiB copy to the tmpfs takes about 2.5 s, ten
    // progress intervals, on any machine (unlimited, a quiet one copies it within one).
    const size = 400 * 1024 * 1024;
    const disk = slowDisk(s.d.root, {
      sizeBytes: 512 * 1024 * 1024,
      readBytesPerSecond: 160 * 1024 * 1024,
    });
    const d = { ...s.d, input: path.join(disk.dir, 'in') };
    fs.mkdirSync(d.input);
    const { daemon, port } = await startWithApi(d, s.certs);
    // Started, and the file not there yet: every read of it is limited.
    disk.limit(daemon.pid!);
    const stream = await openStream({ port, ca: s.ca, client: s.user });
    expect(stream.status).toBe(200);
    const big = path.join(d.input, 'big.bin');
    disk.writeUncached(big, size);
    await stream.until(
      (events) => events.some((e) => e.type === 'file.ingested' && sourceOf(e) === big),
      60_000,
      'big.bin ingested',
    );
    const mine = stream.events.filter((e) => e.data.source === big);
    const types = mine.map((e) => e.type);
    expect(types[0]).toBe('file.complete');
    expect(types.at(-1)).toBe('file.ingested');
    // The first chunk's progress goes out at once, the next at most every 250 ms: several
    // caught mid-copy, each further on. The last chunk's may come out too, with every byte.
    const progress = ofType(mine, 'progress');
    const done = progress.map((e) => Number(e.data.bytesDone));
    expect(done.filter((n) => n < size).length, JSON.stringify(done)).toBeGreaterThanOrEqual(3);
    for (const [i, n] of done.entries()) {
      expect(n).toBeLessThanOrEqual(size);
      if (i > 0) expect(n).toBeGreaterThan(done[i - 1]!);
    }
    for (const e of progress) {
      expect(e.data).toMatchObject({ bytes: size, copying: true });
      expect(Number(e.data.bytesPerSecond)).toBeGreaterThan(0);
    }
    // Ids are <start>-<seq>.<cursor>, the counter increasing.
    const ids = stream.events.map((e) => /^(\d+)-(\d+)\.[A-Za-z0-9_-]+$/.exec(e.id!)!);
    const seqs = ids.map((m) => Number(m[2]));
    expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
    expect(new Set(ids.map((m) => m[1])).size).toBe(1);
    // The stats event every second.
    await stream.until((events) => ofType(events, 'stats').length >= 2, 5_000, 'stats');
    expect(ofType(stream.events, 'stats')[0]!.data).toMatchObject({
      queued: expect.any(Number),
      inflight: expect.any(Number),
      pending: expect.any(Number),
      paused: false,
      filesPerSecond: expect.any(Number),
      bytesPerSecond: expect.any(Number),
    });
    stream.close();
    await stop(daemon);
  });

  it('replays what a reconnecting client missed from the ring, with filters by type and file', async () => {
    const s = setUpApi();
    const { daemon, port } = await startWithApi(s.d, s.certs);
    const first = await openStream({ port, ca: s.ca, client: s.admin });
    for (const name of ['a', 'b', 'c', 'd']) {
      writeOld(path.join(s.d.input, `${name}.csv`), name);
      await first.until(
        (events) =>
          ofType(events, 'file.ingested').length === ['a', 'b', 'c', 'd'].indexOf(name) + 1,
        20_000,
        `${name} ingested`,
      );
    }
    const ingested = ofType(first.events, 'file.ingested');
    first.close();
    // Reconnecting after the second file: the third and fourth, in order, then live.
    const again = await openStream({
      port,
      ca: s.ca,
      client: s.user,
      path: '/v1/events?types=file.ingested',
      lastEventId: ingested[1]!.id!,
    });
    await again.until((events) => events.length >= 2, 10_000, 'the replay');
    expect(again.events.slice(0, 2).map((e) => e.id)).toEqual([ingested[2]!.id, ingested[3]!.id]);
    writeOld(path.join(s.d.input, 'e.csv'), 'e');
    await again.until((events) => events.length >= 3, 20_000, 'e ingested');
    expect(again.events.map((e) => e.type)).toEqual(Array(3).fill('file.ingested'));
    again.close();

    // ?file= by row id, and by a part of the path (complete, then ingested).
    const start = ingested[0]!.id!.split('-')[0]!;
    const b = ingested[1]!;
    const byId = await openStream({
      port,
      ca: s.ca,
      client: s.user,
      path: `/v1/events?file=${String(b.data.id)}&types=file.ingested,file.complete`,
      lastEventId: `${start}-0`,
    });
    await byId.until((events) => events.length >= 1, 10_000, 'b by id');
    await new Promise((r) => setTimeout(r, 300));
    expect(byId.events.map((e) => [e.type, sourceOf(e)])).toEqual([['file.ingested', sourceOf(b)]]);
    byId.close();
    const byPath = await openStream({
      port,
      ca: s.ca,
      client: s.user,
      path: '/v1/events?file=c.cs&types=file.ingested,file.complete',
      lastEventId: `${start}-0`,
    });
    await byPath.until((events) => events.length >= 2, 10_000, 'c by path');
    expect(byPath.events.map((e) => e.type)).toEqual(['file.complete', 'file.ingested']);
    expect(new Set(byPath.events.map(sourceOf))).toEqual(new Set([path.join(s.d.input, 'c.csv')]));
    byPath.close();

    // An id of the older form names no place in the state: the client is told so, then gets
    // this run's events.
    const older = await openStream({
      port,
      ca: s.ca,
      client: s.user,
      path: '/v1/events?types=file.ingested',
      lastEventId: '1000-42',
    });
    await older.until((events) => events.length >= 6, 10_000, 'gap and this run');
    expect(older.events[0]!.type).toBe('stream.gap');
    expect(String(older.events[0]!.data.reason)).toContain('names no place');
    expect(ofType(older.events, 'file.ingested')).toHaveLength(5);
    older.close();
    await stop(daemon);
  });

  it('a client that comes back after a restart gets what it missed, each once, then live', async () => {
    const s = setUpApi();
    const types = '/v1/events?types=file.ingested,file.duplicate,daemon.paused';
    let { daemon, port } = await startWithApi(s.d, s.certs);
    const first = await openStream({ port, ca: s.ca, client: s.user, path: types });
    writeOld(path.join(s.d.input, 'a.csv'), 'a');
    await first.until((events) => events.length === 1, 20_000, 'a ingested');
    const last = first.events[0]!;
    expect(last.id).toMatch(/^\d+-\d+\.[A-Za-z0-9_-]+$/);
    first.close();

    // Missed: b, ingested by this run, and an operator's pause; then c and d (a duplicate of
    // b), ingested by the next run as it starts, while the pause is lifted.
    writeOld(path.join(s.d.input, 'b.csv'), 'b');
    await waitForCommitted(s.d.state, 2);
    ok(await request({ port, ca: s.ca, client: s.admin, path: '/v1/pause', method: 'POST' }));
    await stop(daemon);
    writeOld(path.join(s.d.input, 'c.csv'), 'c');
    writeOld(path.join(s.d.input, 'd.csv'), 'b');
    ({ daemon, port } = await startWithApi(s.d, s.certs));
    ok(await request({ port, ca: s.ca, client: s.admin, path: '/v1/resume', method: 'POST' }));
    await waitForCommitted(s.d.state, 4);

    const again = await openStream({
      port,
      ca: s.ca,
      client: s.user,
      path: types,
      lastEventId: last.id!,
    });
    await again.until((events) => events.length >= 4, 10_000, 'the replay');
    writeOld(path.join(s.d.input, 'e.csv'), 'e');
    await again.until((events) => events.length >= 5, 20_000, 'e live');
    await new Promise((r) => setTimeout(r, 500)); // nothing more comes
    const seen = again.events.map((e) =>
      [e.type, ...(e.data.source === undefined ? [] : [path.basename(sourceOf(e))])].join(' '),
    );
    expect(seen.slice(0, 2)).toEqual(['file.ingested b.csv', 'daemon.paused']);
    expect(new Set(seen.slice(2, 4))).toEqual(
      new Set(['file.ingested c.csv', 'file.duplicate d.csv']),
    );
    expect(seen.slice(4)).toEqual(['file.ingested e.csv']);
    expect(again.events[1]!.data).toMatchObject({
      kind: 'operator',
      actor: expect.stringMatching(/admin/),
    });
    expect(ofType(again.events, 'file.duplicate')[0]!.data.duplicateOf).toMatchObject({
      source: path.join(s.d.input, 'b.csv'),
    });
    // Each event once, each with an id a client can come back with.
    expect(new Set(again.events.map((e) => e.id)).size).toBe(5);
    // Coming back with a replayed event's id (a bare cursor) goes on from there.
    const fromReplayed = await openStream({
      port,
      ca: s.ca,
      client: s.user,
      path: types,
      lastEventId: again.events[1]!.id!,
    });
    await fromReplayed.until((events) => events.length >= 3, 10_000, 'after the pause');
    await new Promise((r) => setTimeout(r, 300));
    expect(fromReplayed.events.map((e) => e.id)).toEqual(again.events.slice(2).map((e) => e.id));
    fromReplayed.close();
    again.close();
    await stop(daemon);
  });

  it('streams to 100 clients at once, user and admin alike', async () => {
    const s = setUpApi();
    const { daemon, port } = await startWithApi(s.d, s.certs);
    const streams: Stream[] = await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        openStream({ port, ca: s.ca, client: i % 2 === 0 ? s.user : s.admin }),
      ),
    );
    for (const stream of streams) expect(stream.status).toBe(200);
    for (let i = 0; i < 5; i += 1) writeOld(path.join(s.d.input, `f${i}.csv`), `content ${i}`);
    for (const stream of streams) {
      await stream.until(
        (events) => ofType(events, 'file.ingested').length === 5,
        30_000,
        'five files',
      );
    }
    for (const stream of streams) stream.close();
    await stop(daemon);
  });

  it('drops a client that never reads, without slowing ingestion', async () => {
    const s = setUpApi();
    const { daemon, port } = await startWithApi(s.d, s.certs);
    const stalled = await stalledStream({ port, ca: s.ca, client: s.user });
    const reader = await openStream({
      port,
      ca: s.ca,
      client: s.user,
      path: '/v1/events?types=file.ingested',
    });
    // Long names make each event about 1.2 KB: 12,000 files are some 14 MB of events, more
    // than the kernel's buffers (up to 4 MB on loopback here) and the server's 1 MiB together.
    const files = 12_000;
    const stem = 'x'.repeat(200);
    // Written in slices, so that this process goes on reading the other stream meanwhile: the
    // reading client must not become a client that does not read.
    for (let i = 0; i < files; i += 1) {
      writeOld(path.join(s.d.input, `${stem}-${i}.csv`), `file ${i}`);
      if (i % 100 === 99) await new Promise((r) => setImmediate(r));
    }
    await reader.until(
      (events) => events.length === files,
      120_000,
      'every file ingested while a client does not read',
    );
    await waitFor(
      () => output(daemon).stdout.includes('"event":"api-stream-dropped"'),
      10_000,
      'the drop logged',
    );
    const status = await request({ port, ca: s.ca, client: s.user, path: '/v1/status' });
    expect((status.body as { files: { ingested: { files: number } } }).files.ingested.files).toBe(
      files,
    );
    stalled.destroy();
    reader.close();
    const stdout = await stop(daemon);
    const drop = stdout.split('\n').find((l) => l.includes('"event":"api-stream-dropped"'))!;
    expect(JSON.parse(drop)).toMatchObject({
      level: 'warn',
      subject: expect.stringContaining('CN=user'),
    });
  });

  it('answers a bad filter with a 400 naming it', async () => {
    const s = setUpApi();
    const { daemon, port } = await startWithApi(s.d, s.certs);
    const bad = async (query: string, message: RegExp) => {
      const r = await request({ port, ca: s.ca, client: s.user, path: `/v1/events${query}` });
      expect(r.status, query).toBe(400);
      expect(r.body).toMatchObject({
        error: 'API_ERR_BAD_PARAMETER',
        message: expect.stringMatching(message),
      });
    };
    await bad(
      '?types=file.ingested,nope',
      /types has "nope", which is not an event type \(they are file\.complete/,
    );
    await bad('?types=', /types/);
    await bad('?file=', /file/);
    await bad('?bogus=1', /"bogus" is not a query parameter/);
    await bad(`?file=${'x'.repeat(2000)}`, /file/);
    const longId = await request({
      port,
      ca: s.ca,
      client: s.user,
      path: '/v1/events',
      headers: { 'last-event-id': 'x'.repeat(500) },
    });
    expect(longId.status).toBe(400);
    for (const id of ['../etc/passwd', '12-x', 'a b']) {
      const r = await request({
        port,
        ca: s.ca,
        client: s.user,
        path: '/v1/events',
        headers: { 'last-event-id': id },
      });
      expect(r.status, id).toBe(400);
      expect(r.body).toMatchObject({ message: expect.stringContaining('Last-Event-ID') });
    }
    await stop(daemon);
  });
});
