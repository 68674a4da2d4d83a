import crypto from 'node:crypto';
import type { ServerOptions } from 'node:https';
import tls from 'node:tls';
import { errnoMessage } from '../errors.js';
import { readFlagFile } from '../options/check-paths.js';
import { FlagValueError } from '../options/values.js';
import { API_LIMITS } from './limits.js';

/** Where the control API's TLS files are, as the flags name them (absolute). */
export interface TlsPaths {
  readonly cert: string;
  readonly key: string;
  readonly ca: string;
  readonly crl?: string;
}

/** The TLS files, read and checked at resolution: a bad one is a usage error, not a crash later. */
export interface TlsMaterial {
  readonly paths: TlsPaths;
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly ca: Buffer;
  readonly crl?: Buffer;
  /** When the server's certificate expires (ms), for the start-up line. */
  readonly certValidTo: number;
}

/**
 * TLS 1.2 suites: forward secrecy (ECDHE) and authenticated encryption (AES-GCM, ChaCha20)
 * only, for ECDSA and RSA server keys alike. No CBC, no static RSA key exchange, no SHA-1 MACs.
 */
const TLS12_CIPHERS = [
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
];

/**
 * TLS 1.3 suites (all AEAD with ephemeral keys). Named explicitly: a cipher list without any
 * makes Node.js cap the server at TLS 1.2 (lib/internal/tls/secure-context.js).
 */
const TLS13_SUITES = [
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'TLS_AES_128_GCM_SHA256',
];

export const API_CIPHERS = [...TLS13_SUITES, ...TLS12_CIPHERS].join(':');

function parseCertificate(flag: string, file: string, pem: Buffer): crypto.X509Certificate {
  try {
    return new crypto.X509Certificate(pem);
  } catch (error) {
    throw new FlagValueError(
      flag,
      `${JSON.stringify(file)} is not a PEM certificate (${errnoMessage(error)})`,
    );
  }
}

function parseKey(file: string, pem: Buffer): crypto.KeyObject {
  try {
    return crypto.createPrivateKey(pem);
  } catch (error) {
    throw new FlagValueError(
      'tls-key',
      `${JSON.stringify(file)} is not an unencrypted PEM private key (${errnoMessage(error)})`,
    );
  }
}

/** What OpenSSL makes of a whole set (a CRL that does not parse shows here). */
function checkTogether(material: Omit<TlsMaterial, 'certValidTo' | 'paths'>, paths: TlsPaths) {
  try {
    tls.createSecureContext({ ...material, ciphers: API_CIPHERS, minVersion: 'TLSv1.2' });
  } catch (error) {
    const flag = paths.crl === undefined ? 'tls-cert' : 'tls-crl';
    const file = paths.crl ?? paths.cert;
    throw new FlagValueError(
      flag,
      `${JSON.stringify(file)} cannot be used (${errnoMessage(error)})`,
    );
  }
}

/**
 * Reads the control API's certificate, key, client CA and CRL, and checks each: a PEM of the
 * right kind, the key the certificate's, the CA a CA. Each problem is a usage error naming the
 * flag (FlagValueError), found before the daemon starts.
 */
export function loadTls(paths: TlsPaths): TlsMaterial {
  const cert = readFlagFile('tls-cert', paths.cert);
  const key = readFlagFile('tls-key', paths.key);
  const ca = readFlagFile('tls-ca', paths.ca);
  const crl = paths.crl === undefined ? undefined : readFlagFile('tls-crl', paths.crl);
  const certificate = parseCertificate('tls-cert', paths.cert, cert);
  if (!certificate.checkPrivateKey(parseKey(paths.key, key))) {
    throw new FlagValueError(
      'tls-key',
      `${JSON.stringify(paths.key)} is not the key of --tls-cert ${JSON.stringify(paths.cert)}`,
    );
  }
  if (!parseCertificate('tls-ca', paths.ca, ca).ca) {
    throw new FlagValueError(
      'tls-ca',
      `${JSON.stringify(paths.ca)} is not a CA certificate (no basicConstraints CA:TRUE): give the CA that signs the client certificates`,
    );
  }
  const material = { cert, key, ca, ...(crl === undefined ? {} : { crl }) };
  checkTogether(material, paths);
  return Object.freeze({ paths, ...material, certValidTo: Date.parse(certificate.validTo) });
}

/**
 * The HTTPS server's TLS: every client must present a certificate that the CA signed, that has
 * not expired and is not in the CRL, or the handshake fails (before any HTTP is read).
 */
export function serverTlsOptions(material: TlsMaterial): ServerOptions {
  return {
    cert: material.cert,
    key: material.key,
    ca: material.ca,
    ...(material.crl === undefined ? {} : { crl: material.crl }),
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: 'TLSv1.2',
    ciphers: API_CIPHERS,
    honorCipherOrder: true,
    handshakeTimeout: API_LIMITS.handshakeTimeoutMs,
    maxHeaderSize: API_LIMITS.maxHeaderBytes,
  };
}
