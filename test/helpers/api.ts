import { spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import type { SecureVersion, TLSSocket } from 'node:tls';
import { BIN, baseArgs, makeDirs, output, start, waitFor } from './ingestor.js';
import type { Dirs, StartOptions } from './ingestor.js';

/** Runs openssl (no shell); throws with what it said when it fails. */
export function openssl(args: string[], cwd?: string): string {
  const r = spawnSync('openssl', args, { encoding: 'utf8', ...(cwd === undefined ? {} : { cwd }) });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** `ingestor certs DIR`, which must succeed. */
export function makeCerts(dir: string): void {
  const r = spawnSync(process.execPath, [BIN, 'certs', dir], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ingestor certs failed (${r.status}): ${r.stderr}`);
}

/**
 * More certificates from the CA that `ingestor certs` made, through `openssl ca` (which keeps
 * an index, so that it can revoke and write a CRL): the bad cases the tests need.
 */
export class TestCa {
  readonly dir: string;
  readonly #config: string;

  constructor(certs: string, dir: string) {
    this.dir = dir;
    fs.mkdirSync(path.join(dir, 'issued'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'index.txt'), '');
    fs.writeFileSync(path.join(dir, 'serial'), '1000\n');
    this.#config = path.join(dir, 'ca.cnf');
    fs.writeFileSync(
      this.#config,
      [
        '[ca]',
        'default_ca = test',
        '[test]',
        `database = ${dir}/index.txt`,
        `new_certs_dir = ${dir}/issued`,
        `serial = ${dir}/serial`,
        `certificate = ${certs}/ca.crt`,
        `private_key = ${certs}/ca.key`,
        'default_md = sha256',
        'default_days = 30',
        'default_crl_days = 30',
        'policy = any',
        'unique_subject = no',
        'x509_extensions = client',
        '[any]',
        'organizationName = optional',
        'organizationalUnitName = optional',
        'commonName = supplied',
        '[client]',
        'basicConstraints = critical, CA:FALSE',
        'keyUsage = critical, digitalSignature',
        'extendedKeyUsage = clientAuth',
        '[req]',
        'distinguished_name = dn',
        '[dn]',
        '',
      ].join('\n'),
    );
  }

  /** A client certificate `<name>.crt`/`.key` for `subject`; `expired`: valid in 2020 only. */
  issue(name: string, subject: string, options: { expired?: boolean } = {}): Client {
    const key = path.join(this.dir, `${name}.key`);
    const cert = path.join(this.dir, `${name}.crt`);
    const csr = path.join(this.dir, `${name}.csr`);
    openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', key]);
    openssl(['req', '-new', '-key', key, '-subj', subject, '-config', this.#config, '-out', csr]);
    const dates =
      options.expired === true
        ? ['-startdate', '20200101000000Z', '-enddate', '20200201000000Z']
        : [];
    openssl([
      'ca',
      '-batch',
      '-notext',
      '-config',
      this.#config,
      '-in',
      csr,
      '-out',
      cert,
      ...dates,
    ]);
    return clientFiles(cert, key);
  }

  revoke(client: Client): void {
    openssl(['ca', '-config', this.#config, '-revoke', client.certFile]);
  }

  /** A CRL of what was revoked so far. */
  crl(file: string): string {
    openssl(['ca', '-gencrl', '-config', this.#config, '-out', file]);
    return file;
  }
}

/** A client's certificate and key, as files and as what https takes. */
export interface Client {
  certFile: string;
  keyFile: string;
  cert: Buffer;
  key: Buffer;
}

export function clientFiles(certFile: string, keyFile: string): Client {
  return { certFile, keyFile, cert: fs.readFileSync(certFile), key: fs.readFileSync(keyFile) };
}

/** The client `<name>.crt`/`.key` that `ingestor certs` wrote to `certs` (admin, user). */
export function clientOf(certs: string, name: string): Client {
  return clientFiles(path.join(certs, `${name}.crt`), path.join(certs, `${name}.key`));
}

/** A test tree with certificates, and the admin's and the user's clients. */
export interface ApiSetup {
  d: Dirs;
  /** The directory `ingestor certs` wrote, `tls/` in the tree. */
  certs: string;
  /** Its CA, what the server's certificate is checked against. */
  ca: Buffer;
  admin: Client;
  user: Client;
}

/** A fresh tree and a set of certificates from `ingestor certs` in it. */
export function setUpApi(options: { tmpfsWarehouse?: boolean } = {}): ApiSetup {
  const d = makeDirs(options);
  const certs = path.join(d.root, 'tls');
  makeCerts(certs);
  return {
    d,
    certs,
    ca: fs.readFileSync(path.join(certs, 'ca.crt')),
    admin: clientOf(certs, 'admin'),
    user: clientOf(certs, 'user'),
  };
}

/** A CA to make more certificates with, in `test-ca/` of the tree: the one `certs` holds. */
export function testCaOf(d: Dirs, certs: string): TestCa {
  return new TestCa(certs, path.join(d.root, 'test-ca'));
}

/** The flags of `ingestor ctl` that reach a daemon on `port` as `role` (admin or user). */
export function ctlArgs(certs: string, port: number, role = 'admin'): string[] {
  return [
    '--server',
    `https://localhost:${port}`,
    '--cert',
    path.join(certs, `${role}.crt`),
    '--key',
    path.join(certs, `${role}.key`),
    '--ca',
    path.join(certs, 'ca.crt'),
  ];
}

/** The flags that start the control API with the certificates in `certs`. */
export function apiArgs(certs: string, port = 0): string[] {
  return [
    '--api-port',
    String(port),
    '--tls-cert',
    path.join(certs, 'server.crt'),
    '--tls-key',
    path.join(certs, 'server.key'),
    '--tls-ca',
    path.join(certs, 'ca.crt'),
  ];
}

/** The port the daemon's control API listens on, once it has logged it. */
export async function apiPort(daemon: ChildProcess): Promise<number> {
  const line = () =>
    output(daemon)
      .stdout.split('\n')
      .find((l) => l.includes('"event":"api-listening"'));
  await waitFor(() => line() !== undefined, 15_000, 'the control API');
  return JSON.parse(line()!).port as number;
}

/**
 * A daemon with the control API on `port` (a free one unless given) and short windows (`stabilitySeconds`: 0.3 unless
 * given), once it has started.
 */
export async function startWithApi(
  d: Dirs,
  certs: string,
  extra: string[] = [],
  {
    stabilitySeconds = '0.3',
    port = 0,
    ...options
  }: StartOptions & { stabilitySeconds?: string; port?: number } = {},
): Promise<{ daemon: ChildProcess; port: number }> {
  const daemon = start(
    [
      ...baseArgs(d),
      '--stability-seconds',
      stabilitySeconds,
      '--scan-interval',
      '1',
      ...apiArgs(certs, port),
      ...extra,
    ],
    options,
  );
  await waitFor(
    () => output(daemon).stdout.includes('ingestor started') || daemon.exitCode !== null,
    15_000,
    'start',
  );
  if (daemon.exitCode !== null) {
    throw new Error(`the daemon exited ${daemon.exitCode}: ${output(daemon).stderr}`);
  }
  return { daemon, port: await apiPort(daemon) };
}

export interface ApiRequest {
  port: number;
  path: string;
  /** The CA the server's certificate is checked against. */
  ca: Buffer;
  /** The client's certificate; none: the request presents none. */
  client?: Client;
  method?: string;
  body?: Buffer | string;
  /** Ask before sending the body (`Expect: 100-continue`), and send it only when told to. */
  expectContinue?: boolean;
  headers?: Record<string, string>;
  minVersion?: SecureVersion;
  maxVersion?: SecureVersion;
  ciphers?: string;
}

export interface ApiResponse {
  /** The path asked for. */
  path: string;
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
  protocol: string | null;
}

/** One request on a connection of its own; rejects when the connection fails (a refusal). */
export function request(r: ApiRequest): Promise<ApiResponse> {
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = https.request(
      {
        host: '127.0.0.1',
        port: r.port,
        path: r.path,
        method: r.method ?? 'GET',
        ca: r.ca,
        servername: 'localhost',
        agent: false,
        headers: {
          // Its length up front, as curl sends it: with Expect, Node would otherwise send the
          // headers before it knows the length, and the body chunked.
          ...(r.body === undefined || r.headers?.['transfer-encoding'] !== undefined
            ? {}
            : { 'content-length': String(Buffer.byteLength(r.body)) }),
          ...r.headers,
          ...(r.expectContinue === true ? { expect: '100-continue' } : {}),
        },
        ...(r.client === undefined ? {} : { cert: r.client.cert, key: r.client.key }),
        ...(r.minVersion === undefined ? {} : { minVersion: r.minVersion }),
        ...(r.maxVersion === undefined ? {} : { maxVersion: r.maxVersion }),
        ...(r.ciphers === undefined ? {} : { ciphers: r.ciphers }),
      },
      (res) => {
        answered = true;
        const chunks: Buffer[] = [];
        const protocol = (res.socket as TLSSocket).getProtocol();
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('aborted', () => reject(new Error(`${r.path}: the answer was cut short`)));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown = text;
          if (String(res.headers['content-type'] ?? '').includes('json')) body = JSON.parse(text);
          resolve({
            path: r.path,
            status: res.statusCode ?? 0,
            headers: res.headers,
            body,
            protocol,
          });
        });
      },
    );
    req.on('error', (error: NodeJS.ErrnoException) => {
      // Once the answer has come, a connection the server closes behind it (413, 431) may fail
      // the request's own writes: the answer is what counts, and its body reports its errors.
      if (answered) return;
      error.message = `${r.method ?? 'GET'} ${r.path.slice(0, 80)}: ${error.message}`;
      reject(error);
    });
    if (r.expectContinue === true) req.on('continue', () => req.end(r.body));
    else req.end(r.body);
  });
}
