import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { openssl } from '../helpers/api.js';
import { run } from '../helpers/ingestor.js';

const ROOT = path.resolve(import.meta.dirname, '../..');

const FILES = [
  'admin.crt',
  'admin.key',
  'admin.p12',
  'ca.crt',
  'ca.key',
  'p12-password',
  'server.crt',
  'server.key',
  'user.crt',
  'user.key',
  'user.p12',
];
const SECRET = /\.(key|p12)$|^p12-password$/;

function tmp(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'ingestor-certs-'));
}

beforeAll(() => {
  // pk12util: NSS's importer, what Chromium (and Firefox) on Linux import a .p12 with.
  const r = spawnSync('bash', [path.join(ROOT, 'scripts/ensure-tools.sh'), 'pk12util'], {
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`cannot install pk12util: ${r.stderr}`);
}, 300_000);

describe('ingestor certs DIR', () => {
  it('writes a CA, a server certificate and two client certificates, keys 0600', async () => {
    const dir = path.join(tmp(), 'tls');
    const r = await run(['certs', dir]);
    expect(r.code, r.stderr).toBe(0);
    expect(fs.readdirSync(dir).sort()).toEqual(FILES);
    for (const file of FILES) {
      const mode = fs.statSync(path.join(dir, file)).mode & 0o777;
      expect(`${file} ${mode.toString(8)}`).toBe(`${file} ${SECRET.test(file) ? '600' : '644'}`);
    }
    // It says what it wrote, the password, and what to run next.
    const password = fs.readFileSync(path.join(dir, 'p12-password'), 'utf8').trim();
    expect(r.stdout).toContain(`wrote 11 files to ${dir}`);
    expect(r.stdout).toContain(password);
    expect(r.stdout).toContain(`--api-port 8443 --tls-cert ${dir}/server.crt`);
    expect(r.stdout).toContain(`curl --cacert ${dir}/ca.crt --cert ${dir}/admin.crt`);

    for (const name of ['server', 'admin', 'user']) {
      expect(
        openssl(['verify', '-CAfile', path.join(dir, 'ca.crt'), path.join(dir, `${name}.crt`)]),
      ).toBe(`${path.join(dir, `${name}.crt`)}: OK\n`);
    }
    const server = openssl([
      'x509',
      '-in',
      path.join(dir, 'server.crt'),
      '-noout',
      '-ext',
      'subjectAltName,extendedKeyUsage',
    ]);
    expect(server).toContain('DNS:localhost');
    expect(server).toContain('IP Address:127.0.0.1');
    expect(server).toContain('IP Address:0:0:0:0:0:0:0:1');
    expect(server).toContain(`DNS:${os.hostname()}`);
    expect(server).toContain('TLS Web Server Authentication');
    const ca = openssl([
      'x509',
      '-in',
      path.join(dir, 'ca.crt'),
      '-noout',
      '-ext',
      'basicConstraints',
    ]);
    expect(ca).toContain('CA:TRUE');
    for (const role of ['admin', 'user']) {
      const subject = openssl(['x509', '-in', path.join(dir, `${role}.crt`), '-noout', '-subject']);
      expect(subject).toContain(`OU = ${role}`);
      const usage = openssl([
        'x509',
        '-in',
        path.join(dir, `${role}.crt`),
        '-noout',
        '-ext',
        'extendedKeyUsage',
      ]);
      expect(usage).toContain('TLS Web Client Authentication');
      // The bundle opens with the password it printed, holds the certificate, and uses the
      // modern algorithms (PBES2 with AES-256), not the legacy RC2 or 3DES.
      const p12 = path.join(dir, `${role}.p12`);
      const info = spawnSync(
        'openssl',
        ['pkcs12', '-in', p12, '-nokeys', '-info', '-passin', `pass:${password}`],
        { encoding: 'utf8' },
      );
      expect(info.status, info.stderr).toBe(0);
      expect(info.stdout).toContain(`OU = ${role}`);
      expect(info.stderr).toContain('PBES2, PBKDF2, AES-256-CBC');
      expect(info.stderr).not.toMatch(/RC2|3DES|TripleDES/);
      // NSS imports it: Chromium on Linux keeps client certificates in an NSS database.
      const db = tmp();
      const init = spawnSync('certutil', ['-N', '-d', `sql:${db}`, '--empty-password'], {
        encoding: 'utf8',
      });
      expect(init.status, init.stderr).toBe(0);
      const imported = spawnSync('pk12util', ['-i', p12, '-d', `sql:${db}`, '-W', password], {
        encoding: 'utf8',
      });
      expect(imported.status, imported.stdout + imported.stderr).toBe(0);
      const keys = spawnSync('certutil', ['-K', '-d', `sql:${db}`], { encoding: 'utf8' });
      expect(keys.stdout).toContain(`ingestor ${role}`);
    }
    // The key is the certificate's.
    const pub = (args: string[]) => openssl(args);
    expect(pub(['pkey', '-in', path.join(dir, 'admin.key'), '-pubout'])).toBe(
      pub(['x509', '-in', path.join(dir, 'admin.crt'), '-noout', '-pubkey']),
    );
  });

  it('never overwrites: one existing file and nothing is written', async () => {
    const dir = tmp();
    fs.writeFileSync(path.join(dir, 'user.p12'), 'mine');
    fs.writeFileSync(path.join(dir, 'notes.txt'), 'other files are fine');
    const r = await run(['certs', dir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      `ingestor: certs: "${dir}/user.p12" already exists; nothing was written (certs never overwrites: remove the old set or choose another directory)\n`,
    );
    expect(fs.readdirSync(dir).sort()).toEqual(['notes.txt', 'user.p12']);
    expect(fs.readFileSync(path.join(dir, 'user.p12'), 'utf8')).toBe('mine');
    // A dangling symlink is a name taken too.
    const other = tmp();
    fs.symlinkSync('/nonexistent', path.join(other, 'ca.key'));
    const again = await run(['certs', other]);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain(`"${other}/ca.key" already exists`);
    expect(fs.readdirSync(other)).toEqual(['ca.key']);
    // A second run over a full set refuses too.
    const full = tmp();
    expect((await run(['certs', full])).code).toBe(0);
    const before = fs.readFileSync(path.join(full, 'ca.key'));
    expect((await run(['certs', full])).code).toBe(2);
    expect(fs.readFileSync(path.join(full, 'ca.key'))).toEqual(before);
  });

  it('usage errors exit 2 with one line', async () => {
    const none = await run(['certs']);
    expect(none.code).toBe(2);
    expect(none.stderr).toBe('ingestor: certs needs a directory: ingestor certs DIR\n');
    const file = path.join(tmp(), 'a-file');
    fs.writeFileSync(file, '');
    const notDir = await run(['certs', file]);
    expect(notDir.code).toBe(2);
    expect(notDir.stderr.trim().split('\n')).toHaveLength(1);
    expect(notDir.stderr).toBe(`ingestor: certs: "${file}" is not a directory\n`);
    const unwritable = await run(['certs', path.join(file, 'sub')]);
    expect(unwritable.code).toBe(2);
    expect(unwritable.stderr).toBe(
      `ingestor: certs: "${file}/sub" cannot be written: ENOTDIR: not a directory\n`,
    );
    const extra = await run(['certs', tmp(), 'more']);
    expect(extra.code).toBe(2);
    const help = await run(['certs', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('directory to write the certificates to');
  });
});
