import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { setUpApi, startWithApi } from '../helpers/api.js';
import { call, ok } from '../helpers/api-actions.js';
import { openStream } from '../helpers/sse.js';
import {
  baseArgs,
  filesUnder,
  finished,
  output,
  run,
  start,
  waitFor,
  writeOld,
} from '../helpers/ingestor.js';

describe("an operator's pause the state keeps", () => {
  it('is said by the stream, at start, by a --once pass, and by `ingestor status` while stopped', async () => {
    const s = setUpApi();
    const api = await startWithApi(s.d, s.certs);
    ok(await call(s, api.port, s.admin, 'POST', '/v1/pause'));
    // The stream's stats say so too.
    const stream = await openStream({ port: api.port, ca: s.ca, client: s.user });
    await stream.until((events) => events.some((e) => e.type === 'stats'), 5_000, 'stats');
    expect(stream.events.find((e) => e.type === 'stats')!.data).toMatchObject({
      paused: true,
      pausedReason: expect.stringMatching(/^by an operator \(.*admin.*\)$/),
    });
    stream.close();
    api.daemon.kill('SIGTERM');
    expect((await finished(api.daemon)).code).toBe(0);
    writeOld(path.join(s.d.input, 'a.csv'), 'alpha');

    const stopped = await run(['status', '--state-path', s.d.state]);
    expect(stopped.stdout).toMatch(
      /PAUSED +by an operator \(.*admin.*\) since \d{4}-.*Z: nothing is taken until it is resumed .*once the daemon runs with --api-port/,
    );

    const once = await run([...baseArgs(s.d), '--once', '--stability-seconds', '0.3']);
    expect(once.code).toBe(0);
    expect(once.stderr).toMatch(
      /0 ingested.*; PAUSED by an operator \(.*admin.*\): nothing was taken/,
    );
    expect(filesUnder(s.d.input)).toEqual(['a.csv']);

    // A daemon without the API says how to lift it.
    const daemon = start([...baseArgs(s.d), '--stability-seconds', '0.3']);
    await waitFor(
      () => output(daemon).stdout.includes('"event":"operator-paused"'),
      10_000,
      'warn',
    );
    const line = output(daemon)
      .stdout.split('\n')
      .find((l) => l.includes('"event":"operator-paused"'))!;
    expect(JSON.parse(line)).toMatchObject({
      level: 'warn',
      msg: expect.stringMatching(
        /no control API: restart it with --api-port, then POST \/v1\/resume/,
      ),
    });
    daemon.kill('SIGTERM');
    expect((await finished(daemon)).code).toBe(0);
    expect(filesUnder(s.d.input)).toEqual(['a.csv']);
  });
});
