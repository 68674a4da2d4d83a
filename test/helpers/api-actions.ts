import { createHash } from 'node:crypto';
import { expect } from 'vitest';
import { request } from './api.js';
import type { ApiResponse, ApiSetup, Client } from './api.js';

/** The API's id of a file without a row (src/pending-id.ts), computed as a client may. */
export function pendingIdOf(file: string): string {
  return `p${createHash('sha256').update(file).digest('base64url').slice(0, 22)}`;
}

/** A call as `who`; a JSON body is sent with its type. */
export function call(
  s: ApiSetup,
  port: number,
  who: Client,
  method: string,
  urlPath: string,
  body?: unknown,
): Promise<ApiResponse> {
  return request({
    port,
    ca: s.ca,
    client: who,
    method,
    path: urlPath,
    ...(body === undefined
      ? {}
      : {
          body: typeof body === 'string' ? body : JSON.stringify(body),
          headers: { 'content-type': 'application/json' },
        }),
  });
}

/** A JSON error of the API's shape, with this status and code. */
export function expectError(
  r: ApiResponse,
  status: number,
  code: string,
  message?: string | RegExp,
): void {
  expect(r.status, `${r.path}: ${JSON.stringify(r.body)}`).toBe(status);
  expect(String(r.headers['content-type'])).toContain('application/json');
  const body = r.body as { error: string; message: string };
  expect(Object.keys(body).sort()).toEqual(['error', 'message']);
  expect(body.error).toBe(code);
  if (message !== undefined) expect(body.message).toMatch(message);
}

/** Expects a 200 and returns its body. */
export function ok<T>(r: ApiResponse): T {
  expect(r.status, `${r.path}: ${JSON.stringify(r.body)}`).toBe(200);
  return r.body as T;
}

/** One history entry as the API answers it. */
export interface HistoryJson {
  at: string;
  type: string;
  actor: string | null;
  from: 'row' | 'journal';
  detail: Record<string, unknown>;
}

export interface FileJson {
  id: number;
  status: string;
  source: string;
  duplicateOf: { id: number } | null;
}

/** The files listed by the API (newest first). */
export async function listFiles(s: ApiSetup, port: number): Promise<FileJson[]> {
  return ok<{ files: FileJson[] }>(await call(s, port, s.user, 'GET', '/v1/files?limit=1000'))
    .files;
}

/** The history of one file, as its types in order. */
export async function historyOf(s: ApiSetup, port: number, id: number): Promise<HistoryJson[]> {
  return ok<{ events: HistoryJson[] }>(
    await call(s, port, s.user, 'GET', `/v1/files/${id}/history`),
  ).events;
}
