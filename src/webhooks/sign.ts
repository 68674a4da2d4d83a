import { createHmac, randomBytes } from 'node:crypto';

/**
 * The Standard Webhooks signature (https://www.standardwebhooks.com): `v1,` and the base64 of
 * HMAC-SHA256 over `<webhook-id>.<webhook-timestamp>.<body>`, keyed with the secret's bytes.
 */
export function signature(key: Buffer, id: string, timestampSeconds: number, body: string): string {
  const mac = createHmac('sha256', key)
    .update(`${id}.${timestampSeconds}.${body}`)
    .digest('base64');
  return `v1,${mac}`;
}

/** The three headers of one attempt: signed at the attempt's time (receivers refuse old ones). */
export function webhookHeaders(
  key: Buffer,
  id: string,
  body: string,
  now: number,
): Record<string, string> {
  const timestamp = Math.floor(now / 1000);
  return {
    'content-type': 'application/json',
    'webhook-id': id,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': signature(key, id, timestamp, body),
  };
}

/** A message id: `msg_` and 16 random bytes in hex; the same on every attempt and endpoint. */
export function messageId(): string {
  return `msg_${randomBytes(16).toString('hex')}`;
}
