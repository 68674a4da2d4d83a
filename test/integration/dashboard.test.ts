import { spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { setUpApi, startWithApi } from '../helpers/api.js';
import { call, ok, pendingIdOf } from '../helpers/api-actions.js';
import { Browser, ensureChromium } from '../helpers/browser.js';
import type { Page } from '../helpers/browser.js';
import {
  filesUnder,
  finished,
  manifestLines,
  partitionFiles,
  waitFor,
  waitForCommitted,
  writeOld,
} from '../helpers/ingestor.js';
import { slowDisk } from '../helpers/slow-disk.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const SCREENSHOTS = path.join(ROOT, 'docs/screenshots');
const MiB = 1024 * 1024;

beforeAll(() => ensureChromium(), 600_000);

async function stop(daemon: ChildProcess): Promise<void> {
  daemon.kill('SIGTERM');
  const result = await finished(daemon, 60_000);
  expect(result.code, result.stderr).toBe(0);
}

/** Marks the page's window: still marked later means it was never reloaded. */
const mark = (page: Page) => page.evaluate<void>('() => { window.__notReloaded = true; }');
const notReloaded = (page: Page) => page.evaluate<boolean>('() => window.__notReloaded === true');

const live = (page: Page) =>
  page.waitFor('[data-testid=connection][data-state=live]', 'visible', 20_000);

/** The first whole number in a text ("1,234 files" -> 1234). */
function numberIn(text: string | null): number {
  const m = /\d[\d,]*/.exec(text ?? '');
  if (m === null) throw new Error(`no number in ${JSON.stringify(text)}`);
  return Number(m[0].replaceAll(',', ''));
}

/** Nothing the console or the page complained of: no CSP refusal, no uncaught error. */
async function expectNoProblems(page: Page): Promise<void> {
  expect(await page.problems()).toEqual([]);
}

/**
 * A daemon whose input is on a disk it reads at `readBytesPerSecond` (a throttled loop device)
 * and whose warehouse is a tmpfs: a large file is copied slowly. And a browser.
 */
async function slowSetUp(readBytesPerSecond: number) {
  const s = setUpApi({ tmpfsWarehouse: true });
  const disk = slowDisk(s.d.root, { sizeBytes: 320 * MiB, readBytesPerSecond });
  const d = { ...s.d, input: path.join(disk.dir, 'in') };
  fs.mkdirSync(d.input);
  const { daemon, port } = await startWithApi(d, s.certs);
  disk.limit(daemon.pid!);
  return { s, d, disk, daemon, port, browser: await Browser.start(s) };
}

describe('the dashboard in a real browser', () => {
  it('live progress: a slow cross-filesystem copy shows a bar that advances without a reload, then the file is among the recent ingests and the counters and the chart move', async () => {
    // The input on a disk the daemon reads at 40 MiB/s: the 240 MiB copy takes about 6 s.
    const { s, d, disk, daemon, port, browser } = await slowSetUp(40 * MiB);
    try {
      const page = await browser.open(s, port, 'admin');
      await page.goto('#/');
      await live(page);
      await mark(page);
      expect(numberIn(await page.text('[data-testid=count-ingested]'))).toBe(0);
      const chart = '[data-testid=chart-files] [data-testid=chart-summary]';
      const chartBefore = await page.text(chart);

      const big = path.join(d.input, 'big.bin');
      disk.writeUncached(big, 240 * MiB);
      await page.click({ role: 'link', name: 'In flight', within: 'nav' });
      const first = await page.waitUntil<{ value: number; max: number }>(
        `(source) => {
          const row = [...document.querySelectorAll('[data-testid=inflight-row]')]
            .find((r) => r.getAttribute('data-source') === source);
          const bar = row?.querySelector('progress');
          return bar && bar.value > 0 && bar.value < bar.max ? { value: bar.value, max: bar.max } : false;
        }`,
        'a bar part way',
        big,
      );
      expect(first.max).toBe(240 * MiB);
      // The same bar further on, the page never reloaded.
      const later = await page.waitUntil<number>(
        `({ source, before }) => {
          const row = [...document.querySelectorAll('[data-testid=inflight-row]')]
            .find((r) => r.getAttribute('data-source') === source);
          const value = row?.querySelector('progress')?.value ?? 0;
          return value > before ? value : false;
        }`,
        'the bar advancing',
        { source: big, before: first.value },
      );
      expect(later).toBeGreaterThan(first.value);
      // Its cells: the file, the bar, its rate, its time left, the step.
      const rowCells = await page.evaluate<string[]>(
        `(source) => {
          const row = [...document.querySelectorAll('[data-testid=inflight-row]')]
            .find((r) => r.getAttribute('data-source') === source);
          return row ? [...row.querySelectorAll('td')].map((td) => td.textContent.trim()) : [];
        }`,
        big,
      );
      const joined = rowCells.join(' | ');
      expect(joined).toMatch(/\| [\d.]+ (MB|MiB)\/s \|/); // its rate
      expect(joined).toMatch(/\| \d+ s \||\| \d+ min \d+ s \|/); // its time left

      await page.waitFor(`[data-testid=inflight-row][data-source="${big}"]`, 'detached', 60_000);
      await page.click({ role: 'link', name: 'History', within: 'nav' });
      await page.waitText('[data-testid=file-row]', /big\.bin/, 20_000);
      await page.click({ role: 'link', name: 'Overview', within: 'nav' });
      await page.waitText('[data-testid=count-ingested]', /^\D*1\b/, 10_000);
      // The files/s chart took the file in: its summary moved off what it said before.
      await page.waitUntil(
        `({ css, before }) => { const t = document.querySelector(css)?.textContent; return t && t !== before; }`,
        'the chart to move',
        { css: chart, before: chartBefore },
        10_000,
      );
      expect(await notReloaded(page)).toBe(true);
      await expectNoProblems(page);
    } finally {
      await browser.close();
      await stop(daemon);
    }
  }, 180_000);

  it('cancel on an in-flight file leaves its source in place and the file held', async () => {
    const { s, d, disk, daemon, port, browser } = await slowSetUp(20 * MiB);
    try {
      const page = await browser.open(s, port, 'admin');
      await page.goto('#/inflight');
      await live(page);
      const big = path.join(d.input, 'big.bin');
      disk.writeUncached(big, 240 * MiB);
      const row = `[data-testid=inflight-row][data-source="${big}"]`;
      await page.waitFor(row, 'visible', 30_000);
      await page.click({ within: row, role: 'button', name: 'Cancel' });
      await page.click({ role: 'button', name: 'Confirm' }); // it throws work away: confirmed
      await page.waitText('[data-testid=toast]', /cancel/i, 10_000);
      await page.waitFor(row, 'detached', 30_000);
      // The source stays whole, no partial copy is left, and the file is held.
      const tmpDir = path.join(s.d.warehouse, '.ingestor-tmp');
      await waitFor(() => filesUnder(tmpDir).length === 0, 30_000, 'the partial copy removed');
      expect(fs.statSync(big).size).toBe(240 * MiB);
      expect(partitionFiles(s.d.warehouse)).toEqual([]);
      expect(manifestLines(s.d.manifests)).toEqual([]);
      await page.click({ role: 'link', name: 'Pending', within: 'nav' });
      await page.waitText('main', /held/i, 10_000);
      const pending = ok<{ files: { id: string; reason: string; why: string }[] }>(
        await call(s, port, s.user, 'GET', '/v1/pending'),
      ).files;
      expect(pending).toEqual([
        expect.objectContaining({
          id: pendingIdOf(big),
          reason: 'held',
          why: expect.stringMatching(/^cancelled by .*CN=admin/),
        }),
      ]);
      await expectNoProblems(page);
    } finally {
      await browser.close();
      await stop(daemon);
    }
  }, 120_000);

  it('failures: a user sees no buttons and a forged POST is refused; an admin retries from the page, and the history says who; every page passes axe, reads at a phone width, and takes the keyboard', async () => {
    const s = setUpApi();
    for (let i = 0; i < 60; i += 1) {
      writeOld(path.join(s.d.input, `part-${String(i).padStart(3, '0')}.csv`), `row ${i}\n`);
    }
    // A file the daemon may not move out of the input (immutable): quarantined in place.
    const stuck = path.join(s.d.input, 'stuck.csv');
    const stuck2 = path.join(s.d.input, 'stuck2.csv');
    writeOld(stuck, 'stuck\n');
    writeOld(stuck2, 'stuck too\n');
    immutable(stuck, true);
    immutable(stuck2, true);
    const { daemon, port } = await startWithApi(s.d, s.certs);
    const browser = await Browser.start(s);
    try {
      await waitForCommitted(s.d.state, 62);
      const quarantined = ok<{ files: { id: number; source: string; error: string }[] }>(
        await call(s, port, s.user, 'GET', '/v1/files?status=quarantined'),
      ).files;
      expect(quarantined.map((f) => f.source).sort()).toEqual([stuck, stuck2]);
      const id = quarantined.find((f) => f.source === stuck)!.id;
      const failureRow = `[data-testid=failure-row][data-id="${id}"]`;

      // The user role: the failure and its error, no buttons, and the server refuses anyway.
      const user = await browser.open(s, port, 'user');
      await user.goto('#/failures');
      await user.waitFor(failureRow);
      expect(await user.text(failureRow)).toMatch(/not permitted|EPERM|immovable/i);
      for (const name of ['Retry', 'Cancel', 'Hold', 'Release', 'Retry all']) {
        expect(await user.count({ role: 'button', name }), name).toBe(0);
      }
      expect(await user.count({ role: 'button', name: 'Pause ingestion' })).toBe(0);
      await expectNoProblems(user);
      const forged = await user.evaluate<{ path: string; status: number; error: string }[]>(
        `async (paths) => Promise.all(paths.map(async (path) => {
          const r = await fetch(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
          return { path, status: r.status, error: (await r.json()).error };
        }))`,
        [`/v1/files/${id}/retry`, '/v1/retry', '/v1/pause'],
      );
      for (const r of forged)
        expect(r, r.path).toMatchObject({ status: 403, error: 'API_ERR_FORBIDDEN' });
      // The browser reports each refused call in its console: those three, and nothing else.
      expect(await user.problems()).toEqual(
        Array(3).fill(expect.stringMatching(/status of 403 \(Forbidden\)/)),
      );
      expect(
        ok<{ status: string }>(await call(s, port, s.user, 'GET', `/v1/files/${id}`)).status,
      ).toBe('quarantined');
      expect(ok<{ state: string }>(await call(s, port, s.user, 'GET', '/v1/status')).state).toBe(
        'running',
      );
      await expectNoProblems(user);
      await user.close();

      // Every page, light and dark: no serious accessibility violation; screenshots.
      const ingestedId = ok<{ files: { id: number }[] }>(
        await call(s, port, s.user, 'GET', '/v1/files?status=ingested&limit=1'),
      ).files[0]!.id;
      const routes = [
        '#/',
        '#/inflight',
        '#/pending',
        '#/history',
        '#/failures',
        `#/files/${ingestedId}`,
      ];
      for (const colorScheme of ['light', 'dark'] as const) {
        const page = await browser.open(s, port, 'admin', { colorScheme });
        for (const route of routes) {
          await page.goto(route);
          await live(page);
          await page.waitFor('main h1, main h2');
          const serious = (await page.axe()).filter(
            (v) => v.impact === 'serious' || v.impact === 'critical',
          );
          expect(serious, `${colorScheme} ${route}`).toEqual([]);
        }
        await page.goto('#/');
        await live(page);
        await page.screenshot(path.join(SCREENSHOTS, `overview-${colorScheme}.png`));
        await page.goto('#/failures');
        await page.waitFor(failureRow);
        await page.screenshot(path.join(SCREENSHOTS, `failures-${colorScheme}.png`));
        await page.goto(`#/files/${ingestedId}`);
        await page.waitText('main', /warehouse_path/, 10_000); // the manifest line
        await page.screenshot(path.join(SCREENSHOTS, `file-${colorScheme}.png`));
        await expectNoProblems(page);
        await page.close();
      }

      // A phone's width: nothing wider than the screen.
      const phone = await browser.open(s, port, 'admin', { viewport: { width: 390, height: 844 } });
      for (const route of routes) {
        await phone.goto(route);
        await live(phone);
        const overflow = await phone.evaluate<number>(
          '() => document.documentElement.scrollWidth - window.innerWidth',
        );
        expect(overflow, route).toBeLessThanOrEqual(0);
      }
      await phone.close();

      // The keyboard: the first Tab reaches "Skip to content"; Tabs reach the sections.
      const admin = await browser.open(s, port, 'admin');
      await admin.goto('#/');
      await live(admin);
      await admin.press('Tab');
      expect((await admin.focused())?.text).toMatch(/skip to content/i);
      let reached = false;
      for (let tab = 0; tab < 20 && !reached; tab += 1) {
        await admin.press('Tab');
        reached = (await admin.focused())?.text === 'Failures';
      }
      expect(reached).toBe(true);
      await admin.press('Enter');
      await admin.waitFor(failureRow);
      expect(await admin.evaluate<string>('() => location.hash')).toBe('#/failures');

      // The history: searched by name and by SHA-256, a page at a time.
      await admin.click({ role: 'link', name: 'History', within: 'nav' });
      await admin.waitFor('[data-testid=file-row]');
      const firstPage = (
        await admin.evaluate<string[]>(
          "() => [...document.querySelectorAll('[data-testid=file-row]')].map((r) => r.getAttribute('data-id'))",
        )
      ).map(Number);
      expect(firstPage.length).toBeLessThan(61);
      await admin.click({ role: 'link', name: 'Older' });
      await admin.waitUntil(
        `(min) => { const ids = [...document.querySelectorAll('[data-testid=file-row]')].map((r) => Number(r.getAttribute('data-id'))); return ids.length > 0 && Math.max(...ids) < min; }`,
        'the older page',
        Math.min(...firstPage),
      );
      await admin.fill({ label: 'Name' }, 'part-007');
      await admin.click({ role: 'button', name: 'Search' });
      await admin.waitUntil(
        "() => { const rows = [...document.querySelectorAll('[data-testid=file-row]')]; return rows.length === 1 && rows[0].textContent.includes('part-007.csv'); }",
        'the search by name',
      );
      const sha = manifestLines(s.d.manifests).find((l) => l.path.endsWith('part-042.csv'))!.sha256;
      await admin.fill({ label: 'Name' }, '');
      await admin.fill({ label: 'SHA-256' }, sha.slice(0, 12));
      await admin.click({ role: 'button', name: 'Search' });
      await admin.waitUntil(
        "() => { const rows = [...document.querySelectorAll('[data-testid=file-row]')]; return rows.length === 1 && rows[0].textContent.includes('part-042.csv'); }",
        'the search by SHA-256',
      );

      // The admin fixes the cause, and retries from the page.
      await admin.click({ role: 'link', name: 'Failures', within: 'nav' });
      await admin.waitFor(failureRow);
      immutable(stuck, false);
      await admin.click({ within: failureRow, role: 'button', name: 'Retry' });
      await admin.waitText('[data-testid=toast]', /retr/i, 10_000);
      await admin.waitFor(failureRow, 'detached', 20_000);
      await waitFor(
        () => manifestLines(s.d.manifests).some((l) => l.path === stuck),
        30_000,
        'stuck.csv ingested',
      );
      await admin.goto(`#/files/${id}`);
      const retried = await admin.waitText('main', /retried/i, 10_000);
      expect(retried).toContain('CN=admin');
      const events = await admin.texts('[data-testid=history-event]');
      expect(
        events.some((e) => /retried/i.test(e) && e.includes('CN=admin')),
        events.join('\n'),
      ).toBe(true);

      // Retry all, with a filter, confirmed: the answer says how many.
      immutable(stuck2, false);
      await admin.click({ role: 'link', name: 'Failures', within: 'nav' });
      await admin.click({ role: 'button', name: 'Retry all' });
      await admin.fill({ label: 'Name filter' }, 'stuck2');
      await admin.click({ role: 'button', name: 'Confirm' });
      await admin.waitText('[data-testid=retry-answer]', /Retried 1, failed 0\./, 10_000);
      await waitFor(
        () => manifestLines(s.d.manifests).some((l) => l.path === stuck2),
        30_000,
        'stuck2.csv ingested',
      );

      // Pause and resume, each confirmed.
      await admin.click({ role: 'button', name: 'Pause ingestion' });
      await admin.click({ role: 'button', name: 'Confirm' });
      await admin.waitText('[data-testid=daemon-state]', /paused/i, 10_000);
      // Who paused, and since when.
      await admin.waitText('header', /paused.*by admin since \S/s, 10_000);
      const paused = ok<{ paused: { kind: string; by: string } }>(
        await call(s, port, s.user, 'GET', '/v1/status'),
      ).paused;
      expect(paused).toMatchObject({ kind: 'operator', by: 'O=Ingestor, OU=admin, CN=admin' });
      await admin.click({ role: 'button', name: 'Resume ingestion' });
      await admin.click({ role: 'button', name: 'Confirm' });
      await admin.waitText('[data-testid=daemon-state]', /running/i, 10_000);
      await expectNoProblems(admin);
    } finally {
      immutable(stuck, false);
      immutable(stuck2, false);
      await browser.close();
      await stop(daemon);
    }
  }, 360_000);

  it('reconnect: the page says it lost the stream while the daemon restarts, then resumes and shows what happened meanwhile', async () => {
    const s = setUpApi();
    let { daemon, port } = await startWithApi(s.d, s.certs);
    const browser = await Browser.start(s);
    try {
      const page = await browser.open(s, port, 'admin');
      await page.goto('#/');
      await live(page);
      await mark(page);
      writeOld(path.join(s.d.input, 'before.csv'), 'before\n');
      await page.waitText('[data-testid=count-ingested]', /^\D*1\b/, 20_000);
      await stop(daemon);
      await page.waitFor('[data-testid=connection][data-state=disconnected]', 'visible', 20_000);
      expect(await page.text('[data-testid=connection]')).toMatch(/disconnected/i);
      // While it is down, a file arrives; the next run ingests it.
      writeOld(path.join(s.d.input, 'meanwhile.csv'), 'meanwhile\n');
      ({ daemon, port } = await startWithApi(s.d, s.certs, [], { port }));
      await live(page);
      await page.waitText('[data-testid=count-ingested]', /^\D*2\b/, 20_000);
      await page.click({ role: 'link', name: 'History', within: 'nav' });
      await page.waitText('main', /meanwhile\.csv/, 20_000);
      expect(await notReloaded(page)).toBe(true);
      await expectNoProblems(page);
    } finally {
      await browser.close();
      await stop(daemon);
    }
  }, 120_000);

  it('bench-dashboard, quick: the first screen and the history render on a big state (figures printed, not asserted)', () => {
    const r = spawnSync(
      process.execPath,
      [path.join(ROOT, 'scripts/bench-dashboard.mjs'), '--rows', '20000', '--loads', '1'],
      { encoding: 'utf8', timeout: 240_000 },
    );
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/\| browser: overview's counts shown, first load \| \d+ ms \|/);
    expect(r.stdout).toMatch(
      /\| browser: history's first page shown, median of 1 loads \| \d+ ms \|/,
    );
  }, 300_000);
});

/** Sets or clears a file's immutable flag (chattr): not even root may move it while set. */
function immutable(file: string, on: boolean): void {
  const r = spawnSync('chattr', [on ? '+i' : '-i', file], { encoding: 'utf8' });
  if (r.status !== 0 && on) throw new Error(`chattr +i ${file}: ${r.stderr}`);
}
