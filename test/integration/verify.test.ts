import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  baseArgs,
  filesUnder,
  makeDirs,
  manifestLines,
  run,
  verifyTree,
  treeDigest,
  writeOld,
} from '../helpers/ingestor.js';
import type { Dirs } from '../helpers/ingestor.js';

async function ingested(): Promise<Dirs> {
  const d = makeDirs();
  for (let i = 0; i < 5; i += 1) writeOld(path.join(d.input, `f${i}.csv`), `content ${i}\n`);
  const r = await run([...baseArgs(d), '--once', '--stability-seconds', '1']);
  expect(r.code).toBe(0);
  return d;
}

function manifestFile(d: Dirs): string {
  return path.join(
    d.manifests,
    filesUnder(d.manifests).find((f) => f.endsWith('.jsonl'))!,
  );
}

describe('ingestor verify', () => {
  it('passes on a clean ingest and reports counts', async () => {
    const d = await ingested();
    const r = await verifyTree(d, '--rehash');
    expect(r.code, r.stdout).toBe(0);
    expect(r.stdout).toMatch(
      /1 manifest files, 5 lines, 5 warehouse files, 5 state rows, 5 rehashed/,
    );
    expect(r.stdout).toMatch(/verify: OK, no problems/);
  });

  it('finds every kind of problem, exits 1, and changes nothing', async () => {
    const d = await ingested();
    const lines = manifestLines(d.manifests);
    const file = manifestFile(d);
    const [a, b, c, e] = lines;
    // Same content recorded twice; a line with a missing field; a line that is not JSON.
    fs.appendFileSync(file, `${JSON.stringify(a)}\n{"path":"x"}\nnot json\n`);
    fs.rmSync(b!.warehouse_path); // missing file
    fs.appendFileSync(c!.warehouse_path, 'grown'); // size mismatch
    fs.writeFileSync(e!.warehouse_path, 'X'.repeat(e!.size)); // same size, other bytes
    const partition = path.dirname(a!.warehouse_path);
    fs.writeFileSync(path.join(partition, 'stray.csv'), 'unrecorded');
    fs.writeFileSync(path.join(partition, '.half.tmp'), 'partial');
    fs.appendFileSync(file, '{"path":"/torn'); // torn last line
    const before = [d.warehouse, d.manifests, path.dirname(d.state)].map(treeDigest);

    const r = await verifyTree(d, '--rehash', '--json');
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout) as { problems: { kind: string; where: string }[] };
    const kinds = report.problems.map((p) => p.kind).sort();
    expect(kinds).toEqual(
      [
        'bad-line', // {"path":"x"}
        'bad-line', // not json
        'bad-line', // the torn line
        'duplicate-content',
        'hash-mismatch',
        'missing-file',
        'size-mismatch',
        'temporary-file',
        'torn-line',
        'unrecorded-file',
      ].sort(),
    );
    expect([d.warehouse, d.manifests, path.dirname(d.state)].map(treeDigest)).toEqual(before);
  });

  it('finds state and manifests that disagree, and intents left in flight', async () => {
    const d = await ingested();
    const file = manifestFile(d);
    const text = fs.readFileSync(file, 'utf8').split('\n');
    fs.writeFileSync(file, text.slice(1).join('\n')); // drop one line: the state still has it
    const r = await verifyTree(d);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/state-without-line +state row \d+/);
    expect(r.stdout).toMatch(/unrecorded-file/);

    const d2 = makeDirs();
    writeOld(path.join(d2.input, 'a.csv'), 'a');
    const crashed = await run([...baseArgs(d2), '--once'], {
      env: { INGEST_TEST_CRASH_AT: 'after-manifest' },
    });
    expect(crashed.signal).toBe('SIGKILL');
    const r2 = await verifyTree(d2);
    expect(r2.code).toBe(1);
    expect(r2.stdout).toMatch(/open-intent/);
    expect(r2.stdout).toMatch(/line-without-state/);
  });

  it('usage errors exit 2', async () => {
    const d = makeDirs();
    const r = await run([
      'verify',
      '--warehouse',
      path.join(d.root, 'none'),
      '--manifests',
      d.root,
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^ingestor: --warehouse .* does not exist\n$/);
    const r2 = await run(['verify', '--manifests', d.root, '--frob']);
    expect(r2.code).toBe(2);
  });
});
