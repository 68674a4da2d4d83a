// A PostgreSQL cluster of a script's own (the torture and the benchmark), as the tests start
// theirs (test/helpers/postgres.ts): Debian's server, initdb and pg_ctl as the postgres user (the
// scripts run as root), fsync on, trust on 127.0.0.1 and on a socket in its own directory.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * Starts a cluster in a new temporary directory on a free-looking port; stopped and removed
 * when the process exits (unless `keep`). Returns its URL and a `database(name)` that creates
 * one and returns its URL.
 */
export function startPostgres({ keep = false } = {}) {
  const tools = spawnSync('bash', [path.join(import.meta.dirname, '../ensure-tools.sh'), 'initdb']);
  if (tools.status !== 0) throw new Error(`ensure-tools initdb: ${tools.stderr}`);
  const version = fs
    .readdirSync('/usr/lib/postgresql')
    .filter((v) => fs.existsSync(`/usr/lib/postgresql/${v}/bin/initdb`))
    .sort((a, b) => Number(b) - Number(a))[0];
  const bin = `/usr/lib/postgresql/${version}/bin`;
  // Its own directory: the postgres user cannot enter the caller's (mode 0700, root's).
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ingestor-pg-'));
  const sock = path.join(dir, 'sock');
  fs.mkdirSync(sock);
  spawnSync('chown', ['-R', 'postgres:postgres', dir]);
  const as = (...args) => {
    const r = spawnSync('runuser', ['-u', 'postgres', '--', ...args], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const data = path.join(dir, 'data');
  as(`${bin}/initdb`, '-D', data, '-A', 'trust', '-U', 'postgres', '--no-locale', '-E', 'UTF8');
  const port = 20000 + Math.floor(Math.random() * 20000);
  as(
    ...[`${bin}/pg_ctl`, '-D', data, '-l', path.join(dir, 'log'), '-w'],
    ...['-o', `-k ${sock} -c listen_addresses=127.0.0.1 -p ${port} -c fsync=on`],
    'start',
  );
  process.on('exit', () => {
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
    if (!keep) fs.rmSync(dir, { recursive: true, force: true });
  });
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  return {
    url,
    database(name) {
      as(
        `${bin}/psql`,
        '-h',
        sock,
        '-p',
        String(port),
        '-U',
        'postgres',
        '-c',
        `CREATE DATABASE ${name}`,
      );
      return url.replace(/\/postgres$/, `/${name}`);
    },
  };
}
