import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { IngestError, errnoCode } from '../errors.js';

const run = promisify(execFile);

/** The client certificates `ingestor certs` makes: one per role, named after it. */
export const CLIENT_ROLES = ['admin', 'user'] as const;

/** Every file `ingestor certs` writes, in the order its report names them. */
export const CERT_FILES: readonly string[] = [
  'ca.crt',
  'ca.key',
  'server.crt',
  'server.key',
  ...CLIENT_ROLES.flatMap((role) => [`${role}.crt`, `${role}.key`, `${role}.p12`]),
  'p12-password',
];

/** Days each certificate is valid: the CA ten years; the others 825 days, as Apple allows. */
const CA_DAYS = 3650;
const LEAF_DAYS = 825;

/**
 * Extensions for each kind of certificate. The config is written whole, so that the machine's
 * openssl.cnf (whose defaults differ between distributions) adds nothing.
 */
function opensslConfig(serverNames: readonly string[]): string {
  const san = serverNames
    .map((name) => (/^[0-9.]+$|:/.test(name) ? `IP:${name}` : `DNS:${name}`))
    .join(', ');
  return [
    '[req]',
    'distinguished_name = dn',
    '[dn]',
    '[ca]',
    'basicConstraints = critical, CA:TRUE, pathlen:0',
    'keyUsage = critical, keyCertSign, cRLSign',
    'subjectKeyIdentifier = hash',
    '[server]',
    'basicConstraints = critical, CA:FALSE',
    'keyUsage = critical, digitalSignature',
    'extendedKeyUsage = serverAuth',
    `subjectAltName = ${san}`,
    'subjectKeyIdentifier = hash',
    'authorityKeyIdentifier = keyid',
    '[client]',
    'basicConstraints = critical, CA:FALSE',
    'keyUsage = critical, digitalSignature',
    'extendedKeyUsage = clientAuth',
    'subjectKeyIdentifier = hash',
    'authorityKeyIdentifier = keyid',
    '',
  ].join('\n');
}

/** Runs openssl (no shell) in `dir`; a failure names the step and what openssl said. */
async function openssl(dir: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<void> {
  try {
    await run('openssl', args, { cwd: dir, env: { ...process.env, ...env } });
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') {
      throw new IngestError(
        'INGEST_ERR_OUTPUT',
        'ingestor certs needs the openssl command (apt-get install openssl), and it is not on PATH',
        { cause: error },
      );
    }
    const said = String((error as { stderr?: unknown }).stderr ?? '')
      .trim()
      .split('\n')[0];
    throw new IngestError('INGEST_ERR_OUTPUT', `openssl ${args[0]} failed: ${said}`, {
      cause: error,
    });
  }
}

/** A P-256 key: small, fast, and taken by every browser and TLS library in use. */
async function newKey(dir: string, name: string): Promise<void> {
  // prettier-ignore
  await openssl(dir, [
    'genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256',
    '-out', `${name}.key`,
  ]);
  await fs.promises.chmod(path.join(dir, `${name}.key`), 0o600);
}

/** A random serial: positive, 159 bits, so that two CAs' certificates never share one. */
function serial(): string {
  const bytes = crypto.randomBytes(20);
  bytes[0]! &= 0x7f;
  return `0x${bytes.toString('hex')}`;
}

/** A certificate signed by the CA, with the extensions of `section`. */
async function signed(dir: string, name: string, subject: string, section: string) {
  await newKey(dir, name);
  // prettier-ignore
  await openssl(dir, [
    'req', '-new', '-key', `${name}.key`, '-subj', subject, '-config', 'openssl.cnf',
    '-out', `${name}.csr`,
  ]);
  // prettier-ignore
  await openssl(dir, [
    'x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key',
    '-set_serial', serial(), '-days', String(LEAF_DAYS), '-sha256',
    '-extfile', 'openssl.cnf', '-extensions', section, '-out', `${name}.crt`,
  ]);
  await fs.promises.rm(path.join(dir, `${name}.csr`));
}

/**
 * A browser's bundle of a client certificate, its key and the CA: AES-256-CBC with PBKDF2 and
 * an HMAC-SHA256 MAC (OpenSSL 3's own defaults, written out so that a distribution's config
 * cannot change them). NSS (Chromium and Firefox on Linux) and Windows take these; macOS before
 * 14 only takes the legacy algorithms (`openssl pkcs12 -export -legacy`).
 */
async function bundle(dir: string, role: string, password: string): Promise<void> {
  // prettier-ignore
  const args = [
    'pkcs12', '-export', '-in', `${role}.crt`, '-inkey', `${role}.key`, '-certfile', 'ca.crt',
    '-name', `ingestor ${role}`, '-keypbe', 'AES-256-CBC', '-certpbe', 'AES-256-CBC',
    '-macalg', 'sha256', '-passout', 'env:CERTS_P12_PASSWORD', '-out', `${role}.p12`,
  ];
  // From the environment: an argument would show the password to `ps`.
  await openssl(dir, args, { CERTS_P12_PASSWORD: password });
  await fs.promises.chmod(path.join(dir, `${role}.p12`), 0o600);
}

/** A subject's value as `openssl req -subj` reads it: `/`, `+`, `=` and `\` escaped. */
function subjectValue(value: string): string {
  return value.replace(/[/+=\\]/g, (c) => `\\${c}`);
}

export interface MadeCertificates {
  /** The names the server certificate is valid for. */
  serverNames: string[];
  /** The password of the .p12 bundles (also in `p12-password`). */
  password: string;
}

/**
 * Writes CERT_FILES into `dir`, an empty directory of the caller's: a CA, a server certificate
 * for `serverNames`, a client certificate per role (OU=admin, OU=user), and a .p12 bundle of
 * each for browsers. Keys, bundles and the password are mode 0600.
 */
export async function makeCertificates(dir: string, host: string): Promise<MadeCertificates> {
  // A host name that is not a plain DNS name (or is localhost) adds nothing to the SAN.
  const serverNames = ['localhost', '127.0.0.1', '::1'];
  if (/^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(host) && host !== 'localhost') {
    serverNames.push(host);
  }
  await fs.promises.writeFile(path.join(dir, 'openssl.cnf'), opensslConfig(serverNames));
  await newKey(dir, 'ca');
  // prettier-ignore
  await openssl(dir, [
    'req', '-new', '-x509', '-key', 'ca.key', '-sha256', '-days', String(CA_DAYS),
    '-subj', `/O=Ingestor/CN=${subjectValue(`Ingestor CA ${host}`)}`,
    '-config', 'openssl.cnf', '-extensions', 'ca', '-set_serial', serial(),
    '-out', 'ca.crt',
  ]);
  await signed(dir, 'server', `/O=Ingestor/CN=${subjectValue(host)}`, 'server');
  const password = crypto.randomBytes(12).toString('base64url');
  await fs.promises.writeFile(path.join(dir, 'p12-password'), `${password}\n`, { mode: 0o600 });
  for (const role of CLIENT_ROLES) {
    await signed(dir, role, `/O=Ingestor/OU=${role}/CN=${role}`, 'client');
    await bundle(dir, role, password);
  }
  await fs.promises.rm(path.join(dir, 'openssl.cnf'));
  return { serverNames, password };
}
