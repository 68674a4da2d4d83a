import https from 'node:https';
import type { IncomingMessage } from 'node:http';
import tls from 'node:tls';
import type { Client } from './api.js';

/** One event as a test reads it off the wire. */
export interface Sse {
  id: string | undefined;
  type: string;
  data: Record<string, unknown>;
}

/** A stream a test follows: what came so far, and ways to wait and to end it. */
export interface Stream {
  status: number;
  events: Sse[];
  /** Comment lines (heartbeats) seen. */
  comments: number;
  ended: boolean;
  close(): void;
  until(check: (events: Sse[]) => boolean, timeoutMs?: number, what?: string): Promise<void>;
  body: string;
}

/** Parses `text/event-stream` blocks by hand (not with the code under test). */
function parseBlocks(text: string, into: Sse[]): { rest: string; comments: number } {
  const blocks = text.split('\n\n');
  const rest = blocks.pop()!;
  let comments = 0;
  for (const block of blocks) {
    const event: Sse = { id: undefined, type: 'message', data: {} };
    let data: string | undefined;
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) comments += 1;
      else if (line.startsWith('id: ')) event.id = line.slice(4);
      else if (line.startsWith('event: ')) event.type = line.slice(7);
      else if (line.startsWith('data: ')) data = line.slice(6);
    }
    if (data !== undefined) {
      event.data = JSON.parse(data) as Record<string, unknown>;
      into.push(event);
    }
  }
  return { rest, comments };
}

/** Opens `GET path` as an event stream on a connection of its own. */
export function openStream(r: {
  port: number;
  ca: Buffer;
  client: Client;
  path?: string;
  lastEventId?: string;
}): Promise<Stream> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        servername: 'localhost',
        port: r.port,
        path: r.path ?? '/v1/events',
        ca: r.ca,
        cert: r.client.cert,
        key: r.client.key,
        agent: false,
        headers: r.lastEventId === undefined ? {} : { 'last-event-id': r.lastEventId },
      },
      (res: IncomingMessage) => {
        res.setEncoding('utf8');
        let buffer = '';
        const stream: Stream = {
          status: res.statusCode ?? 0,
          events: [],
          comments: 0,
          ended: false,
          body: '',
          close: () => req.destroy(),
          until: async (check, timeoutMs = 30_000, what = 'events') => {
            const until = Date.now() + timeoutMs;
            while (!check(stream.events)) {
              if (Date.now() > until || stream.ended) {
                throw new Error(
                  `${what}: not seen (${stream.ended ? 'stream ended' : 'timed out'}; got ${stream.events.map((e) => e.type).join(' ')})`,
                );
              }
              await new Promise((done) => setTimeout(done, 25));
            }
          },
        };
        res.on('data', (chunk: string) => {
          stream.body += stream.status === 200 ? '' : chunk;
          const parsed = parseBlocks(buffer + chunk, stream.events);
          buffer = parsed.rest;
          stream.comments += parsed.comments;
        });
        res.on('close', () => (stream.ended = true));
        res.on('error', () => (stream.ended = true));
        resolve(stream);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/**
 * A client that asks for the stream and then never reads a byte: its socket is paused once the
 * request is sent, so that what the server writes piles up in the kernel and then the server.
 */
export function stalledStream(r: {
  port: number;
  ca: Buffer;
  client: Client;
}): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect(
      {
        host: '127.0.0.1',
        servername: 'localhost',
        port: r.port,
        ca: r.ca,
        cert: r.client.cert,
        key: r.client.key,
      },
      () => {
        socket.write(
          'GET /v1/events HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n\r\n',
        );
        socket.pause();
        resolve(socket);
      },
    );
    socket.on('error', () => undefined); // the server drops it: that is the point
    socket.once('error', reject);
  });
}
