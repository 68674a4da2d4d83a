import fs from 'node:fs';
import { UsageError } from '../errors.js';
import { FlagValueError } from '../options/values.js';

/** What the daemon announces to webhooks. */
export const WEBHOOK_EVENTS = [
  'file.quarantined',
  'file.failed',
  'ingestor.paused',
  'ingestor.resumed',
  'manifest.closed',
  'ingestor.started',
  'ingestor.stopped',
] as const;

export type WebhookEventType = (typeof WEBHOOK_EVENTS)[number];

/** One `--webhook`: where, which events, and the key its messages are signed with. */
export interface WebhookEndpoint {
  readonly url: string;
  /** The URL without its query or credentials: what logs and metrics name it by. */
  readonly label: string;
  /** The events it takes; all when undefined. */
  readonly events: ReadonlySet<WebhookEventType> | undefined;
  /** The HMAC-SHA256 key: the secret's bytes after `whsec_`, base64-decoded. */
  readonly key: Buffer;
}

const SECRET = /^whsec_([A-Za-z0-9+/]+={0,2})$/;

/**
 * A Standard Webhooks secret: `whsec_` and the base64 of 24 to 64 random bytes
 * (`echo "whsec_$(openssl rand -base64 32)"`). Returns the key's bytes.
 */
export function secretKey(secret: string, from: string): Buffer {
  const match = SECRET.exec(secret.trim());
  const key = match === null ? undefined : Buffer.from(match[1]!, 'base64');
  if (key === undefined || key.length < 24 || key.length > 64) {
    throw new UsageError(
      `${from} must be a Standard Webhooks secret: whsec_ and the base64 of 24 to 64 random bytes (echo "whsec_$(openssl rand -base64 32)")`,
    );
  }
  return key;
}

/** A secret read from a file: its first line. */
function secretFromFile(file: string, from: string): string {
  try {
    return fs.readFileSync(file, 'utf8').split('\n')[0] ?? '';
  } catch (error) {
    throw new UsageError(
      `${from} ${JSON.stringify(file)} cannot be read: ${(error as Error).message}`,
    );
  }
}

/** The events a `events=` list names (names or `file.*`-style globs). */
function eventsOf(list: string, spec: string): Set<WebhookEventType> {
  const events = new Set<WebhookEventType>();
  for (const word of list.split(',').filter((w) => w !== '')) {
    const matched = WEBHOOK_EVENTS.filter((e) =>
      word.endsWith('.*') ? e.startsWith(word.slice(0, -1)) : e === word,
    );
    if (matched.length === 0) {
      throw new UsageError(
        `--webhook ${JSON.stringify(spec)}: no event ${JSON.stringify(word)} (one of ${WEBHOOK_EVENTS.join(', ')}, or file.*, ingestor.*, manifest.*)`,
      );
    }
    for (const e of matched) events.add(e);
  }
  if (events.size === 0)
    throw new UsageError(`--webhook ${JSON.stringify(spec)}: events= names none`);
  return events;
}

/** `https://user:pw@host/path?token=x` as `https://host/path`. */
function labelOf(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}`;
}

/** The label of an endpoint's URL as it is stored (one no longer configured, too). */
export function endpointLabelOf(url: string): string {
  try {
    return labelOf(new URL(url));
  } catch {
    return '(not a URL)';
  }
}

/**
 * The `--webhook` flags: `URL [events=E,E...] [secret-file=PATH | secret-env=NAME]`, words
 * separated by spaces (a URL has none). The secret is the webhook's own, or `--webhook-secret`
 * (also `INGESTOR_WEBHOOK_SECRET`), or `--webhook-secret-file`; every webhook needs one.
 */
export function resolveWebhooks(
  specs: readonly string[],
  shared: { secret?: string | undefined; secretFile?: string | undefined },
  env: NodeJS.ProcessEnv = process.env,
): WebhookEndpoint[] {
  try {
    return webhooksOf(specs, shared, env);
  } catch (error) {
    // Named by the flag, so that a value from INGESTOR_WEBHOOK or the --config file is said so.
    const flag =
      error instanceof UsageError && !(error instanceof FlagValueError)
        ? /^--(webhook-secret-file|webhook-secret|webhook) (.*)$/s.exec(error.message)
        : null;
    throw flag === null ? error : new FlagValueError(flag[1]!, flag[2]!);
  }
}

function webhooksOf(
  specs: readonly string[],
  shared: { secret?: string | undefined; secretFile?: string | undefined },
  env: NodeJS.ProcessEnv,
): WebhookEndpoint[] {
  if (shared.secret !== undefined && shared.secretFile !== undefined) {
    throw new UsageError('--webhook-secret and --webhook-secret-file: give one, not both');
  }
  const sharedSecret =
    shared.secretFile === undefined
      ? shared.secret
      : secretFromFile(shared.secretFile, '--webhook-secret-file');
  const sharedKey =
    sharedSecret === undefined
      ? undefined
      : secretKey(
          sharedSecret,
          shared.secretFile === undefined ? '--webhook-secret' : '--webhook-secret-file',
        );
  const endpoints: WebhookEndpoint[] = [];
  for (const spec of specs) {
    const [address, ...words] = spec.trim().split(/\s+/);
    let url: URL;
    try {
      url = new URL(address ?? '');
    } catch {
      throw new UsageError(
        `--webhook ${JSON.stringify(spec)} must start with an http:// or https:// URL`,
      );
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw new UsageError(
        `--webhook ${JSON.stringify(spec)} must start with an http:// or https:// URL`,
      );
    }
    let events: Set<WebhookEventType> | undefined;
    let key = sharedKey;
    for (const word of words) {
      const eq = word.indexOf('=');
      const name = eq < 0 ? word : word.slice(0, eq);
      const value = eq < 0 ? '' : word.slice(eq + 1);
      if (name === 'events') events = eventsOf(value, spec);
      else if (name === 'secret-file') {
        key = secretKey(
          secretFromFile(value, `--webhook ${address}: secret-file=`),
          `--webhook ${address}: the secret in ${value}`,
        );
      } else if (name === 'secret-env') {
        const secret = env[value];
        if (secret === undefined || secret === '') {
          throw new UsageError(
            `--webhook ${address}: secret-env=${value} but $${value} is not set`,
          );
        }
        key = secretKey(secret, `--webhook ${address}: $${value}`);
      } else {
        throw new UsageError(
          `--webhook ${JSON.stringify(spec)}: unknown ${JSON.stringify(word)} (it takes events=, secret-file= or secret-env= after the URL)`,
        );
      }
    }
    if (key === undefined) {
      throw new UsageError(
        `--webhook ${address} has no secret: give --webhook-secret (or INGESTOR_WEBHOOK_SECRET), --webhook-secret-file, or secret-file= or secret-env= after its URL`,
      );
    }
    if (endpoints.some((e) => e.url === url.href)) {
      throw new UsageError(`--webhook ${address} is given twice`);
    }
    endpoints.push({ url: url.href, label: labelOf(url), events, key });
  }
  return endpoints;
}

/** Whether `endpoint` takes events of `type`. */
export function takes(endpoint: WebhookEndpoint, type: WebhookEventType): boolean {
  return endpoint.events === undefined || endpoint.events.has(type);
}
