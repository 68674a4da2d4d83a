import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { apiArgs, apiPort, setUpApi } from '../helpers/api.js';
import { call, expectError, ok } from '../helpers/api-actions.js';
import {
  baseArgs,
  expectExactlyOnce,
  finished,
  output,
  run,
  start,
  stuckRecovery,
} from '../helpers/ingestor.js';

describe('the control API while the daemon recovers', () => {
  it('says recovering, serves the history, and refuses actions with a 409 until it runs', async () => {
    const s = setUpApi();
    const manifest = await stuckRecovery(s.d);
    const daemon = start([...baseArgs(s.d), ...apiArgs(s.certs)]);
    const port = await apiPort(daemon);

    const status = ok<{ state: string; files: object }>(
      await call(s, port, s.user, 'GET', '/v1/status'),
    );
    expect(status.state).toBe('recovering');
    // The interrupted file is the state's only row: an intent, in flight.
    const files = ok<{ files: { status: string }[] }>(
      await call(s, port, s.user, 'GET', '/v1/files'),
    );
    expect(files.files.map((f) => f.status)).toEqual(['in-flight']);
    expect(ok(await call(s, port, s.user, 'GET', '/v1/pending'))).toMatchObject({ total: 0 });
    expect(ok(await call(s, port, s.user, 'GET', '/v1/stats'))).toBeDefined();
    for (const [method, url, body] of [
      ['POST', '/v1/pause', undefined],
      ['POST', '/v1/retry', {}],
      ['PUT', '/v1/limits', { concurrency: 2 }],
    ] as const) {
      expectError(
        await call(s, port, s.admin, method, url, body),
        409,
        'API_ERR_CONFLICT',
        /recovering .*try again once GET \/v1\/status says running/,
      );
    }
    // The role is checked first: a user is refused for the role, not for the phase.
    expectError(await call(s, port, s.user, 'POST', '/v1/pause'), 403, 'API_ERR_FORBIDDEN');
    expect(output(daemon).stdout).not.toContain('ingestor started');

    daemon.kill('SIGKILL');
    await finished(daemon);
    fs.rmSync(manifest);
    const again = await run([...baseArgs(s.d), '--once', '--stability-seconds', '1']);
    expect(again.code, again.stderr).toBe(0);
    expectExactlyOnce(s.d, ['alpha']);
  });
});
