import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');

/** The benchmark's quick version: the script works and prints its table (no timing asserted). */
describe('npm run bench, quick', () => {
  it('prints every case side by side with its peers', () => {
    // Its own directory: a full `npm run bench` may be running beside the tests.
    const dir = fs.mkdtempSync('/tmp/ingestor-bench-test-');
    const r = spawnSync(
      process.execPath,
      [path.join(ROOT, 'scripts/bench.mjs'), '--quick', '--dir', dir],
      { encoding: 'utf8', timeout: 600_000 },
    );
    fs.rmSync(dir, { recursive: true, force: true });
    expect(r.status, r.stderr).toBe(0);
    for (const c of ['| 1 |', '| 2 |', '| 3 |', '| 4 |', '| 5 |', '| 6 |', '| 7 |', '| 8 |'])
      expect(r.stdout).toContain(c);
    expect(r.stdout).toMatch(/rclone move \d+ files\/s/);
    const results = JSON.parse(fs.readFileSync(path.join(ROOT, 'bench-out/results.json'), 'utf8'));
    expect(results.results.case1.ingestorFilesPerSecond).toBeGreaterThan(0);
    expect(results.results.case1.ingestorInfoFilesPerSecond).toBeGreaterThan(0);
    expect(results.results.case7.peakRssBytes).toBeGreaterThan(0);
    // The state on PostgreSQL, one daemon and three, beside SQLite.
    expect(results.results.case8.postgresOneDaemonFilesPerSecond).toBeGreaterThan(0);
    expect(results.results.case8.postgresThreeDaemonsFilesPerSecond).toBeGreaterThan(0);
  }, 660_000);
});
