/**
 * The control API's options (`run --api-port` and the flags that go with it): whether the API is
 * on, where it listens, its TLS files (read and checked here) and its roles file. The ingest
 * options and the other commands are resolved in resolve.ts; `ctl`, the API's client, there too.
 */
import { readRoles } from '../api/roles.js';
import { loadTls } from '../api/tls.js';
import { UsageError } from '../errors.js';
import { commandDefaults } from './defaults.js';
import type { ApiOptions, FlagValues } from './types.js';
import { FlagValueError, fileFlag, parsePort, single } from './values.js';

/** The flags that mean something only with --api-port. */
const API_ONLY = ['api-host', 'tls-cert', 'tls-key', 'tls-ca', 'tls-crl', 'api-roles'];

/** The TLS files --api-port cannot do without. */
const TLS_REQUIRED = ['tls-cert', 'tls-key', 'tls-ca'];

/**
 * The control API, from --api-port and the flags that go with it: off without a port (and then
 * its other flags are refused, as --json without --dry-run is, rather than quietly ignored);
 * with one, the TLS files are required, read and checked here, and the roles file too.
 */
export function resolveApi(flags: FlagValues): ApiOptions | undefined {
  const port = parsePort('api-port', flags['api-port']);
  if (port === undefined) {
    const stray = API_ONLY.find((flag) => flags[flag] !== undefined);
    if (stray === undefined) return undefined;
    throw new FlagValueError(
      stray,
      'applies only with --api-port (the control API is off without it)',
    );
  }
  const host = single('api-host', flags['api-host']) ?? commandDefaults.apiHost;
  if (host === '') throw new FlagValueError('api-host', 'must be an address, got ""');
  const missing = TLS_REQUIRED.filter((flag) => flags[flag] === undefined);
  if (missing.length > 0) {
    throw new UsageError(
      `--api-port needs ${missing.map((flag) => `--${flag}`).join(', ')}: the control API takes mutual TLS only (\`ingestor certs DIR\` makes a set to try it)`,
    );
  }
  const crl = fileFlag('tls-crl', flags['tls-crl']);
  const tls = loadTls({
    cert: fileFlag('tls-cert', flags['tls-cert'])!,
    key: fileFlag('tls-key', flags['tls-key'])!,
    ca: fileFlag('tls-ca', flags['tls-ca'])!,
    ...(crl === undefined ? {} : { crl }),
  });
  const rolesFile = fileFlag('api-roles', flags['api-roles']);
  const roles = rolesFile === undefined ? undefined : readRoles(rolesFile);
  return Object.freeze({ host, port, tls, ...(roles === undefined ? {} : { roles }) });
}
