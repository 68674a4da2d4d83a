import type { ChildProcess } from 'node:child_process';
import { spawnSync } from 'node:child_process';
import { baseArgs, output, start, waitFor } from './ingestor.js';
import type { Dirs, StartOptions } from './ingestor.js';

/** The value of one series in a Prometheus text exposition; throws when it is missing. */
export function metricValue(text: string, name: string, labels = ''): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `));
  if (line === undefined) throw new Error(`no ${name}${labels} in metrics`);
  return Number(line.split(' ')[1]);
}

/** `promtool check metrics` over an exposition: its exit status and what it said. */
export function promtoolCheck(text: string): { status: number | null; said: string } {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  return { status: r.status, said: r.stdout + r.stderr };
}

/** The base URL of a daemon's metrics server, once it has logged its port. */
export async function metricsUrl(daemon: ChildProcess): Promise<string> {
  const listening = () =>
    output(daemon)
      .stdout.split('\n')
      .find((l) => l.includes('"event":"listening"'));
  await waitFor(() => listening() !== undefined, 10_000, 'the metrics server');
  return `http://127.0.0.1:${JSON.parse(listening()!).port as number}`;
}

/** A daemon with `--metrics-port 0` and short windows, once it has started. */
export async function startWithMetrics(
  d: Dirs,
  extra: string[] = [],
  options: StartOptions = {},
): Promise<{ daemon: ChildProcess; url: string }> {
  const daemon = start(
    [
      ...baseArgs(d),
      '--stability-seconds',
      '0.3',
      '--scan-interval',
      '1',
      '--metrics-port',
      '0',
      ...extra,
    ],
    options,
  );
  await waitFor(() => output(daemon).stdout.includes('ingestor started'), 10_000, 'start');
  return { daemon, url: await metricsUrl(daemon) };
}

export async function scrape(url: string): Promise<string> {
  const res = await fetch(`${url}/metrics`);
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`);
  return res.text();
}

export async function healthz(url: string): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${url}/healthz`);
  return { status: res.status, body: await res.json() };
}
