import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { setUpApi, startWithApi } from '../helpers/api.js';
import { finished } from '../helpers/ingestor.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const FETCH_PAGE = path.join(ROOT, 'test/browser/fetch-page.mjs');

beforeAll(() => {
  // Debian's chromium: Playwright's own browser download cannot work here.
  const r = spawnSync('bash', [path.join(ROOT, 'scripts/ensure-tools.sh'), 'chromium'], {
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`cannot install chromium: ${r.stderr}`);
}, 600_000);

/** A page as the browser got it, through test/browser/fetch-page.mjs. */
function browse(url: string, ca: string, client?: [string, string]) {
  const r = spawnSync(process.execPath, [FETCH_PAGE, url, ...(client ?? [])], {
    encoding: 'utf8',
    env: { ...process.env, NODE_EXTRA_CA_CERTS: ca },
    timeout: 60_000,
  });
  if (r.status !== 0) throw new Error(`fetch-page failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as {
    status?: number;
    body?: string;
    error?: string;
  };
}

describe('a real browser', () => {
  it("reaches the control API with a client certificate (Playwright's clientCertificates, Debian's chromium)", async () => {
    const s = setUpApi();
    const { daemon, port } = await startWithApi(s.d, s.certs);
    const url = `https://127.0.0.1:${port}/v1/status`;
    const ca = path.join(s.certs, 'ca.crt');
    const cert = (name: string): [string, string] => [
      path.join(s.certs, `${name}.crt`),
      path.join(s.certs, `${name}.key`),
    ];
    const user = browse(url, ca, cert('user'));
    expect(user.status).toBe(200);
    expect(JSON.parse(user.body!)).toMatchObject({ state: 'running' });
    // Without a certificate the browser gets nothing: the handshake refuses it.
    expect(browse(url, ca).error).toMatch(/net::ERR_/);
    daemon.kill('SIGTERM');
    expect((await finished(daemon)).code).toBe(0);
  });
});
