import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import type { CrashPoint } from '../../src/crash.js';
import {
  baseArgs,
  expectExactlyOnce,
  filesUnder,
  makeDirs,
  manifestLines,
  run,
  writeOld,
} from '../helpers/ingestor.js';
import type { Dirs } from '../helpers/ingestor.js';

const CONTENTS = ['alpha\n', 'beta\n'.repeat(1000), 'gamma\n', Buffer.alloc(3 * 1024 * 1024, 7)];

/** Input: distinct contents, one resent under another name, one marked by a sidecar. */
function fill(d: Dirs): void {
  CONTENTS.forEach((c, i) => writeOld(path.join(d.input, `f${i}.csv`), c));
  writeOld(path.join(d.input, 'resent', 'f0-again.csv'), CONTENTS[0]!);
}

const once = (d: Dirs, env: Record<string, string> = {}) =>
  run([...baseArgs(d), '--once', '--stability-seconds', '1', '--concurrency', '2'], { env });

function openIntents(d: Dirs): number {
  const db = new Database(d.state, { readonly: true });
  try {
    return (
      db.prepare(`SELECT count(*) AS n FROM files WHERE status = 'intent'`).get() as { n: number }
    ).n;
  } finally {
    db.close();
  }
}

function expectSettled(d: Dirs): void {
  expectExactlyOnce(d, CONTENTS);
  expect(openIntents(d)).toBe(0);
  // The resent copy is kept in the duplicates area: nothing lost.
  expect(filesUnder(path.join(d.warehouse, '_duplicates')).length).toBe(1);
}

const SAME_FS: CrashPoint[] = [
  'after-intent',
  'after-rename',
  'after-source-removed',
  'after-manifest',
  'before-commit',
  'after-commit',
];

describe.each([
  { name: 'same filesystem', tmpfs: false, points: SAME_FS },
  {
    name: 'warehouse on another filesystem (tmpfs)',
    tmpfs: true,
    points: ['during-copy', ...SAME_FS] as CrashPoint[],
  },
])('kill -9 at every step, then restart: $name', ({ tmpfs, points }) => {
  it.each(points)('%s', async (point) => {
    const d = makeDirs({ tmpfsWarehouse: tmpfs });
    fill(d);
    const crashed = await once(d, { INGEST_TEST_CRASH_AT: point });
    expect(crashed.signal, crashed.stderr).toBe('SIGKILL');
    const restarted = await once(d);
    expect(restarted.code, restarted.stderr).toBe(0);
    expectSettled(d);
  });
});

describe('recovery', () => {
  it('survives a kill during recovery itself, and then settles', async () => {
    const d = makeDirs({ tmpfsWarehouse: true });
    fill(d);
    expect((await once(d, { INGEST_TEST_CRASH_AT: 'after-rename:2' })).signal).toBe('SIGKILL');
    const intents = openIntents(d);
    expect(intents).toBeGreaterThan(0);
    // Kill after recovery has settled some intents but not all, when there are several.
    const at = `during-recovery:${Math.min(2, intents)}`;
    expect((await once(d, { INGEST_TEST_CRASH_AT: at })).signal).toBe('SIGKILL');
    const restarted = await once(d);
    expect(restarted.code, restarted.stderr).toBe(0);
    expectSettled(d);
  });

  it('cuts a torn last manifest line and keeps the whole ones', async () => {
    const d = makeDirs();
    fill(d);
    expect((await once(d, { INGEST_TEST_CRASH_AT: 'after-manifest' })).signal).toBe('SIGKILL');
    const [file] = filesUnder(d.manifests).filter((f) => f.endsWith('.jsonl'));
    // As if the kill had come in the middle of writing one more line.
    fs.appendFileSync(path.join(d.manifests, file!), '{"path":"/in/torn.csv","sha25');
    const restarted = await once(d);
    expect(restarted.code, restarted.stderr).toBe(0);
    expect(restarted.stdout).toContain('cut a torn last manifest line');
    expectSettled(d);
  });

  it('repeated kills at the same point still end exactly once', async () => {
    const d = makeDirs({ tmpfsWarehouse: true });
    fill(d);
    for (const point of ['after-intent', 'after-rename', 'after-manifest', 'before-commit']) {
      const r = await once(d, { INGEST_TEST_CRASH_AT: point });
      expect([r.signal, r.code]).toContain(r.signal === null ? 0 : 'SIGKILL');
    }
    expect((await once(d)).code).toBe(0);
    expectSettled(d);
    expect(manifestLines(d.manifests)).toHaveLength(CONTENTS.length);
  });
});
