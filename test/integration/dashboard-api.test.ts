import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { request, setUpApi, startWithApi } from '../helpers/api.js';
import type { ApiSetup } from '../helpers/api.js';
import { call, expectError, ok } from '../helpers/api-actions.js';
import { openStream } from '../helpers/sse.js';
import { finished, manifestLines, waitForCommitted, writeOld } from '../helpers/ingestor.js';

/**
 * What the dashboard needs of the server, without a browser (browser.test.ts and dashboard.test.ts
 * drive the page itself): its files with a strict policy, a refusal of calls that act from
 * another site, and the figures its screens read.
 */
/** A daemon that ingested a.csv, b.csv and a duplicate of a.csv; stopped after `body`. */
async function withDaemon(
  body: (s: ApiSetup, port: number, daemonPid: number) => Promise<void>,
): Promise<void> {
  const s = setUpApi();
  writeOld(path.join(s.d.input, 'a.csv'), 'alpha\n');
  writeOld(path.join(s.d.input, 'b.csv'), 'bravo\n');
  writeOld(path.join(s.d.input, 'again.csv'), 'alpha\n');
  const { daemon, port } = await startWithApi(s.d, s.certs);
  try {
    await waitForCommitted(s.d.state, 3);
    await body(s, port, daemon.pid!);
  } finally {
    daemon.kill('SIGTERM');
    const result = await finished(daemon);
    expect(result.code, result.stderr).toBe(0);
  }
}

describe('the dashboard server side', () => {
  it('serves its page and files with a strict CSP; refuses calls that act from another site', async () => {
    await withDaemon(async (s, port) => {
      const page = await call(s, port, s.user, 'GET', '/');
      expect(page.status).toBe(200);
      expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(page.headers['content-security-policy']).toBe(
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; " +
          "img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'; form-action 'none'",
      );
      expect(page.headers['x-frame-options']).toBe('DENY');
      expect(page.headers['x-content-type-options']).toBe('nosniff');
      const html = String(page.body);
      // No inline script or style: every script and style is a file of its own.
      expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
      expect(html).not.toMatch(/<style|style=/);
      for (const asset of ['/assets/vendor/preact.mjs', '/assets/vendor/hooks.mjs']) {
        const r = await call(s, port, s.user, 'GET', asset);
        expect(r.status, asset).toBe(200);
        expect(r.headers['content-type']).toBe('text/javascript; charset=utf-8');
      }
      // The hooks were pointed at the vendored Preact: a browser cannot resolve a bare name.
      const hooks = await call(s, port, s.user, 'GET', '/assets/vendor/hooks.mjs');
      expect(String(hooks.body)).toContain('from"./preact.mjs"');
      const again = await call(s, port, s.user, 'GET', '/');
      expect(again.headers.etag).toBe(page.headers.etag);
      // The page names its files under the build's version: those are cached for good; a plain
      // name, or another build's version (a page loaded before a restart), is revalidated.
      const version = /"\/assets\/(v-[A-Za-z0-9_-]{12})\/app\.js"/.exec(html)?.[1];
      expect(version, html).toBeDefined();
      expect(html).toContain(`<link rel="modulepreload" href="/assets/${version}/store.js" />`);
      // The page's tag is the build's: a rebuild that changes only a script is a new page.
      expect(page.headers.etag).toBe(`"${version}"`);
      const cached = await call(s, port, s.user, 'GET', `/assets/${version}/app.js`);
      expect(cached.headers['cache-control']).toBe('public, max-age=31536000, immutable');
      for (const other of ['/assets/app.js', '/assets/v-AAAAAAAAAAAA/app.js']) {
        const r = await call(s, port, s.user, 'GET', other);
        expect(r.headers['cache-control'], other).toBe('no-cache');
        expect(r.body, other).toEqual(cached.body);
      }

      // A call that acts, from another site's page: refused, and nothing changes.
      for (const headers of [
        { origin: 'https://evil.example' },
        { 'sec-fetch-site': 'cross-site' },
      ]) {
        const r = await request({
          port,
          ca: s.ca,
          client: s.admin,
          method: 'POST',
          path: '/v1/pause',
          headers,
        });
        expectError(r, 403, 'API_ERR_FORBIDDEN', /must come from this server's own page/);
      }
      const status = ok<{ state: string }>(await call(s, port, s.user, 'GET', '/v1/status'));
      expect(status.state).toBe('running');
      // The page's own calls, and calls from no page (ctl, curl), act.
      const own = await request({
        port,
        ca: s.ca,
        client: s.admin,
        method: 'POST',
        path: '/v1/pause',
        headers: { origin: `https://127.0.0.1:${port}`, 'sec-fetch-site': 'same-origin' },
      });
      expect(own.status, JSON.stringify(own.body)).toBe(200);
      ok(await call(s, port, s.admin, 'POST', '/v1/resume'));
    });
  });

  it("answers a file's manifest line, the last hour second by second, and stats events with counts, resources and files in flight", async () => {
    await withDaemon(async (s, port, daemonPid) => {
      const files = ok<{ files: { id: number; status: string; source: string }[] }>(
        await call(s, port, s.user, 'GET', '/v1/files'),
      ).files;
      const ingested = files.find((f) => f.source.endsWith('/b.csv'))!;
      const line = ok<{ manifest: string; lineNumber: number; line: Record<string, unknown> }>(
        await call(s, port, s.user, 'GET', `/v1/files/${ingested.id}/manifest`),
      );
      const written = manifestLines(s.d.manifests).find((l) => l.path.endsWith('/b.csv'))!;
      expect(line.line).toEqual(written);
      const text = fs.readFileSync(line.manifest, 'utf8').split('\n');
      expect(JSON.parse(text[line.lineNumber - 1]!)).toEqual(written);
      const duplicate = files.find((f) => f.status === 'duplicate')!;
      const none = ok<{ line: null; missing: string }>(
        await call(s, port, s.user, 'GET', `/v1/files/${duplicate.id}/manifest`),
      );
      expect(none).toMatchObject({ line: null, missing: expect.stringContaining('a duplicate') });
      // Each lookup closes the manifest it read, found early or not.
      const fds = () => fs.readdirSync(`/proc/${daemonPid}/fd`).length;
      const before = fds();
      for (let i = 0; i < 40; i += 1) {
        ok(await call(s, port, s.user, 'GET', `/v1/files/${ingested.id}/manifest`));
      }
      expect(fds() - before).toBeLessThan(10);
      expectError(
        await call(s, port, s.user, 'GET', '/v1/files/999/manifest'),
        404,
        'API_ERR_NOT_FOUND',
      );

      // Whole seconds only: the one under way is the next stats event's.
      await new Promise((resolve) => setTimeout(resolve, 1_100));
      const series = ok<{ end: number; step: number; files: number[]; bytes: number[] }>(
        await call(s, port, s.user, 'GET', '/v1/stats/series'),
      );
      expect(series.step).toBe(1000);
      expect(series.files).toHaveLength(3600);
      expect(series.bytes).toHaveLength(3600);
      expect(series.files.reduce((a, b) => a + b, 0)).toBe(2); // two ingests, the duplicate apart
      expect(series.bytes.reduce((a, b) => a + b, 0)).toBe(12);
      expect(Math.abs(series.end - Date.now())).toBeLessThan(5_000);

      const stream = await openStream({
        port,
        ca: s.ca,
        client: s.user,
        path: '/v1/events?types=stats',
      });
      try {
        await stream.until((events) => events.length > 0, 5_000, 'a stats event');
        const stats = stream.events[0]!.data;
        expect(stats).toMatchObject({
          state: 'running',
          pauses: [],
          counts: {
            ingested: 2,
            ingestedBytes: 12,
            duplicates: 1,
            quarantined: 0,
            failed: 0,
            held: 0,
          },
          inflightFiles: [],
        });
        const resources = stats.resources as { rssBytes: number; volumes: { name: string }[] };
        expect(resources.rssBytes).toBeGreaterThan(0);
        expect(resources.volumes.map((v) => v.name)).toEqual([
          'input',
          'warehouse',
          'manifests',
          'state',
        ]);
      } finally {
        stream.close();
      }
      expect(ok(await call(s, port, s.user, 'GET', '/v1/inflight'))).toEqual({
        total: 0,
        files: [],
      });
    });
  });
});
