import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  apiArgs,
  clientOf,
  makeCerts,
  request,
  setUpApi,
  startWithApi,
  testCaOf,
} from '../helpers/api.js';
import type { ApiRequest } from '../helpers/api.js';
import { baseArgs, finished, makeDirs, output, run, waitFor } from '../helpers/ingestor.js';

/** The request's failure: it must fail, and never with an HTTP answer. */
async function refusal(r: ApiRequest): Promise<NodeJS.ErrnoException> {
  try {
    const answer = await request(r);
    throw new Error(`expected a refused handshake, got HTTP ${answer.status}`);
  } catch (error) {
    if (error instanceof Error && error.message.startsWith('expected a refused')) throw error;
    return error as NodeJS.ErrnoException;
  }
}

/** The reasons the daemon logged (at debug) for the handshakes it refused. */
function refusedReasons(stdout: string): string[] {
  return stdout
    .split('\n')
    .filter((l) => l.includes('"event":"api-refused"'))
    .map((l) => String((JSON.parse(l) as { reason: unknown }).reason));
}

describe('the control API refuses at the handshake', () => {
  it('no certificate, another CA, expired, revoked (CRL), TLS 1.1, weak ciphers', async () => {
    const { d, certs, ca, admin } = setUpApi();
    const testCa = testCaOf(d, certs);
    const other = path.join(d.root, 'other-tls');
    makeCerts(other); // another CA, with its own "admin"
    const stranger = clientOf(other, 'admin');
    const expired = testCa.issue('expired', '/O=Ingestor/OU=admin/CN=expired', { expired: true });
    const revoked = testCa.issue('revoked', '/O=Ingestor/OU=admin/CN=revoked');
    const fine = testCa.issue('fine', '/O=Ingestor/OU=admin/CN=fine');
    testCa.revoke(revoked);
    const crl = testCa.crl(path.join(d.root, 'crl.pem'));

    const { daemon, port } = await startWithApi(d, certs, [
      '--tls-crl',
      crl,
      '--log-level',
      'debug',
    ]);
    const base = { port, ca, path: '/v1/status' };

    const none = await refusal(base);
    expect(none.code).toBe('ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED');
    // A certificate that fails verification passes OpenSSL's handshake and is dropped by
    // Node.js right after it, before any HTTP: the client sees the connection reset.
    for (const client of [stranger, expired, revoked]) {
      const e = await refusal({ ...base, client });
      expect(['ECONNRESET', 'EPIPE'], `${client.certFile}: ${e.code} ${e.message}`).toContain(
        e.code,
      );
    }
    const old = await refusal({
      ...base,
      client: admin,
      minVersion: 'TLSv1',
      maxVersion: 'TLSv1.1',
      ciphers: 'DEFAULT@SECLEVEL=0', // so that the client offers it at all
    });
    expect(old.message).toContain('alert protocol version');
    for (const cipher of [
      'ECDHE-ECDSA-AES128-SHA256',
      'ECDHE-ECDSA-AES256-SHA',
      'AES128-GCM-SHA256',
    ]) {
      const weak = await refusal({
        ...base,
        client: admin,
        maxVersion: 'TLSv1.2',
        ciphers: cipher,
      });
      expect(weak.message, cipher).toContain('alert handshake failure');
    }

    // The same CA's good certificates pass with the CRL in place, on TLS 1.3 and on TLS 1.2
    // with ECDHE and AEAD.
    const ok13 = await request({ ...base, client: fine });
    expect([ok13.status, ok13.protocol]).toEqual([200, 'TLSv1.3']);
    for (const cipher of ['ECDHE-ECDSA-AES256-GCM-SHA384', 'ECDHE-ECDSA-CHACHA20-POLY1305']) {
      const ok12 = await request({
        ...base,
        client: admin,
        maxVersion: 'TLSv1.2',
        ciphers: cipher,
      });
      expect([ok12.status, ok12.protocol], cipher).toEqual([200, 'TLSv1.2']);
    }

    // The daemon said why, at debug, for each.
    await waitFor(() => refusedReasons(output(daemon).stdout).length >= 8, 5_000, 'the log');
    const reasons = refusedReasons(output(daemon).stdout);
    expect(reasons).toEqual(
      expect.arrayContaining([
        'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE',
        'UNABLE_TO_VERIFY_LEAF_SIGNATURE', // another CA's
        'CERT_HAS_EXPIRED',
        'CERT_REVOKED',
        'ERR_SSL_UNSUPPORTED_PROTOCOL',
        'ERR_SSL_NO_SHARED_CIPHER',
      ]),
    );
    daemon.kill('SIGTERM');
    expect((await finished(daemon)).code).toBe(0);
  });

  it('stops promptly with a client holding a connection open, and frees the port', async () => {
    const { d, certs, ca, admin } = setUpApi();
    const { daemon, port } = await startWithApi(d, certs);
    const https = await import('node:https');
    const agent = new https.Agent({ keepAlive: true, cert: admin.cert, key: admin.key, ca });
    await new Promise<void>((resolve, reject) => {
      https
        .get(
          { host: '127.0.0.1', port, path: '/v1/status', agent, servername: 'localhost' },
          (res) => {
            res.resume();
            res.on('end', () => resolve());
          },
        )
        .on('error', reject);
    });
    const t0 = Date.now();
    daemon.kill('SIGTERM');
    const r = await finished(daemon, 10_000);
    agent.destroy();
    expect(r.code, r.stderr).toBe(0);
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(r.stdout).toContain('"event":"summary"');
  });
});

describe('the control API flags', () => {
  const usage = async (args: string[], env: Record<string, string> = {}) => {
    const r = await run(args, { env });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
    return r.stderr.trim();
  };

  it('are checked before anything starts, each problem named in one line', async () => {
    const { d, certs } = setUpApi();
    const f = (name: string) => path.join(certs, name);
    const args = baseArgs(d);
    expect(await usage([...args, '--api-port', '8443'])).toBe(
      'ingestor: --api-port needs --tls-cert, --tls-key, --tls-ca: the control API takes mutual TLS only (`ingestor certs DIR` makes a set to try it)',
    );
    expect(await usage([...args, '--api-port', '8443', '--tls-cert', f('server.crt')])).toContain(
      'needs --tls-key, --tls-ca:',
    );
    expect(await usage([...args, '--api-port', '70000', ...apiArgs(certs).slice(2)])).toBe(
      'ingestor: --api-port must be a port number (0-65535), got "70000"',
    );
    expect(await usage([...args, '--api-port', 'abc', ...apiArgs(certs).slice(2)])).toContain(
      '--api-port must be a port number',
    );
    expect(await usage([...args, '--tls-cert', f('server.crt')])).toBe(
      'ingestor: --tls-cert applies only with --api-port (the control API is off without it)',
    );
    expect(await usage(args, { INGESTOR_TLS_CA: f('ca.crt') })).toBe(
      'ingestor: INGESTOR_TLS_CA applies only with --api-port (the control API is off without it)',
    );
    const withApi = (cert: string, key: string, ca: string, ...extra: string[]) => [
      ...args,
      '--api-port',
      '0',
      '--tls-cert',
      cert,
      '--tls-key',
      key,
      '--tls-ca',
      ca,
      ...extra,
    ];
    expect(await usage(withApi(f('missing.crt'), f('server.key'), f('ca.crt')))).toBe(
      `ingestor: --tls-cert "${f('missing.crt')}" does not exist`,
    );
    expect(await usage(withApi(f('server.crt'), f('server.key'), certs))).toBe(
      `ingestor: --tls-ca "${certs}" cannot be read: EISDIR: illegal operation on a directory`,
    );
    expect(await usage(withApi(f('server.key'), f('server.key'), f('ca.crt')))).toMatch(
      new RegExp(`^ingestor: --tls-cert "${f('server.key')}" is not a PEM certificate \\(`),
    );
    expect(await usage(withApi(f('server.crt'), f('ca.crt'), f('ca.crt')))).toMatch(
      /^ingestor: --tls-key ".*ca.crt" is not an unencrypted PEM private key/,
    );
    expect(await usage(withApi(f('server.crt'), f('admin.key'), f('ca.crt')))).toBe(
      `ingestor: --tls-key "${f('admin.key')}" is not the key of --tls-cert "${f('server.crt')}"`,
    );
    expect(await usage(withApi(f('server.crt'), f('server.key'), f('user.crt')))).toContain(
      `--tls-ca "${f('user.crt')}" is not a CA certificate`,
    );
    expect(
      await usage(withApi(f('server.crt'), f('server.key'), f('ca.crt'), '--tls-crl', f('ca.crt'))),
    ).toMatch(/^ingestor: --tls-crl ".*ca.crt" cannot be used \(/);
    const roles = path.join(d.root, 'roles.json');
    fs.writeFileSync(roles, '{"CN=alice": "root"}');
    expect(
      await usage(withApi(f('server.crt'), f('server.key'), f('ca.crt'), '--api-roles', roles)),
    ).toBe(
      `ingestor: --api-roles "${roles}" gives "CN=alice" the role "root": roles are admin, user, none`,
    );
    fs.writeFileSync(roles, '[]');
    expect(
      await usage(withApi(f('server.crt'), f('server.key'), f('ca.crt'), '--api-roles', roles)),
    ).toContain('must hold a JSON object');
    // Nothing was created by any of them.
    expect(fs.existsSync(d.warehouse)).toBe(false);
    expect(fs.existsSync(d.state)).toBe(false);
  });

  it('a port in use is one line and exit 2; the state is left closed', async () => {
    const { d, certs } = setUpApi();
    const first = await startWithApi(d, certs);
    const d2 = makeDirs();
    const r = await run([
      ...baseArgs(d2),
      ...apiArgs(certs).slice(2),
      '--api-port',
      String(first.port),
    ]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(`cannot serve the control API on 127.0.0.1:${first.port}: `);
    expect(r.stderr).toContain('EADDRINUSE');
    first.daemon.kill('SIGTERM');
    expect((await finished(first.daemon)).code).toBe(0);
    // The second daemon let go of its state: a third can take it.
    const again = await startWithApi(d2, certs);
    again.daemon.kill('SIGTERM');
    expect((await finished(again.daemon)).code).toBe(0);
  });
});
