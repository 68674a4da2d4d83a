import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  baseArgs,
  finished,
  makeDirs,
  manifestLines,
  output,
  start,
  waitFor,
} from '../helpers/ingestor.js';

describe('a log reader that falls behind', () => {
  it('costs log lines, counted in one line, not memory and not ingestion', async () => {
    const d = makeDirs();
    const files = 20_000;
    for (let i = 0; i < files; i += 1) {
      fs.writeFileSync(path.join(d.input, `f${i}.csv`), `row ${i}\n`);
    }
    const old = new Date(Date.now() - 120_000);
    for (const name of fs.readdirSync(d.input)) fs.utimesSync(path.join(d.input, name), old, old);
    // --log-level info: a line per file. Nobody reads the pipe until every file is in.
    const daemon = start([...baseArgs(d), '--once', '--stability-seconds', '1']);
    daemon.stdout!.pause();
    await waitFor(() => manifestLines(d.manifests).length === files, 120_000, 'all ingested');
    const peak = Number(
      /VmHWM:\s+(\d+)/.exec(fs.readFileSync(`/proc/${daemon.pid}/status`, 'utf8'))![1],
    );
    expect(peak * 1024).toBeLessThan(150 * 1024 * 1024);
    daemon.stdout!.resume();
    const result = await finished(daemon, 60_000);
    expect(result.code).toBe(0);
    const dropped = result.stdout
      .split('\n')
      .filter((line) => line.includes('"event":"log-dropped"'))
      .map((line) => JSON.parse(line) as { lines: number; msg: string });
    expect(dropped.length).toBeGreaterThan(0);
    expect(dropped[0]!.msg).toMatch(/log lines were dropped: the reader of this log fell behind/);
    const ingestedLines = result.stdout.split('\n').filter((l) => l.includes('"event":"ingested"'));
    // Every line is either written or counted as dropped.
    const total = dropped.reduce((n, l) => n + l.lines, 0) + ingestedLines.length;
    expect(total).toBeGreaterThanOrEqual(files);
  }, 180_000);

  it('a reader that has gone: one line on stderr, and ingestion goes on', async () => {
    const d = makeDirs();
    const daemon = start([...baseArgs(d), '--stability-seconds', '0.5']);
    await waitFor(() => output(daemon).stdout.includes('ingestor started'), 10_000, 'start');
    daemon.stdout!.destroy(); // as `| head -1` does once it has its line
    fs.writeFileSync(path.join(d.input, 'a.csv'), 'after the reader left');
    await waitFor(() => manifestLines(d.manifests).length === 1, 20_000, 'ingested');
    daemon.kill('SIGTERM');
    const result = await finished(daemon);
    expect(result.code).toBe(0);
    expect(result.stderr).toContain(
      'ingestor: cannot write log lines to stdout (EPIPE: its reader has gone); logging stops, ingestion goes on',
    );
  }, 60_000);
});
