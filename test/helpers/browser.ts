import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import type { ApiSetup } from './api.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const DRIVER = path.join(ROOT, 'test/browser/driver.mjs');

/** Debian's chromium, installed by the project's own script (Playwright's download cannot work). */
export function ensureChromium(): void {
  const r = spawnSync('bash', [path.join(ROOT, 'scripts/ensure-tools.sh'), 'chromium'], {
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`cannot install chromium: ${r.stderr}`);
}

/**
 * What to find on a page: CSS, or an ARIA role with its exact accessible name, a label, or a
 * text; optionally inside the first match of `within` (CSS), and the `nth` match.
 */
export interface Loc {
  css?: string;
  role?: string;
  name?: string;
  label?: string;
  text?: string;
  within?: string;
  nth?: number;
}

const asLoc = (l: Loc | string): Loc => (typeof l === 'string' ? { css: l } : l);

/** A violation axe-core found. */
export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  targets: string[];
}

/**
 * A real browser (test/browser/driver.mjs in a process of its own, which trusts the test CA),
 * driven one command at a time. `close` ends it; tests call it in `finally`.
 */
export class Browser {
  readonly #child: ChildProcess;
  readonly #waiting = new Map<
    number,
    { resolve: (v: unknown) => void; reject: (e: Error) => void }
  >();
  #next = 1;
  #stderr = '';

  private constructor(child: ChildProcess) {
    this.#child = child;
    child.stderr!.on('data', (chunk: Buffer) => {
      this.#stderr = (this.#stderr + chunk.toString()).slice(-4000);
    });
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      const message = JSON.parse(line) as {
        id: number;
        ok: boolean;
        value?: unknown;
        error?: string;
      };
      const waiter = this.#waiting.get(message.id);
      this.#waiting.delete(message.id);
      if (message.ok) waiter?.resolve(message.value);
      else waiter?.reject(new Error(message.error));
    });
    child.on('exit', (code) => {
      for (const waiter of this.#waiting.values()) {
        waiter.reject(new Error(`the browser driver exited (${code}): ${this.#stderr}`));
      }
      this.#waiting.clear();
    });
  }

  /** Starts chromium, trusting the CA of `s` for the daemon's server certificate. */
  static async start(s: ApiSetup): Promise<Browser> {
    const child = spawn(process.execPath, [DRIVER], {
      env: { ...process.env, NODE_EXTRA_CA_CERTS: path.join(s.certs, 'ca.crt') },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const browser = new Browser(child);
    await new Promise<void>((resolve, reject) => {
      browser.#waiting.set(0, { resolve: () => resolve(), reject });
    });
    return browser;
  }

  call<T>(op: string, args: Record<string, unknown> = {}): Promise<T> {
    const id = this.#next++;
    return new Promise<T>((resolve, reject) => {
      this.#waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.#child.stdin!.write(`${JSON.stringify({ id, op, ...args })}\n`);
    });
  }

  /** A page with `who`'s client certificate (`admin` or `user` of `s`), at `port`. */
  async open(
    s: ApiSetup,
    port: number,
    who: 'admin' | 'user',
    options: { colorScheme?: 'light' | 'dark'; viewport?: { width: number; height: number } } = {},
  ): Promise<Page> {
    const origin = `https://localhost:${port}`;
    const id = await this.call<number>('open', {
      origin,
      cert: path.join(s.certs, `${who}.crt`),
      key: path.join(s.certs, `${who}.key`),
      ...options,
    });
    return new Page(this, id, origin);
  }

  async close(): Promise<void> {
    this.#child.stdin!.end();
    await new Promise<void>((resolve) => {
      if (this.#child.exitCode !== null) resolve();
      else this.#child.once('exit', () => resolve());
      setTimeout(() => {
        this.#child.kill('SIGKILL');
        resolve();
      }, 10_000).unref();
    });
  }
}

/** One page of the dashboard, in a browser context of its own (its certificate, its scheme). */
export class Page {
  constructor(
    readonly browser: Browser,
    readonly id: number,
    /** `https://localhost:<port>`, the daemon's. */
    readonly origin: string,
  ) {}

  #call<T>(op: string, args: Record<string, unknown> = {}): Promise<T> {
    return this.browser.call<T>(op, { page: this.id, ...args });
  }

  /** Goes to the dashboard's `hash` (`#/failures`): the page at `/`, then the route. */
  goto(hash = '#/'): Promise<void> {
    return this.#call('goto', { url: `${this.origin}/${hash}` });
  }
  reload(): Promise<void> {
    return this.#call('reload');
  }
  click(loc: Loc | string): Promise<void> {
    return this.#call('click', { loc: asLoc(loc) });
  }
  fill(loc: Loc | string, value: string): Promise<void> {
    return this.#call('fill', { loc: asLoc(loc), value });
  }
  press(key: string): Promise<void> {
    return this.#call('press', { key });
  }
  text(loc: Loc | string): Promise<string | null> {
    return this.#call('text', { loc: asLoc(loc) });
  }
  texts(loc: Loc | string): Promise<string[]> {
    return this.#call('texts', { loc: asLoc(loc) });
  }
  count(loc: Loc | string): Promise<number> {
    return this.#call('count', { loc: asLoc(loc) });
  }
  attr(loc: Loc | string, name: string): Promise<string | null> {
    return this.#call('attr', { loc: asLoc(loc), name });
  }
  waitFor(
    loc: Loc | string,
    state: 'visible' | 'hidden' | 'attached' | 'detached' = 'visible',
    timeout = 30_000,
  ): Promise<void> {
    return this.#call('waitFor', { loc: asLoc(loc), state, timeout });
  }
  /** Runs `fn` (a function's source, `(arg) => ...`) in the page. */
  evaluate<T>(fn: string, arg?: unknown): Promise<T> {
    return this.#call('evaluate', { fn, arg });
  }
  /** Waits until `fn` (run in the page, polled) returns something truthy; returns it. */
  waitUntil<T>(fn: string, what: string, arg?: unknown, timeout = 30_000): Promise<T> {
    return this.#call('waitUntil', { fn, arg, timeout, what });
  }
  /** Waits until the text of `css` matches `pattern`; returns the text. */
  waitText(css: string, pattern: RegExp, timeout = 30_000): Promise<string> {
    return this.waitUntil<string>(
      `({ css, source, flags }) => {
        const text = document.querySelector(css)?.textContent ?? '';
        return new RegExp(source, flags).test(text) ? text : false;
      }`,
      `${css} to match ${pattern}`,
      { css, source: pattern.source, flags: pattern.flags },
      timeout,
    );
  }
  screenshot(file: string, fullPage = false): Promise<void> {
    return this.#call('screenshot', { path: file, fullPage });
  }
  axe(): Promise<AxeViolation[]> {
    return this.#call('axe');
  }
  /** The console's errors and the page's uncaught errors since the last call. */
  problems(): Promise<string[]> {
    return this.#call('problems');
  }
  focused(): Promise<{ tag: string; text: string; href: string | null } | null> {
    return this.#call('focused');
  }
  close(): Promise<void> {
    return this.#call('close');
  }
}
