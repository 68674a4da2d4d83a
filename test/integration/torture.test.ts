import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const SCRIPT = path.resolve(import.meta.dirname, '../../scripts/torture.mjs');

/** The short version of the crash torture (the long run is recorded in docs/TORTURE.md). */
describe('crash torture, short', () => {
  it.each([
    ['same filesystem', []],
    ['warehouse on a tmpfs', ['--cross-fs']],
    ['warehouse and manifests filling up and freed at random', ['--cross-fs', '--full-outputs']],
    ['the control API on, a client streaming through every kill', ['--api']],
    [
      'three daemons sharing a PostgreSQL state, one killed at a time',
      ['--postgres', '--daemons', '3'],
    ],
  ])(
    '%s: 15 random kills, verify and the ledger agree',
    (_name, extra) => {
      const r = spawnSync(process.execPath, [SCRIPT, '--kills', '15', '--rate', '30', ...extra], {
        encoding: 'utf8',
        timeout: 240_000,
      });
      expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
      const summary = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
      expect(summary).toMatchObject({ ok: true, kills: 15, problems: 0 });
      expect(summary.filesWritten).toBeGreaterThan(100);
      if (extra.includes('--full-outputs')) expect(summary.fills).toBeGreaterThan(0);
      // Every committed file's event reached the client once (checked by the script).
      if (extra.includes('--api')) expect(summary.api.events).toBeGreaterThan(100);
    },
    300_000,
  );
});
