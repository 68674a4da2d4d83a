import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CERT_FILES, CLIENT_ROLES, makeCertificates } from '../api/make-certs.js';
import { EXIT, UsageError, errnoMessage, hasCode } from '../errors.js';
import { fsyncDir } from '../fsutil.js';
import type { CertsCommandOptions } from '../options/types.js';

/** The first of `files` that exists in `dir` (a dangling symlink counts), if any. */
function firstExisting(dir: string, files: readonly string[]): string | undefined {
  for (const file of files) {
    try {
      fs.lstatSync(path.join(dir, file));
      return file;
    } catch (error) {
      if (!hasCode(error, 'ENOENT')) throw error;
    }
  }
  return undefined;
}

const CANNOT_WRITE = ['EEXIST', 'ENOTDIR', 'EACCES', 'EPERM', 'EROFS', 'ENOSPC', 'EDQUOT'];

/**
 * Creates DIR if missing (0700: it will hold keys) and a private working directory in it, where
 * the files are made beside their final names (same filesystem, so that link(2) places them).
 * A UsageError naming DIR when it cannot be.
 */
function prepareDir(dir: string): string {
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    return fs.mkdtempSync(path.join(dir, '.ingestor-certs-'));
  } catch (error) {
    if (!hasCode(error, ...CANNOT_WRITE)) throw error;
    throw new UsageError(
      `certs: ${JSON.stringify(dir)} cannot be written: ${errnoMessage(error)}`,
      {
        cause: error,
      },
    );
  }
}

/**
 * Gives each made file its name in `dir` with link(2), which never replaces a name: a file
 * that appeared since the check is kept, and the ones already placed are taken back, so that
 * the directory ends with all of the set or none of it.
 */
function placeAll(from: string, dir: string): void {
  const placed: string[] = [];
  try {
    for (const file of CERT_FILES) {
      fs.linkSync(path.join(from, file), path.join(dir, file));
      placed.push(file);
    }
  } catch (error) {
    for (const file of placed) fs.rmSync(path.join(dir, file), { force: true });
    if (!hasCode(error, 'EEXIST')) throw error;
    throw new UsageError(
      `certs: ${JSON.stringify(dir)} gained a file meanwhile; nothing was written`,
      { cause: error },
    );
  }
}

function report(dir: string, serverNames: readonly string[], password: string): string {
  const at = (file: string) => path.join(dir, file);
  const clients = CLIENT_ROLES.map(
    (role) =>
      `  ${`${role}.crt ${role}.key ${role}.p12`.padEnd(30)}a client certificate with the ${role} role (OU=${role})`,
  );
  return [
    `certs: wrote ${CERT_FILES.length} files to ${dir} (keys, .p12 bundles and p12-password mode 0600):`,
    `  ${'ca.crt ca.key'.padEnd(30)}the CA that signs the client certificates (keep ca.key away from clients)`,
    `  ${'server.crt server.key'.padEnd(30)}the daemon's certificate, for ${serverNames.join(', ')}`,
    ...clients,
    `  ${'p12-password'.padEnd(30)}the password of the .p12 bundles (for browsers): ${password}`,
    'next: start the daemon with the control API, then ask it for its status:',
    `  ingestor run --input DIR --warehouse DIR --manifests DIR --api-port 8443 --tls-cert ${at('server.crt')} --tls-key ${at('server.key')} --tls-ca ${at('ca.crt')}`,
    `  curl --cacert ${at('ca.crt')} --cert ${at('admin.crt')} --key ${at('admin.key')} https://localhost:8443/v1/status`,
    `  or open the dashboard, https://localhost:8443/, in a browser that has ${at('admin.p12')} imported and trusts ${at('ca.crt')}`,
    '',
  ].join('\n');
}

/**
 * `ingestor certs DIR`: a CA, a server certificate and a client certificate per role, made with
 * openssl, for a first try of the control API. Never overwrites: if any of its files exists in
 * DIR, it says which and writes nothing.
 */
export async function certsCommand({ dir }: CertsCommandOptions): Promise<number> {
  const exists = fs.existsSync(dir);
  if (exists && !fs.statSync(dir).isDirectory()) {
    throw new UsageError(`certs: ${JSON.stringify(dir)} is not a directory`);
  }
  const taken = exists ? firstExisting(dir, CERT_FILES) : undefined;
  if (taken !== undefined) {
    throw new UsageError(
      `certs: ${JSON.stringify(path.join(dir, taken))} already exists; nothing was written (certs never overwrites: remove the old set or choose another directory)`,
    );
  }
  const work = prepareDir(dir);
  try {
    const made = await makeCertificates(work, os.hostname());
    placeAll(work, dir);
    await fsyncDir(dir);
    process.stdout.write(report(dir, made.serverNames, made.password));
    return EXIT.ok;
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}
