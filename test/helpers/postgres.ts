import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '../..');

/** A PostgreSQL cluster of a test's own: started as root through `runuser -u postgres`. */
export interface Postgres {
  /** `postgres://postgres@127.0.0.1:PORT/postgres` (trust authentication, this host only). */
  readonly url: string;
  readonly port: number;
  /** Where its Unix socket is. */
  readonly socketDir: string;
  /** A fast shutdown (`pg_ctl stop -m fast`); the data stays. */
  stop(): void;
  /** Starts it again on the same port, with the same data. */
  start(): void;
  /** Stops it and removes its files. */
  remove(): void;
  /** Runs SQL as the superuser (psql over the socket); returns its output, unaligned. */
  sql(statement: string): string;
  /** A new, empty database of its own (named after `prefix`); its URL. */
  database(prefix: string): string;
  /**
   * Makes `user` (created with `password`) log in over TCP with a password only: the trust
   * rule stays for everyone else.
   */
  requirePassword(user: string, password: string): void;
}

/** The newest installed server's programs (Debian keeps them off the PATH). */
function serverBin(): string {
  const tools = spawnSync('bash', [path.join(ROOT, 'scripts/ensure-tools.sh'), 'initdb'], {
    encoding: 'utf8',
  });
  if (tools.status !== 0) throw new Error(`ensure-tools initdb failed: ${tools.stderr}`);
  const versions = fs
    .readdirSync('/usr/lib/postgresql')
    .filter((v) => fs.existsSync(`/usr/lib/postgresql/${v}/bin/initdb`))
    .sort((a, b) => Number(b) - Number(a));
  if (versions.length === 0) throw new Error('no PostgreSQL server under /usr/lib/postgresql');
  return `/usr/lib/postgresql/${versions[0]!}/bin`;
}

/** A TCP port nothing listens on now (the kernel's pick). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function asPostgres(args: string[]): void {
  const r = spawnSync('runuser', ['-u', 'postgres', '--', ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${args.join(' ')} failed: ${r.stderr || r.stdout}`);
}

const running = new Set<Postgres>();

/**
 * Initializes and starts a cluster in a temporary directory (about a second), with fsync on,
 * listening on 127.0.0.1 at a free port and on a socket in that directory.
 */
export async function startPostgres(): Promise<Postgres> {
  const bin = serverBin();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ingestor-pg-'));
  const data = path.join(dir, 'data');
  const socketDir = path.join(dir, 'sock');
  fs.mkdirSync(socketDir);
  spawnSync('chown', ['-R', 'postgres:postgres', dir]);
  asPostgres([
    `${bin}/initdb`,
    '-D',
    data,
    '-A',
    'trust',
    '-U',
    'postgres',
    '-E',
    'UTF8',
    '--no-locale',
  ]);
  const port = await freePort();
  const options = `-k ${socketDir} -c listen_addresses=127.0.0.1 -p ${port} -c fsync=on`;
  const sql = (statement: string) => {
    const r = spawnSync(
      'runuser',
      [
        '-u',
        'postgres',
        '--',
        `${bin}/psql`,
        '-h',
        socketDir,
        '-p',
        String(port),
        '-U',
        'postgres',
      ],
      { input: statement, encoding: 'utf8' },
    );
    if (r.status !== 0 || /ERROR/.test(r.stderr)) throw new Error(`psql failed: ${r.stderr}`);
    return r.stdout;
  };
  let databases = 0;
  const pg: Postgres = {
    sql,
    database: (prefix) => {
      databases += 1;
      const name = `${prefix}_${process.pid}_${databases}`;
      sql(`CREATE DATABASE ${name};`);
      return `postgres://postgres@127.0.0.1:${port}/${name}`;
    },
    requirePassword: (user, password) => {
      sql(`CREATE ROLE ${user} LOGIN SUPERUSER PASSWORD '${password}';`);
      const hba = path.join(data, 'pg_hba.conf');
      const rule = `host all ${user} 127.0.0.1/32 scram-sha-256\n`;
      fs.writeFileSync(hba, rule + fs.readFileSync(hba, 'utf8'));
      asPostgres([`${bin}/pg_ctl`, '-D', data, 'reload']);
    },
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    socketDir,
    start: () =>
      asPostgres([
        `${bin}/pg_ctl`,
        '-D',
        data,
        '-o',
        options,
        '-l',
        path.join(dir, 'log'),
        '-w',
        'start',
      ]),
    stop: () => asPostgres([`${bin}/pg_ctl`, '-D', data, '-m', 'fast', '-w', 'stop']),
    remove: () => {
      running.delete(pg);
      spawnSync('runuser', [
        '-u',
        'postgres',
        '--',
        `${bin}/pg_ctl`,
        '-D',
        data,
        '-m',
        'immediate',
        'stop',
      ]);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  pg.start();
  running.add(pg);
  return pg;
}

/** Stops and removes every cluster a test left (call from afterEach or afterAll). */
export function removeAllPostgres(): void {
  for (const pg of [...running]) pg.remove();
}
