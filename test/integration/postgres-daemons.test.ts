import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import type { Dirs } from '../helpers/ingestor.js';
import {
  expectExactlyOnce,
  filesUnder,
  finished,
  makeDirs,
  manifestLines,
  output,
  run,
  start,
  waitFor,
} from '../helpers/ingestor.js';
import type { Postgres } from '../helpers/postgres.js';
import { removeAllPostgres, startPostgres } from '../helpers/postgres.js';

let server: Postgres;
let database = 0;

beforeAll(async () => {
  server = await startPostgres();
}, 60_000);
afterAll(() => removeAllPostgres());

function freshState(): string {
  database += 1;
  const name = `daemons_${process.pid}_${database}`;
  server.sql(`CREATE DATABASE ${name};`);
  return server.url.replace(/\/postgres$/, `/${name}`);
}

/** A daemon of the group: its own node id, the shared input, warehouse, manifests and state. */
function daemon(d: Dirs, url: string, node: string, ...extra: string[]): ChildProcess {
  return start([
    'run',
    '--input',
    d.input,
    '--warehouse',
    d.warehouse,
    '--manifests',
    d.manifests,
    '--state-url',
    url,
    '--node-id',
    node,
    '--stability-seconds',
    '0.5',
    '--scan-interval',
    '1',
    ...extra,
  ]);
}

/** Files written at once, with an old mtime so they are complete when seen. */
function writeMany(dir: string, files: [string, string][]): void {
  const old = new Date(Date.now() - 120_000);
  for (const [name, content] of files) {
    const file = path.join(dir, name);
    fs.writeFileSync(file, content);
    fs.utimesSync(file, old, old);
  }
}

const inputLeft = (d: Dirs) => fs.readdirSync(d.input).filter((n) => !n.startsWith('.')).length;

describe('several daemons on one input and one PostgreSQL state', () => {
  it('three daemons, 20,000 files, some resent under new names: each content once, one line each, verify clean', async () => {
    const d = makeDirs();
    const url = freshState();
    const contents = Array.from({ length: 20_000 }, (_, i) => `content ${i}\n`);
    const resent = contents.slice(0, 1_000);
    const daemons = ['a', 'b', 'c'].map((node) => daemon(d, url, node));
    writeMany(d.input, [
      ...contents.map((c, i): [string, string] => [`f${i}.csv`, c]),
      ...resent.map((c, i): [string, string] => [`again-${i}.csv`, c]),
    ]);
    try {
      await waitFor(() => inputLeft(d) === 0, 180_000, 'the input to empty');
    } catch (error) {
      for (const p of daemons) {
        const out = output(p);
        console.log(
          out.stdout
            .split('\n')
            .filter((l) => !/"level":30/.test(l) || /took over|lease|paused/.test(l))
            .slice(-30)
            .join('\n'),
          out.stderr,
        );
      }
      console.log('left', inputLeft(d));
      throw error;
    }
    for (const p of daemons) p.kill('SIGTERM');
    const results = await Promise.all(daemons.map((p) => finished(p, 60_000)));
    for (const r of results) {
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
    }
    expectExactlyOnce(d, contents);
    // Each daemon wrote its own manifest, and took a share of the files.
    const perNode = new Map<string, number>();
    for (const f of filesUnder(d.manifests).filter((f) => f.endsWith('.jsonl'))) {
      const node = /manifest\.(\w+)\.jsonl$/.exec(f)?.[1] ?? 'none';
      const lines = fs.readFileSync(path.join(d.manifests, f), 'utf8').split('\n').length - 1;
      perNode.set(node, (perNode.get(node) ?? 0) + lines);
    }
    expect([...perNode.keys()].sort()).toEqual(['a', 'b', 'c']);
    for (const n of perNode.values()) expect(n).toBeGreaterThan(3_000);
    expect(manifestLines(d.manifests)).toHaveLength(20_000);
    const duplicates = filesUnder(path.join(d.warehouse, '_duplicates'));
    expect(duplicates).toHaveLength(1_000);
    const verify = await run(
      ['verify', '--warehouse', d.warehouse, '--manifests', d.manifests, '--state-url', url],
      { timeoutMs: 120_000 },
    );
    expect(verify.stderr).toBe('');
    expect(verify.code).toBe(0);
    const status = JSON.parse((await run(['status', '--state-url', url, '--json'])).stdout) as {
      ingested: { files: number };
      duplicates: number;
      inFlight: number;
    };
    expect(status.ingested.files).toBe(20_000);
    expect(status.duplicates).toBe(1_000);
    expect(status.inFlight).toBe(0);
    void output;
  }, 300_000);
});
