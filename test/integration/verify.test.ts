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
    const report = JSON.parse(r.stdout) as {
      problems: { kind: string; where: string }[];
      advice: Record<string, string>;
    };
    const kinds = report.problems.map((p) => p.kind).sort();
    // One line of advice for each kind found, and none for the others.
    expect(Object.keys(report.advice).sort()).toEqual([...new Set(kinds)].sort());
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
    // The usual cause of a changed partition file is a writer that still had it open (on a
    // volume where the daemon cannot see writers): the advice says so before any backup.
    for (const kind of ['size-mismatch', 'hash-mismatch']) {
      expect(report.advice[kind]).toMatch(
        /^usually a writer still had it open after it was ingested/,
      );
      expect(report.advice[kind]).toMatch(/manifest line describes the bytes at ingestion/);
      expect(report.advice[kind]).toMatch(/re-ingest .* from the input side/);
    }
  });

  it('a moved file whose line was not written yet: the advice is to start the daemon, never to remove it', async () => {
    const d = makeDirs();
    writeOld(path.join(d.input, 'only.csv'), 'the only copy');
    // Killed after the move and the removal of the source, before the manifest line.
    const crashed = await run([...baseArgs(d), '--once'], {
      env: { INGEST_TEST_CRASH_AT: 'after-source-removed' },
    });
    expect(crashed.signal).toBe('SIGKILL');
    expect(filesUnder(d.input)).toEqual([]);

    const r = await verifyTree(d);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^unrecorded-file +.*only\.csv: no manifest line names this file$/m);
    expect(r.stdout).toMatch(/^open-intent +state row \d+/m);
    const advice = r.stdout.split('what to do:\n')[1]!;
    const unrecorded = /^ {2}unrecorded-file: (.*)$/m.exec(advice)![1]!;
    expect(unrecorded).toMatch(
      /^with an open-intent: .*only copy.*; start the daemon \(recovery records it\), never remove it\./,
    );
    expect(unrecorded).not.toMatch(/or remove it/);

    // Which is what settles it.
    const recovered = await run([...baseArgs(d), '--once']);
    expect(recovered.code, recovered.stderr).toBe(0);
    const after = await verifyTree(d);
    expect(after.code, after.stdout).toBe(0);
    expect(manifestLines(d.manifests).map((l) => path.basename(l.path))).toEqual(['only.csv']);
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

  it('checks the duplicates directory against the state: every file recorded, whole, with its hash', async () => {
    const d = makeDirs();
    for (let i = 0; i < 3; i += 1) writeOld(path.join(d.input, `f${i}.csv`), `content ${i}\n`);
    for (let i = 0; i < 5; i += 1) {
      writeOld(path.join(d.input, 'again', `g${i}.csv`), `content ${i % 3}\n`);
    }
    const r0 = await run([...baseArgs(d), '--once', '--stability-seconds', '1']);
    expect(r0.code, r0.stderr).toBe(0);
    const clean = await verifyTree(d, '--rehash');
    expect(clean.code, clean.stdout).toBe(0);
    expect(clean.stdout).toMatch(/, 8 rehashed; 5 duplicate files\n/);

    const dupDir = path.join(d.warehouse, '_duplicates');
    const dups = filesUnder(dupDir).map((f) => path.join(dupDir, f));
    expect(dups).toHaveLength(5);
    const [grown, replaced, removed] = dups;
    // The case that motivated this check: a file taken as a duplicate while its writer was
    // still writing holds more than the content its row records.
    fs.appendFileSync(grown!, 'x'.repeat(1 << 20));
    fs.writeFileSync(replaced!, 'X'.repeat(fs.statSync(replaced!).size)); // same size
    fs.rmSync(removed!);
    const stray = path.join(path.dirname(grown!), 'stray.csv');
    fs.writeFileSync(stray, 'never recorded');
    fs.mkdirSync(path.join(dupDir, '.ingestor-tmp'));
    fs.writeFileSync(path.join(dupDir, '.ingestor-tmp', '.ingestor-0123.tmp'), 'half');
    const before = [d.warehouse, d.manifests, path.dirname(d.state)].map(treeDigest);

    const sizesOnly = await verifyTree(d, '--json');
    expect(sizesOnly.code).toBe(1);
    const report = JSON.parse(sizesOnly.stdout) as {
      duplicateFiles: number;
      problems: { kind: string; where: string; detail: string }[];
      advice: Record<string, string>;
    };
    expect(report.duplicateFiles).toBe(5);
    expect(report.problems.map((p) => [p.kind, p.where]).sort()).toEqual(
      [
        ['duplicate-mismatch', grown],
        ['duplicate-missing', expect.stringMatching(/^state row \d+$/)],
        ['temporary-file', path.join(dupDir, '.ingestor-tmp', '.ingestor-0123.tmp')],
        ['unrecorded-duplicate', stray],
      ].sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
    );
    const missing = report.problems.find((p) => p.kind === 'duplicate-missing')!;
    expect(missing.detail).toBe(`duplicate ${removed!} does not exist`);
    const mismatch = report.problems.find((p) => p.kind === 'duplicate-mismatch')!;
    expect(mismatch.detail).toMatch(/^has 1048586 bytes, state row \d+ says 10$/);
    expect(Object.keys(report.advice).sort()).toEqual([
      'duplicate-mismatch',
      'duplicate-missing',
      'temporary-file',
      'unrecorded-duplicate',
    ]);
    expect(report.advice['duplicate-mismatch']).toMatch(/move it into the input/);

    // The same content with other bytes of the same size: only a rehash sees it.
    const rehashed = await verifyTree(d, '--rehash');
    expect(rehashed.code).toBe(1);
    expect(rehashed.stdout).toMatch(
      new RegExp(
        `^duplicate-mismatch +${replaced!}: hashes to [0-9a-f]{64}, state row \\d+ says [0-9a-f]{64}$`,
        'm',
      ),
    );
    // The text report ends with one line of advice per kind found.
    const advice = rehashed.stdout.split('what to do:\n')[1]!.trimEnd().split('\n');
    expect(advice.map((l) => l.split(':')[0]!.trim())).toEqual([
      'temporary-file',
      'unrecorded-duplicate',
      'duplicate-missing',
      'duplicate-mismatch',
    ]);
    expect([d.warehouse, d.manifests, path.dirname(d.state)].map(treeDigest)).toEqual(before);
  });

  it("takes the daemon's --duplicates-dir, and has nothing to check for deleted duplicates", async () => {
    const d = makeDirs();
    const elsewhere = path.join(d.root, 'dups');
    writeOld(path.join(d.input, 'a.csv'), 'same');
    writeOld(path.join(d.input, 'sub', 'a.csv'), 'same');
    const r0 = await run([
      ...baseArgs(d),
      '--once',
      '--stability-seconds',
      '1',
      '--duplicates-dir',
      elsewhere,
    ]);
    expect(r0.code, r0.stderr).toBe(0);
    expect(filesUnder(elsewhere)).toHaveLength(1);
    const wrongDir = await verifyTree(d);
    expect(wrongDir.code).toBe(1);
    expect(wrongDir.stdout).toMatch(
      /^duplicate-missing +state row \d+: duplicate .*_duplicates.* does not exist$/m,
    );
    expect(wrongDir.stdout).toMatch(/^ {2}duplicate-missing: .*check --duplicates-dir/m);
    const right = await verifyTree(d, '--duplicates-dir', elsewhere, '--rehash');
    expect(right.code, right.stdout).toBe(0);
    expect(right.stdout).toMatch(/; 1 duplicate files\nverify: OK/);

    const d2 = makeDirs();
    writeOld(path.join(d2.input, 'a.csv'), 'same');
    writeOld(path.join(d2.input, 'sub', 'a.csv'), 'same');
    const r1 = await run([...baseArgs(d2), '--once', '--on-duplicate', 'delete']);
    expect(r1.code, r1.stderr).toBe(0);
    const deleted = await verifyTree(d2);
    expect(deleted.code, deleted.stdout).toBe(0);
    expect(deleted.stdout).toMatch(/2 state rows; 0 duplicate files/);
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
