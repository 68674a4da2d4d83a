import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { finished, makeDirs } from '../helpers/ingestor.js';
import { metricValue, scrape, startWithMetrics } from '../helpers/metrics.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const ALERTS = path.join(ROOT, 'deploy/prometheus/alerts.yml');
const ALERT_TESTS = path.join(ROOT, 'deploy/prometheus/alerts.test.yml');
const GRAFANA = path.join(ROOT, 'deploy/grafana/ingestor.json');

beforeAll(() => {
  const r = spawnSync('bash', [path.join(ROOT, 'scripts/ensure-tools.sh'), 'promtool'], {
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`cannot install promtool: ${r.stderr}`);
}, 600_000);

interface GrafanaPanel {
  id: number;
  title: string;
  targets: { expr: string; datasource: { uid: string } }[];
}

/** The metric names an expression reads (ours and the process's). */
function metricsIn(text: string): string[] {
  return [...new Set(text.match(/\b(?:ingestor|process|nodejs)_[a-z_]+\b/g) ?? [])];
}

describe('the alerts and the Grafana dashboard (deploy/)', () => {
  it('promtool checks the rules and passes their unit tests', () => {
    const check = spawnSync('promtool', ['check', 'rules', ALERTS], { encoding: 'utf8' });
    expect(check.status, check.stdout + check.stderr).toBe(0);
    expect(check.stdout).toMatch(/SUCCESS: 11 rules found/);
    const test = spawnSync('promtool', ['test', 'rules', ALERT_TESTS], {
      encoding: 'utf8',
      cwd: path.dirname(ALERT_TESTS),
    });
    expect(test.status, test.stdout + test.stderr).toBe(0);
    expect(test.stdout).toContain('SUCCESS');
  });

  it("reads only metrics a real daemon exports, the new ones with values: volumes' free space, an operator's pause, held and backing-off files", async () => {
    const d = makeDirs();
    const { daemon, url } = await startWithMetrics(d);
    try {
      const text = await scrape(url);
      const exported = new Set(
        text
          .split('\n')
          .filter((l) => l !== '' && !l.startsWith('#'))
          .map((l) => /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(l)![0]),
      );
      const dashboard = JSON.parse(fs.readFileSync(GRAFANA, 'utf8')) as {
        panels: GrafanaPanel[];
        templating: { list: { name: string }[] };
      };
      const exprs = dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr));
      const read = metricsIn([fs.readFileSync(ALERTS, 'utf8'), ...exprs].join('\n'));
      expect(read.length).toBeGreaterThan(10);
      for (const name of read) expect(exported.has(name), `${name} is not exported`).toBe(true);
      // The dashboard: one id per panel, each query on the chosen data source and daemons.
      expect(new Set(dashboard.panels.map((p) => p.id)).size).toBe(dashboard.panels.length);
      for (const p of dashboard.panels) {
        for (const t of p.targets) {
          expect(t.datasource.uid, p.title).toBe('${datasource}');
          expect(t.expr, p.title).toContain('instance=~"$instance"');
        }
      }
      expect(dashboard.templating.list.map((v) => v.name)).toEqual(['datasource', 'instance']);
      // Each directory's volume, as statfs says.
      for (const [volume, dir] of [
        ['input', d.input],
        ['warehouse', d.warehouse],
        ['manifests', d.manifests],
        ['state', path.dirname(d.state)],
      ] as const) {
        const s = fs.statfsSync(dir);
        expect(metricValue(text, 'ingestor_volume_size_bytes', `{volume="${volume}"}`)).toBe(
          s.blocks * s.bsize,
        );
        expect(
          metricValue(text, 'ingestor_volume_free_bytes', `{volume="${volume}"}`),
        ).toBeGreaterThan(0);
      }
      expect(metricValue(text, 'ingestor_operator_paused')).toBe(0);
      expect(metricValue(text, 'ingestor_held_files')).toBe(0);
      expect(metricValue(text, 'ingestor_backoff_files')).toBe(0);
    } finally {
      daemon.kill('SIGTERM');
      await finished(daemon);
    }
  });
});
