import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { baseArgs, makeDirs, run, treeDigest, writeOld } from '../helpers/ingestor.js';

describe('--dry-run', () => {
  it('reports every file and changes nothing, byte for byte, even with an existing state', async () => {
    const d = makeDirs();
    writeOld(path.join(d.input, 'old.csv'), 'already in');
    const first = await run([...baseArgs(d), '--once', '--stability-seconds', '1']);
    expect(first.code).toBe(0);

    writeOld(path.join(d.input, 'new.csv'), 'new content');
    writeOld(path.join(d.input, 'again.csv'), 'already in');
    writeOld(path.join(d.input, 'twin1.csv'), 'twins');
    writeOld(path.join(d.input, 'twin2.csv'), 'twins');
    writeOld(path.join(d.input, 'x.tmp'), 'temp');
    fs.writeFileSync(path.join(d.input, 'fresh.csv'), 'being written');
    fs.symlinkSync('/etc/hostname', path.join(d.input, 'link'));
    const before = [d.input, d.warehouse, d.manifests, path.dirname(d.state)].map(treeDigest);

    const result = await run([...baseArgs(d), '--dry-run', '--stability-seconds', '30']);
    expect(result.code, result.stderr).toBe(0);
    const after = [d.input, d.warehouse, d.manifests, path.dirname(d.state)].map(treeDigest);
    expect(after).toEqual(before);

    const report = result.stdout;
    expect(report).toMatch(/^ingest +.*new\.csv -> .*ingest_date=\d{4}-\d\d-\d\d\/new\.csv/m);
    expect(report).toMatch(/^duplicate +.*again\.csv same content as .*old\.csv/m);
    expect(report).toMatch(/^duplicate +.*twin\d\.csv same content as .*twin\d\.csv/m);
    expect(report).toMatch(/^skip +.*x\.tmp \(temporary\)/m);
    expect(report).toMatch(/^skip +.*link \(symlink\)/m);
    expect(report).toMatch(/^wait +.*fresh\.csv \(not complete/m);
    expect(report).toMatch(
      /^dry-run: 2 to ingest, 2 duplicates, 2 skipped, 1 not complete, 0 errors; nothing was changed$/m,
    );
  });

  it('writes JSON lines with --json, and creates nothing on a first run', async () => {
    const d = makeDirs();
    writeOld(path.join(d.input, 'a.csv'), 'a');
    const result = await run([...baseArgs(d), '--dry-run', '--json']);
    expect(result.code, result.stderr).toBe(0);
    const lines = result.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines[0]).toMatchObject({ action: 'ingest', bytes: 1 });
    expect(lines.at(-1)).toEqual({
      summary: { ingest: 1, duplicate: 0, skip: 0, wait: 0, error: 0 },
    });
    expect(fs.readdirSync(d.root)).toEqual(['in']);
  });
});
