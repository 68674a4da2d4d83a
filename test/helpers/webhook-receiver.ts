import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

/** A message the receiver took: verified by the Standard Webhooks library, or why not. */
export interface Received {
  id: string;
  timestamp: string;
  type: string;
  data: Record<string, unknown>;
  /** Undefined when `Webhook.verify` accepted it. */
  verifyError: string | undefined;
  /** What the receiver answered. */
  status: number;
}

/**
 * A webhook receiver as a downstream team would write one: an HTTP server that verifies each
 * message with the `standardwebhooks` package (not our code) and answers `answer()`'s status.
 */
export class WebhookReceiver {
  readonly received: Received[] = [];
  /** The status to answer the next message with (200 unless a test says otherwise). */
  answer: (type: string) => number = () => 200;
  #server: http.Server | undefined;
  #port: number;
  readonly #verifier: Webhook;

  constructor(secret: string, port = 0) {
    this.#verifier = new Webhook(secret);
    this.#port = port;
  }

  get url(): string {
    return `http://127.0.0.1:${this.#port}/hooks/ingestor`;
  }

  /** Listens (again, on the same port after a `stop`). */
  async start(): Promise<void> {
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const headers = {
          'webhook-id': String(req.headers['webhook-id']),
          'webhook-timestamp': String(req.headers['webhook-timestamp']),
          'webhook-signature': String(req.headers['webhook-signature']),
        };
        let verifyError: string | undefined;
        try {
          this.#verifier.verify(body, headers);
        } catch (error) {
          verifyError = (error as Error).message;
        }
        const message = JSON.parse(body) as { type: string; data: Record<string, unknown> };
        const status = verifyError === undefined ? this.answer(message.type) : 400;
        this.received.push({
          id: headers['webhook-id'],
          timestamp: headers['webhook-timestamp'],
          type: message.type,
          data: message.data,
          verifyError,
          status,
        });
        res.writeHead(status).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(this.#port, '127.0.0.1', resolve));
    this.#port = (server.address() as AddressInfo).port;
    this.#server = server;
  }

  async stop(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    if (server === undefined) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** The messages of one type that were accepted (2xx). */
  accepted(type: string): Received[] {
    return this.received.filter((r) => r.type === type && r.status < 300);
  }
}
