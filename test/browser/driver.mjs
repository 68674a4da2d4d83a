/* global document */
// Drives Debian's chromium with Playwright for the dashboard's tests, one command at a time: a
// JSON line on stdin ({id, op, ...args}), a JSON line on stdout ({id, ok, value} or {id, ok:
// false, error}). A process of its own, because the test CA must be trusted through
// NODE_EXTRA_CA_CERTS (Playwright's client certificates go through a proxy in this process),
// which Node reads only when it starts. test/helpers/browser.ts is the test side.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import readline from 'node:readline';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
const AXE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox'],
});
const pages = new Map();
let nextPage = 1;

/** A locator from its description: css, a role and name, a label or a text, within css. */
function locate(page, l, all = false) {
  const base = l.within === undefined ? page : page.locator(l.within).first();
  let found;
  if (l.role !== undefined) {
    found = base.getByRole(l.role, l.name === undefined ? {} : { name: l.name, exact: true });
  } else if (l.label !== undefined) found = base.getByLabel(l.label, { exact: true });
  else if (l.text !== undefined) found = base.getByText(l.text);
  else found = base.locator(l.css);
  if (all) return found;
  return l.nth === undefined ? found.first() : found.nth(l.nth);
}

/** A function of the page from its source: `(arg) => ...`. */
const pageFunction = (source) => new Function('arg', `return (${source})(arg);`);

const ops = {
  async open({
    origin,
    cert,
    key,
    colorScheme = 'light',
    viewport = { width: 1280, height: 720 },
  }) {
    const context = await browser.newContext({
      clientCertificates: [{ origin, certPath: cert, keyPath: key }],
      colorScheme,
      viewport,
    });
    const page = await context.newPage();
    const problems = [];
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`console: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    const id = nextPage++;
    pages.set(id, { page, context, problems });
    return id;
  },
  goto: async ({ page, url }) => void (await page.goto(url)),
  reload: async ({ page }) => void (await page.reload()),
  click: async ({ page, loc }) => void (await locate(page, loc).click({ timeout: 15_000 })),
  fill: async ({ page, loc, value }) => void (await locate(page, loc).fill(value)),
  press: async ({ page, key }) => void (await page.keyboard.press(key)),
  text: async ({ page, loc }) => locate(page, loc).textContent({ timeout: 15_000 }),
  texts: async ({ page, loc }) => locate(page, loc, true).allTextContents(),
  count: async ({ page, loc }) => locate(page, loc, true).count(),
  attr: async ({ page, loc, name }) => locate(page, loc).getAttribute(name, { timeout: 15_000 }),
  waitFor: async ({ page, loc, state = 'visible', timeout = 30_000 }) =>
    void (await locate(page, loc).waitFor({ state, timeout })),
  evaluate: async ({ page, fn, arg }) => page.evaluate(pageFunction(fn), arg),
  // Polled from here: waitForFunction evaluates its predicate in a way the page's CSP refuses.
  async waitUntil({ page, fn, arg, timeout = 30_000, what }) {
    const until = Date.now() + timeout;
    let last;
    for (;;) {
      last = await page.evaluate(pageFunction(fn), arg);
      if (last) return last;
      if (Date.now() > until) {
        throw new Error(
          `timed out after ${timeout} ms waiting for ${what ?? fn} (last: ${JSON.stringify(last)})`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  },
  screenshot: async ({ page, path, fullPage = false }) =>
    void (await page.screenshot({ path, fullPage, animations: 'disabled' })),
  async axe({ page }) {
    await page.evaluate(AXE);
    const result = await page.evaluate(() =>
      globalThis.axe.run(document, { resultTypes: ['violations'] }),
    );
    return result.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      targets: v.nodes.slice(0, 5).map((n) => n.target.join(' ')),
    }));
  },
  focused: async ({ page }) =>
    page.evaluate(() => {
      const e = document.activeElement;
      return e === null
        ? null
        : {
            tag: e.tagName.toLowerCase(),
            text: (e.textContent ?? '').trim().slice(0, 80),
            href: e.getAttribute('href'),
          };
    }),
  problems: async ({ entry }) => entry.problems.splice(0),
  async close({ entry, id }) {
    await entry.context.close();
    pages.delete(id);
  },
};

const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
const reply = (message) => process.stdout.write(`${JSON.stringify(message)}\n`);
reply({ id: 0, ok: true, value: 'ready' });
for await (const line of lines) {
  const { id, op, page: pageId, ...args } = JSON.parse(line);
  try {
    const entry = pages.get(pageId);
    if (op !== 'open' && entry === undefined) throw new Error(`no page ${pageId}`);
    const value = await ops[op]({ ...args, page: entry?.page, entry, id: pageId });
    reply({ id, ok: true, value: value ?? null });
  } catch (error) {
    reply({
      id,
      ok: false,
      error: String(error?.message ?? error)
        .split('\n')
        .slice(0, 6)
        .join('\n'),
    });
  }
}
await browser.close();
