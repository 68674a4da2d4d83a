import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { baseArgs, filesUnder, makeDirs, run } from '../helpers/ingestor.js';

/** Runs with a bad argument list and checks: exit 2, one line naming the problem, nothing made. */
async function expectUsageError(args: string[], pattern: RegExp, root: string) {
  const before = filesUnder(root);
  const result = await run(args);
  expect(result.code).toBe(2);
  const lines = result.stderr.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^ingestor: /);
  expect(lines[0]).toMatch(pattern);
  expect(result.stdout).toBe('');
  expect(filesUnder(root)).toEqual(before);
  expect(fs.readdirSync(root).sort()).toEqual(['in']);
}

describe('usage errors: exit 2, one line, nothing touched', () => {
  it('unknown flag', async () => {
    const d = makeDirs();
    await expectUsageError([...baseArgs(d), '--frobnicate'], /frobnicate/, d.root);
  });

  it('bad --mode', async () => {
    const d = makeDirs();
    await expectUsageError([...baseArgs(d), '--mode', 'eventual'], /mode.*eventual/, d.root);
  });

  it.each([
    ['--stability-seconds', '0'],
    ['--stability-seconds', '-1'],
    ['--stability-seconds', 'soon'],
    ['--concurrency', '0'],
    ['--concurrency', '1.5'],
    ['--concurrency', 'many'],
  ])('%s %s', async (flag, value) => {
    const d = makeDirs();
    await expectUsageError(
      [...baseArgs(d), flag, value],
      new RegExp(`${flag}.*${value.replace('.', '\\.')}`),
      d.root,
    );
  });

  it('missing --input directory', async () => {
    const d = makeDirs();
    const args = baseArgs(d);
    args[1] = path.join(d.root, 'nope');
    await expectUsageError(args, /--input .*nope.* does not exist/, d.root);
  });

  it('--input that is a file', async () => {
    const d = makeDirs();
    fs.writeFileSync(path.join(d.input, 'f'), 'x');
    const args = baseArgs(d);
    args[1] = path.join(d.input, 'f');
    const before = filesUnder(d.root);
    const result = await run(args);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/--input .* is not a directory/);
    expect(filesUnder(d.root)).toEqual(before);
  });

  it('no --input at all', async () => {
    const d = makeDirs();
    await expectUsageError(baseArgs(d).slice(2), /--input is required/, d.root);
  });

  it('warehouse inside the input', async () => {
    const d = makeDirs();
    const args = baseArgs(d);
    args[3] = path.join(d.input, 'wh');
    await expectUsageError(args, /--warehouse .* is inside --input/, d.root);
  });

  it('manifests inside the input, through a symlink', async () => {
    const d = makeDirs();
    fs.symlinkSync(d.input, path.join(d.root, 'alias'));
    const args = baseArgs(d);
    args[5] = path.join(d.root, 'alias', 'mf');
    const result = await run(args);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/--manifests .* is inside --input/);
    expect(fs.readdirSync(d.input)).toEqual([]);
  });

  it('input inside the warehouse', async () => {
    const d = makeDirs();
    const args = baseArgs(d);
    args[3] = d.root;
    await expectUsageError(args, /--input .* is inside --warehouse/, d.root);
  });

  it('state path inside the input', async () => {
    const d = makeDirs();
    const args = baseArgs(d);
    args[7] = path.join(d.input, 'state.db');
    await expectUsageError(args, /--state-path .* is inside --input/, d.root);
  });

  it('a flag given twice', async () => {
    const d = makeDirs();
    await expectUsageError(
      [...baseArgs(d), '--concurrency', '2', '--concurrency', '3'],
      /--concurrency was given more than once/,
      d.root,
    );
  });

  it('an unknown command word', async () => {
    const d = makeDirs();
    await expectUsageError(['ingest', ...baseArgs(d)], /Unknown argument: ingest/, d.root);
  });
});

describe('help', () => {
  it('lists the flags and exits 0', async () => {
    const result = await run(['--help']);
    expect(result.code).toBe(0);
    for (const flag of ['--input', '--warehouse', '--manifests', '--mode', '--once', '--dry-run']) {
      expect(result.stdout).toContain(flag);
    }
  });
});
