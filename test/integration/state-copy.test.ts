import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COPIED_TABLES } from '../../src/state/copied-tables.js';
import { MIGRATIONS } from '../../src/state/schema.js';
import type { Dirs } from '../helpers/ingestor.js';
import {
  baseArgs,
  filesUnder,
  finished,
  makeDirs,
  manifestLines,
  run,
  start,
  waitFor,
  writeOld,
} from '../helpers/ingestor.js';
import type { Postgres } from '../helpers/postgres.js';
import { freePort, removeAllPostgres, startPostgres } from '../helpers/postgres.js';

let server: Postgres;

beforeAll(async () => {
  server = await startPostgres();
}, 60_000);
afterAll(() => removeAllPostgres());

/** A new, empty database in the shared cluster: where a copy goes. */
const freshDatabase = (): string => server.database('copy');

/** Runs SQL on a database of the cluster, BIGINTs as numbers (as the daemon reads them). */
async function query<T extends pg.QueryResultRow>(url: string, sql: string): Promise<T[]> {
  const client = new pg.Client({
    connectionString: url,
    types: {
      getTypeParser: ((oid: number, format?: string) =>
        oid === 20
          ? (v: string) => Number(v)
          : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
    },
  });
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

const copy = (from: string, to: string) =>
  run(['state', 'copy', '--from', from, '--to', to], { timeoutMs: 60_000 });

const pgArgs = (d: Dirs, url: string) => [
  '--input',
  d.input,
  '--warehouse',
  d.warehouse,
  '--manifests',
  d.manifests,
  '--state-url',
  url,
];

const hex = (s: string) => createHash('sha256').update(s).digest();

/**
 * A SQLite state made row by row at the current schema, with something in every table: file
 * rows of every kind and status (an open intent among them, a path that is not UTF-8), over
 * several pages.
 */
function syntheticState(file: string, files: number, others = true): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.transaction(() => {
    for (const migration of MIGRATIONS) db.exec(migration);
    db.pragma(`user_version = ${MIGRATIONS.length}`);
    const insert = db.prepare(
      `INSERT INTO files (id, kind, status, sha256, live_sha256, source, dest, tmp, manifest,
         sidecar, device, inode, size, mtime_ms, duplicate_of, intent_at, committed_at,
         completed_at, hash_ms, error)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    for (let i = 1; i <= files; i += 1) {
      // Ids with gaps, as rows rolled back leave them.
      const id = i * 3;
      const kind = i % 10 === 0 ? 'duplicate' : i % 17 === 0 ? 'quarantine' : 'ingest';
      const status = i === files ? 'intent' : i % 23 === 0 ? 'aborted' : 'committed';
      const digest = hex(kind === 'duplicate' ? 'x1' : `c${i}`);
      const live = kind === 'ingest' && status !== 'aborted' ? digest : null;
      const source = i === 7 ? Buffer.from([0x2f, 0x69, 0x6e, 0x2f, 0xff, 0xfe]) : `/in/f${i}.csv`;
      insert.run(
        id,
        kind,
        status,
        digest.toString('hex'),
        live,
        Buffer.from(source),
        Buffer.from(`/wh/ingest_date=2026-01-01/f${i}.csv`),
        i % 5 === 0 ? Buffer.from(`/wh/.ingestor-tmp/${i}`) : null,
        kind === 'ingest' ? `/mf/2026/01/01/10/manifest.jsonl` : null,
        null,
        2049,
        1_000_000 + i,
        i * 11,
        1_767_261_600_123.456 + i,
        kind === 'duplicate' ? 3 : null,
        1_767_261_600_000 + i,
        status === 'intent' ? null : 1_767_261_600_500 + i,
        1_767_261_599_000 + i,
        i % 3 === 0 ? null : 0.25 * i,
        kind === 'quarantine' ? `unreadable "${i}"` : null,
      );
    }
    if (!others) return;
    db.prepare(
      `INSERT INTO events (id, file_id, source, at, type, actor, detail) VALUES (?, ?, ?, ?, ?, ?, ?)`,
    ).run(4, 3, null, 1_767_261_600_000, 'failed', null, '{"code":"EIO"}');
    db.prepare(
      `INSERT INTO events (id, file_id, source, at, type, actor, detail) VALUES (?, ?, ?, ?, ?, ?, ?)`,
    ).run(9, null, Buffer.from('/in/held.csv'), 1_767_261_601_000, 'held', 'CN=ops', null);
    const hold = db.prepare(
      `INSERT INTO holds (source, device, inode, size, mtime_ms, actor, reason, at)
       VALUES (?, 2049, ?, 10, 1767261600000.5, 'CN=ops', ?, 1767261601000)`,
    );
    hold.run(Buffer.from('/in/held.csv'), 5, 'held');
    hold.run(Buffer.from('/in/cancelled.csv'), 6, 'cancelled');
    db.prepare(`INSERT INTO settings (key, value, at) VALUES (?, ?, ?)`).run(
      'closing-hours-from',
      '1767261600000',
      1_767_261_600_000,
    );
    db.prepare(`INSERT INTO settings (key, value, at) VALUES (?, ?, ?)`).run(
      'operator-pause',
      '{"by":"CN=ops","since":1767261601000}',
      1_767_261_601_000,
    );
    db.prepare(
      `INSERT INTO closed_hours (hour, manifest, lines, bytes, sha256, closed_at)
       VALUES (1767261600000, '/mf/2026/01/01/10/manifest.jsonl', 3, 600, ?, 1767265260000)`,
    ).run('ab'.repeat(32));
    const message = db.prepare(
      `INSERT INTO webhook_outbox (id, msg_id, endpoint, type, body, created_at, attempts,
         next_at, status, last_status, last_error, delivered_at, file_id)
       VALUES (?, ?, 'https://hooks.example/in', 'file.quarantined', '{"x":1}', 1767261600000,
         ?, ?, ?, ?, ?, ?, ?)`,
    );
    message.run(2, 'msg_a', 1, null, 'delivered', 204, null, 1_767_261_600_100, 51);
    message.run(8, 'msg_b', 3, 1_767_261_700_000, 'pending', null, 'ECONNREFUSED', null, null);
    db.prepare(`INSERT INTO runtime (key, value, updated_at) VALUES ('daemon', ?, ?)`).run(
      '{"pid":1}',
      1_767_261_602_000,
    );
  })();
  db.close();
}

/** Every row of a copied table in SQLite, in key order, as arrays in the copy's columns. */
function sqliteRows(file: string, table: (typeof COPIED_TABLES)[number]): unknown[][] {
  const db = new Database(file, { readonly: true });
  try {
    const columns = table.columns.map((c) => c.sqlite ?? c.name);
    const key = table.columns.find((c) => c.name === table.key)!;
    return db
      .prepare(`SELECT ${columns.join(', ')} FROM ${table.name} ORDER BY ${key.sqlite ?? key.name}`)
      .raw(true)
      .all() as unknown[][];
  } finally {
    db.close();
  }
}

describe('ingestor state copy', () => {
  it('copies every table of a SQLite state as it is, in one transaction, and moves the sequences past the copied ids', async () => {
    const d = makeDirs();
    syntheticState(d.state, 12_345);
    const url = freshDatabase();
    const r = await copy(d.state, url);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      /^state copy: 12,345 files, 2 events, 2 holds, 2 settings, 1 closed hour, 2 webhook messages, 1 runtime record copied to postgres:\/\/postgres@127\.0\.0\.1:\d+\/copy_\d+_\d+ in \d+\.\d s\n$/,
    );
    // The state is left as it was: its lock released, no write-ahead log beside it.
    expect(fs.readdirSync(path.dirname(d.state)).sort()).toEqual([
      'ingestor.db',
      'ingestor.db.lock',
    ]);
    for (const table of COPIED_TABLES) {
      const columns = table.columns.map((c) => c.name);
      const rows = await query<Record<string, unknown>>(
        url,
        `SELECT ${columns.join(', ')} FROM ${table.name} ORDER BY ${table.key}`,
      );
      expect(
        rows.map((row) => columns.map((c) => row[c])),
        table.name,
      ).toEqual(sqliteRows(d.state, table));
    }
    // Settled rows in the stream by the copy's transaction; the intent by none; no daemon's.
    const xids = await query<{ status: string; xids: number; without: number; owned: number }>(
      url,
      `SELECT status = 'intent' AS status, count(DISTINCT settled_xid)::int AS xids,
         count(*) FILTER (WHERE settled_xid IS NULL)::int AS without,
         count(*) FILTER (WHERE node_id IS NOT NULL OR token IS NOT NULL)::int AS owned
       FROM files GROUP BY 1 ORDER BY 1`,
    );
    expect(xids).toEqual([
      { status: false, xids: 1, without: 0, owned: 0 },
      { status: true, xids: 0, without: 1, owned: 0 },
    ]);
    const sequences = await query<{ files: number; events: number; outbox: number }>(
      url,
      `SELECT (SELECT last_value FROM files_id_seq) AS files,
         (SELECT last_value FROM events_id_seq) AS events,
         (SELECT last_value FROM webhook_outbox_id_seq) AS outbox`,
    );
    expect(sequences).toEqual([{ files: 12_345 * 3, events: 9, outbox: 8 }]);
  });

  it('moves a state the daemon made: status, list and verify read it alike, and a daemon on PostgreSQL goes on from it', async () => {
    const d = makeDirs();
    const contents = Array.from({ length: 12 }, (_, i) => `row ${i}\n`);
    contents.forEach((c, i) => writeOld(path.join(d.input, `f${i}.csv`), c));
    const once = ['--once', '--stability-seconds', '0.2', '--max-file-size', '1KiB'];
    const first = await run([...baseArgs(d), ...once]);
    expect(first.code).toBe(0);
    // A duplicate and a quarantined file (too large), in a second pass.
    writeOld(path.join(d.input, 'again.csv'), contents[3]!);
    writeOld(path.join(d.input, 'big.bin'), 'x'.repeat(2048));
    const second = await run([...baseArgs(d), ...once]);
    expect(second.stderr).toMatch(/1 duplicates?, 0 failed, 1 quarantined/);
    expect(second.code).toBe(0);

    const url = freshDatabase();
    const copied = await copy(d.state, url);
    expect(copied.stderr).toBe('');
    expect(copied.code).toBe(0);
    expect(copied.stdout).toMatch(/^state copy: 14 files, /);

    // What the state holds; not whether a daemon runs (the copied snapshot is a few seconds old),
    // nor the daemons of a shared state (none yet: they are listed on PostgreSQL only).
    const counts = (s: string) => {
      const report = JSON.parse(s) as Record<string, unknown>;
      for (const key of ['running', 'daemon', 'refresh', 'snapshotAgeMs', 'daemons']) {
        delete report[key];
      }
      return report;
    };
    const sqliteStatus = await run(['status', '--state-path', d.state, '--json']);
    const pgStatus = await run(['status', '--state-url', url, '--json']);
    expect(pgStatus.code).toBe(0);
    expect(counts(pgStatus.stdout)).toEqual(counts(sqliteStatus.stdout));
    expect(counts(pgStatus.stdout)).toMatchObject({
      ingested: { files: 12 },
      duplicates: 1,
      quarantined: 1,
    });
    const sqliteList = await run(['list', '--state-path', d.state, '--json', '--limit', '100']);
    const pgList = await run(['list', '--state-url', url, '--json', '--limit', '100']);
    expect(pgList.code).toBe(0);
    expect(pgList.stdout).toBe(sqliteList.stdout);
    expect(pgList.stdout.trim().split('\n')).toHaveLength(14);
    const verifyArgs = ['verify', '--warehouse', d.warehouse, '--manifests', d.manifests];
    const verified = await run([...verifyArgs, '--state-url', url]);
    expect(verified.stderr).toBe('');
    expect(verified.stdout).toMatch(/12 lines, 12 warehouse files, 14 state rows; 1 duplicate/);
    expect(verified.code).toBe(0);

    // A daemon on the copy: a content sent again is a duplicate, new files come after.
    writeOld(path.join(d.input, 'resent.csv'), contents[5]!);
    writeOld(path.join(d.input, 'new1.csv'), 'new one\n');
    writeOld(path.join(d.input, 'new2.csv'), 'new two\n');
    const daemon = start([...pgArgs(d, url), '--stability-seconds', '0.2']);
    await waitFor(() => filesUnder(d.input).length === 0, 30_000, 'the input emptied');
    daemon.kill('SIGTERM');
    const stopped = await finished(daemon);
    expect(stopped.stderr).toBe('');
    expect(stopped.code).toBe(0);
    const lines = manifestLines(d.manifests);
    expect(lines).toHaveLength(14);
    expect(lines.filter((l) => l.path.endsWith('resent.csv'))).toEqual([]);
    const rows = (await run(['list', '--state-url', url, '--json', '--limit', '100'])).stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { id: number; source: string; status: string });
    const copiedIds = (
      JSON.parse(`[${pgList.stdout.trim().split('\n').join(',')}]`) as {
        id: number;
      }[]
    ).map((row) => row.id);
    const added = rows.filter((row) => !copiedIds.includes(row.id));
    expect(added.map((row) => [path.basename(row.source), row.status]).sort()).toEqual([
      ['new1.csv', 'ingested'],
      ['new2.csv', 'ingested'],
      ['resent.csv', 'duplicate'],
    ]);
    expect(Math.min(...added.map((row) => row.id))).toBeGreaterThan(Math.max(...copiedIds));
    const again = await run([...verifyArgs, '--state-url', url]);
    expect(again.stdout).toMatch(/14 lines, 14 warehouse files, 17 state rows; 2 duplicate/);
    expect(again.code).toBe(0);
  });

  it('is all or nothing: a row PostgreSQL refuses, late in the copy, leaves the database empty', async () => {
    const d = makeDirs();
    syntheticState(d.state, 6000);
    const db = new Database(d.state);
    // The last table copied; PostgreSQL's text holds no NUL.
    db.prepare(`UPDATE runtime SET value = ?`).run('{"pid":1}\u0000');
    db.close();
    const url = freshDatabase();
    const r = await copy(d.state, url);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^ingestor: --to postgres:\/\/postgres@127\.0\.0\.1:\d+\/copy_\w+: /);
    expect(await query(url, `SELECT count(*)::int AS n FROM files`)).toEqual([{ n: 0 }]);
    // Still empty: the next copy (of a good state) goes in.
    const good = makeDirs();
    syntheticState(good.state, 10);
    const retried = await copy(good.state, url);
    expect(retried.code).toBe(0);
  });
});

describe('ingestor state copy refuses', () => {
  /** One line on stderr, and the exit code. */
  const refused = async (args: string[], code: number, message: RegExp) => {
    const r = await run(['state', ...args], { timeoutMs: 60_000 });
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(message);
    expect(r.code).toBe(code);
  };

  it('a --from that is missing, not a state, or of an older or newer schema: exit 2', async () => {
    const d = makeDirs();
    const url = freshDatabase();
    const missing = path.join(d.root, 'nothing.db');
    await refused(
      ['copy', '--from', missing, '--to', url],
      2,
      /--from ".*nothing\.db" does not exist/,
    );
    await refused(['copy', '--from', d.root, '--to', url], 2, /--from ".*" is not a file/);
    const text = path.join(d.root, 'notes.txt');
    fs.writeFileSync(text, 'not a database at all\n'.repeat(100));
    await refused(
      ['copy', '--from', text, '--to', url],
      2,
      /--from ".*notes\.txt" is not an ingestor state: file is not a database/,
    );
    const other = path.join(d.root, 'other.db');
    new Database(other).exec('CREATE TABLE t (x)');
    await refused(
      ['copy', '--from', other, '--to', url],
      2,
      /--from ".*other\.db" is not an ingestor state \(it has no files table\)/,
    );
    const old = path.join(d.root, 'old.db');
    const olddb = new Database(old);
    for (const migration of MIGRATIONS.slice(0, 3)) olddb.exec(migration);
    olddb.pragma('user_version = 3');
    olddb.close();
    await refused(
      ['copy', '--from', old, '--to', url],
      2,
      new RegExp(
        `--from ".*old\\.db" has schema version 3, older than this ingestor's \\(${MIGRATIONS.length}\\): start this ingestor's daemon on it once`,
      ),
    );
    const newer = path.join(d.root, 'newer.db');
    syntheticState(newer, 1);
    const newerdb = new Database(newer);
    newerdb.pragma(`user_version = ${MIGRATIONS.length + 1}`);
    newerdb.close();
    await refused(['copy', '--from', newer, '--to', url], 2, /newer than this ingestor knows/);
    // Nothing of it went in, nothing was left beside the files refused.
    expect(await query(url, `SELECT to_regclass('files') AS t`)).toEqual([{ t: null }]);
    expect(fs.existsSync(`${text}.lock`)).toBe(false);
  });

  it('a --to that is not PostgreSQL, or already holds a state (never merged): exit 2; one that does not answer: exit 1', async () => {
    const d = makeDirs();
    syntheticState(d.state, 3);
    await refused(
      ['copy', '--from', d.state, '--to', `file://${d.state}`],
      2,
      /^ingestor: --to must start with postgres:\/\/ or postgresql:\/\/ \(the SQLite state is --from\)/,
    );
    const url = freshDatabase();
    expect((await copy(d.state, url)).code).toBe(0);
    await refused(
      ['copy', '--from', d.state, '--to', url],
      2,
      /--to postgres:\/\/.* already holds a state \(3 files, 2 events, 2 holds, 2 settings, 1 closed hour, 2 webhook messages, 1 runtime record\): state copy fills only an empty one/,
    );
    const port = await freePort();
    const r = await run(
      [
        'state',
        'copy',
        '--from',
        d.state,
        '--to',
        `postgres://copier:sekrit-pw@127.0.0.1:${port}/x`,
      ],
      { timeoutMs: 60_000 },
    );
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(
      /--to postgres:\/\/copier:\*\*\*@127\.0\.0\.1:\d+\/x: the database does not answer/,
    );
    expect(r.stderr).not.toMatch(/sekrit-pw/);
  });

  it('a state a daemon is running on: exit 1, naming its pid; and no daemon starts on a state being copied', async () => {
    const d = makeDirs();
    writeOld(path.join(d.input, 'a.csv'), 'alpha\n');
    const daemon = start([...baseArgs(d), '--stability-seconds', '0.2']);
    await waitFor(() => manifestLines(d.manifests).length === 1, 20_000, 'the first line');
    const url = freshDatabase();
    await refused(
      ['copy', '--from', d.state, '--to', url],
      1,
      new RegExp(
        `--from ".*ingestor\\.db" is in use by a running ingestor \\(pid ${daemon.pid}\\): stop it, then copy`,
      ),
    );
    daemon.kill('SIGTERM');
    expect((await finished(daemon)).code).toBe(0);
    expect(await query(url, `SELECT to_regclass('files') AS t`)).toEqual([{ t: null }]);

    // The other way round: a copy holds the state's lock. An empty state's copy migrates the
    // database and leaves it empty; a reader then holds the copy up at its table locks.
    const empty = makeDirs();
    syntheticState(empty.state, 0, false);
    const nothing = await copy(empty.state, url);
    expect(nothing.stdout).toMatch(
      /^state copy: 0 files, 0 events, 0 holds, 0 settings, 0 closed hours, 0 webhook messages, 0 runtime records copied to /,
    );
    const reader = new pg.Client({ connectionString: url });
    await reader.connect();
    await reader.query('BEGIN');
    await reader.query('LOCK TABLE settings IN SHARE MODE');
    const copying = start(['state', 'copy', '--from', d.state, '--to', url]);
    const pidFile = `${d.state}.pid`;
    await waitFor(
      () =>
        fs.existsSync(pidFile) && fs.readFileSync(pidFile, 'utf8').trim() === String(copying.pid),
      20_000,
      "the copy's lock",
    );
    writeOld(path.join(d.input, 'b.csv'), 'beta\n');
    const blocked = await run([...baseArgs(d), '--once', '--stability-seconds', '0.2']);
    expect(blocked.code).toBe(1);
    expect(blocked.stderr).toMatch(
      new RegExp(`another ingestor \\(pid ${copying.pid}\\) is running on state`),
    );
    await reader.query('COMMIT');
    await reader.end();
    const done = await finished(copying);
    expect(done.stderr).toBe('');
    expect(done.stdout).toMatch(/^state copy: 1 file, /);
    expect(done.code).toBe(0);
  });

  it('no action, or another one: exit 2', async () => {
    await refused([], 2, /state needs an action: one of copy/);
    await refused(['move'], 2, /state has no action "move" \(one of copy\)/);
    await refused(['copy', '--to', 'postgres://x@y/z'], 2, /state copy needs --from/);
  });
});
