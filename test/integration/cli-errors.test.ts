import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { commandDefaults, defaults } from '../../src/options.js';
import { COMMANDS, FLAGS } from '../../src/options/flags.js';
import {
  baseArgs,
  binForOtherUsers,
  filesUnder,
  makeDirs,
  mountTmpfs,
  partitionFiles,
  run,
  writeOld,
} from '../helpers/ingestor.js';
import type { Dirs, RunResult, StartOptions } from '../helpers/ingestor.js';

const NOBODY = 65534;
let nobodyBin: string;
beforeAll(() => {
  nobodyBin = binForOtherUsers();
});
const asNobody = (): StartOptions => ({ uid: NOBODY, bin: nobodyBin });

/** The one line on stderr, after checking that there is exactly one. */
function oneLine(r: RunResult): string {
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  return lines[0]!;
}

/** Exit 2, one line (exactly `message` after `ingestor: `), nothing on stdout, nothing made. */
async function expectUsageError(args: string[], message: string, d: Dirs, options?: StartOptions) {
  const before = filesUnder(d.root);
  const entries = fs.readdirSync(d.root).sort();
  const r = await run(args, options);
  expect(r.code, r.stderr).toBe(2);
  expect(oneLine(r)).toBe(`ingestor: ${message}`);
  expect(r.stdout).toBe('');
  expect(filesUnder(d.root)).toEqual(before);
  expect(fs.readdirSync(d.root).sort()).toEqual(entries);
}

/** A tree `nobody` can reach (mkdtemp makes its root 0700), its input owned by root. */
function reachableByNobody(): Dirs {
  const d = makeDirs();
  fs.chmodSync(d.root, 0o755);
  return d;
}

describe('an --input the daemon cannot use: exit 2 at start, one line', () => {
  it('cannot be listed (mode 000, run as nobody): not a run that ingests nothing', async () => {
    const d = reachableByNobody();
    writeOld(path.join(d.input, 'a.csv'), 'a');
    fs.chmodSync(d.input, 0o000);
    const args = [...baseArgs(d), '--once'];
    await expectUsageError(
      args,
      `--input ${JSON.stringify(d.input)} cannot be read: EACCES: permission denied`,
      d,
      asNobody(),
    );
    // Listable but not enterable is no better.
    fs.chmodSync(d.input, 0o755 & ~0o111);
    await expectUsageError(
      [...args, '--dry-run'],
      `--input ${JSON.stringify(d.input)} cannot be read: EACCES: permission denied`,
      d,
      asNobody(),
    );
  });

  it('cannot be written (ingested files are removed from it): an error for run, not for --dry-run', async () => {
    const d = reachableByNobody();
    writeOld(path.join(d.input, 'a.csv'), 'a');
    for (const dir of [d.warehouse, d.manifests, path.dirname(d.state)]) {
      fs.mkdirSync(dir);
      fs.chownSync(dir, NOBODY, NOBODY);
    }
    await expectUsageError(
      [...baseArgs(d), '--once'],
      `--input ${JSON.stringify(d.input)} cannot be written (ingested files are removed from it): EACCES: permission denied`,
      d,
      asNobody(),
    );
    const dry = await run([...baseArgs(d), '--dry-run'], asNobody());
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/^ingest +.*a\.csv/m);
    expect(filesUnder(d.input)).toEqual(['a.csv']);
  });
});

describe('a --state-path that cannot hold the state names the flag, the path and the cause', () => {
  it('under a file: a usage error, exit 2', async () => {
    const d = makeDirs();
    const state = path.join(d.root, 'plain');
    fs.writeFileSync(state, 'x');
    const args = baseArgs(d);
    args[7] = path.join(state, 'ingestor.db');
    await expectUsageError(
      args,
      `--state-path ${JSON.stringify(args[7])} cannot be created: ENOTDIR: not a directory`,
      d,
    );
  });

  it('on a read-only volume: exit 1 at start, nothing moved', async () => {
    const d = makeDirs();
    writeOld(path.join(d.input, 'a.csv'), 'a');
    const stateDir = path.dirname(d.state);
    fs.mkdirSync(stateDir);
    mountTmpfs(stateDir, '1m');
    spawnSync('mount', ['-o', 'remount,ro', stateDir]);
    const r = await run([...baseArgs(d), '--once']);
    expect(r.code).toBe(1);
    expect(oneLine(r)).toBe(
      `ingestor: --state-path ${JSON.stringify(d.state)} cannot be created: EROFS: read-only file system`,
    );
    expect(filesUnder(d.input)).toEqual(['a.csv']);
    expect(fs.existsSync(d.warehouse)).toBe(false);
  });

  it('in a directory the daemon may not write (run as nobody): EACCES', async () => {
    const d = reachableByNobody();
    fs.chownSync(d.input, NOBODY, NOBODY);
    fs.mkdirSync(path.dirname(d.state));
    const r = await run([...baseArgs(d), '--once'], asNobody());
    expect(r.code).toBe(1);
    expect(oneLine(r)).toBe(
      `ingestor: --state-path ${JSON.stringify(d.state)} cannot be created: EACCES: permission denied`,
    );
  });
});

describe('a --warehouse or --manifests on a read-only volume: exit 1 at start, named', () => {
  it('cannot be created there', async () => {
    const d = makeDirs();
    writeOld(path.join(d.input, 'a.csv'), 'a');
    const ro = path.join(d.root, 'ro');
    fs.mkdirSync(ro);
    mountTmpfs(ro, '1m');
    spawnSync('mount', ['-o', 'remount,ro', ro]);
    const args = baseArgs(d);
    args[3] = path.join(ro, 'wh');
    const r = await run([...args, '--once']);
    expect(r.code).toBe(1);
    expect(oneLine(r)).toBe(
      `ingestor: --warehouse ${JSON.stringify(args[3])} cannot be created: EROFS: read-only file system`,
    );
    const manifests = baseArgs(d);
    manifests[5] = path.join(ro, 'mf');
    const m = await run([...manifests, '--once']);
    expect(m.code).toBe(1);
    expect(oneLine(m)).toBe(
      `ingestor: --manifests ${JSON.stringify(manifests[5])} cannot be created: EROFS: read-only file system`,
    );
    expect(filesUnder(d.input)).toEqual(['a.csv']);
  });

  it('an existing warehouse made read-only is found before anything is moved', async () => {
    const d = makeDirs({ tmpfsWarehouse: true });
    writeOld(path.join(d.input, 'a.csv'), 'a');
    expect((await run([...baseArgs(d), '--once'])).code).toBe(0);
    writeOld(path.join(d.input, 'b.csv'), 'b');
    spawnSync('mount', ['-o', 'remount,ro', path.dirname(d.warehouse)]);
    const r = await run([...baseArgs(d), '--once']);
    expect(r.code).toBe(1);
    expect(oneLine(r)).toBe(
      `ingestor: --warehouse ${JSON.stringify(d.warehouse)} cannot be written: EROFS: read-only file system`,
    );
    expect(r.stdout).not.toContain('ingestor started');
    expect(filesUnder(d.input)).toEqual(['b.csv']);
    expect(partitionFiles(d.warehouse)).toHaveLength(1);
  });
});

describe('--config', () => {
  it('missing, not JSON, or not an object: one line naming the file and the cause', async () => {
    const d = makeDirs();
    const config = path.join(d.root, 'ingestor.json');
    await expectUsageError(
      ['--config', config],
      `--config ${JSON.stringify(config)} cannot be read: ENOENT: no such file or directory`,
      d,
    );
    fs.writeFileSync(config, '{"input": "/srv/staging",');
    const bad = await run(['--config', config]);
    expect(bad.code).toBe(2);
    expect(oneLine(bad)).toMatch(
      new RegExp(`^ingestor: --config "${config}" is not valid JSON: \\S.*JSON.*$`),
    );
    fs.writeFileSync(config, '["--input", "/srv/staging"]');
    const array = await run(['--config', config]);
    expect(array.code).toBe(2);
    expect(oneLine(array)).toBe(
      `ingestor: --config ${JSON.stringify(config)} must hold a JSON object of options (keys as the flags), got an array`,
    );
  });

  it('an unknown key names the file and the key', async () => {
    const d = makeDirs();
    const config = path.join(d.root, 'ingestor.json');
    fs.writeFileSync(config, JSON.stringify({ input: d.input, 'stabilty-seconds': 3 }));
    const r = await run(['--config', config]);
    expect(r.code).toBe(2);
    expect(oneLine(r)).toBe(
      `ingestor: unknown key "stabilty-seconds" in --config ${JSON.stringify(config)} (no flag --stabilty-seconds)`,
    );
    // camelCase keys are the flags too; a bad value names the key, the file and the flag.
    fs.writeFileSync(config, JSON.stringify({ stabilitySeconds: 'soon' }));
    const camel = await run(['--config', config, ...baseArgs(d)]);
    expect(camel.code).toBe(2);
    expect(oneLine(camel)).toBe(
      `ingestor: key "stabilitySeconds" in --config ${JSON.stringify(config)}: --stability-seconds must be a positive number, got "soon"`,
    );
  });
});

describe('a bad choice is one line naming the flag, the choices and the value', () => {
  it.each([
    ['--mode', 'stabilty', 'stability, sidecar'],
    ['--on-duplicate', 'keep', 'move, delete'],
    ['--log-level', 'loud', 'fatal, error, warn, info, debug, trace, silent'],
  ])('%s %s', async (flag, value, choices) => {
    const d = makeDirs();
    await expectUsageError(
      [...baseArgs(d), flag, value],
      `${flag} must be one of ${choices}, got "${value}"`,
      d,
    );
  });

  it('list --status', async () => {
    const d = makeDirs();
    await expectUsageError(
      ['list', '--state-path', d.state, '--status', 'lost'],
      '--status must be one of ingested, duplicate, quarantined, in-flight, aborted, vanished, released, got "lost"',
      d,
    );
  });

  it('from an INGESTOR_* variable too, and given twice', async () => {
    const d = makeDirs();
    const r = await run(baseArgs(d), { env: { INGESTOR_MODE: 'eventual' } });
    expect(r.code).toBe(2);
    expect(oneLine(r)).toBe(
      'ingestor: INGESTOR_MODE must be one of stability, sidecar, got "eventual"',
    );
    await expectUsageError(
      [...baseArgs(d), '--mode', 'sidecar', '--mode', 'stability'],
      '--mode was given more than once',
      d,
    );
  });
});

describe('unknown INGESTOR_* variables name the variable', () => {
  it('for the daemon', async () => {
    const d = makeDirs();
    const r = await run(baseArgs(d), { env: { INGESTOR_STABILITY_SECONDZ: '3' } });
    expect(r.code).toBe(2);
    expect(oneLine(r)).toBe(
      'ingestor: unknown environment variable INGESTOR_STABILITY_SECONDZ (no flag --stability-secondz)',
    );
  });

  it('for a command without that flag', async () => {
    const d = makeDirs();
    const r = await run(['status', '--state-path', d.state], { env: { INGESTOR_INPUT: d.input } });
    expect(r.code).toBe(2);
    expect(oneLine(r)).toBe(
      'ingestor: unknown environment variable INGESTOR_INPUT (status has no flag --input)',
    );
  });
});

describe('status, list and retry on a state they cannot read', () => {
  it.each(['status', 'list', 'retry'])('%s says it cannot be read, and why', async (command) => {
    const d = reachableByNobody();
    const stateDir = path.dirname(d.state);
    fs.mkdirSync(stateDir, { mode: 0o700 });
    fs.writeFileSync(d.state, '');
    const r = await run([command, '--state-path', d.state], asNobody());
    expect(r.code).toBe(2);
    expect(oneLine(r)).toBe(
      `ingestor: --state-path ${JSON.stringify(d.state)} cannot be read: EACCES: permission denied`,
    );
    // By --manifests, the same.
    const m = await run([command, '--manifests', stateDir], asNobody());
    expect(oneLine(m)).toBe(
      `ingestor: --state-path ${JSON.stringify(path.join(stateDir, 'ingestor.db'))} cannot be read: EACCES: permission denied`,
    );
  });
});

describe('help', () => {
  /**
   * The help entry of one flag, on one line (yargs wraps its text, type and default). Entries
   * start within 6 columns (`  -h, --help`, `      --input`), their wrapped lines further in.
   */
  const entry = (help: string, flag: string) => {
    const lines = help.split('\n');
    const at = lines.findIndex((l) => l.trimStart().startsWith(`${flag} `));
    expect(at, `${flag} in help`).toBeGreaterThanOrEqual(0);
    const end = lines.findIndex((l, i) => i > at && !/^ {7,}\S/.test(l));
    return lines.slice(at, end).join(' ').replace(/\s+/g, ' ').trim();
  };

  it('--manifests is required for run and verify; the others need it or --state-path', async () => {
    for (const command of ['run', 'verify']) {
      const help = (await run([command, '--help'])).stdout;
      expect(entry(help, '--manifests')).toMatch(/\(required\)/);
    }
    for (const command of ['status', 'list', 'retry']) {
      const help = (await run([command, '--help'])).stdout;
      expect(entry(help, '--manifests')).toMatch(/or --state-path/);
      expect(entry(help, '--state-path')).toMatch(/required, or --manifests/);
    }
  });

  it('numeric flags are numbers, with their defaults from src/options.ts', async () => {
    const help = (await run(['--help'])).stdout;
    const numbers: [string, number][] = [
      ['--stability-seconds', defaults.stabilitySeconds],
      ['--concurrency', defaults.concurrency],
      ['--max-retries', defaults.maxRetries],
      ['--scan-interval', defaults.scanIntervalSeconds],
      ['--batch-size', defaults.batchSize],
      ['--stats-interval', defaults.statsIntervalSeconds],
      ['--shutdown-timeout', commandDefaults.shutdownTimeoutSeconds],
    ];
    for (const [flag, value] of numbers) {
      expect(entry(help, flag)).toContain(`[number] [default: ${value}]`);
    }
    expect(entry(help, '--metrics-port')).toContain('[number]');
    expect(entry(help, '--mode')).toContain(`[default: ${defaults.mode}]`);
    expect(entry(help, '--log-level')).toContain(`[default: ${commandDefaults.logLevel}]`);
    const list = (await run(['list', '--help'])).stdout;
    expect(entry(list, '--limit')).toContain(`[number] [default: ${commandDefaults.listLimit}]`);
  });

  it('numeric flags still quote a bad value as given, and refuse a second one', async () => {
    const d = makeDirs();
    await expectUsageError(
      [...baseArgs(d), '--stability-seconds', 'abc'],
      '--stability-seconds must be a positive number, got "abc"',
      d,
    );
    await expectUsageError(
      [...baseArgs(d), '--batch-size', '1e400'],
      '--batch-size must be a positive integer, got "1e400"',
      d,
    );
    await expectUsageError(
      [...baseArgs(d), '--scan-interval', '1', '--scan-interval', '2'],
      '--scan-interval was given more than once',
      d,
    );
    await expectUsageError(
      ['list', '--state-path', d.state, '--limit', 'lots'],
      '--limit must be a positive integer, got "lots"',
      d,
    );
  });

  it('-h is --help, for each command', async () => {
    const main = await run(['--help']);
    const short = await run(['-h']);
    expect(short.code, short.stderr).toBe(0);
    expect(short.stdout).toBe(main.stdout);
    expect(main.stdout).toMatch(/^ {2}-h, --help +Show help/m);
    const status = await run(['status', '-h']);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toMatch(/^ingestor status\n/);
    expect(status.stdout).toBe((await run(['status', '--help'])).stdout);
  });

  it('an unknown command is a usage error, with --help too', async () => {
    const d = makeDirs();
    for (const help of ['--help', '-h']) {
      await expectUsageError(['bogus', help], 'Unknown argument: bogus', d);
      await expectUsageError(['status', 'bogus', help], 'Unknown argument: bogus', d);
    }
  });

  it("each command's --config names keys that command takes (or that it takes none)", async () => {
    for (const command of COMMANDS) {
      const help = (await run([command, '--help'])).stdout;
      if (Object.keys(FLAGS[command]).length === 0) {
        // certs takes a directory and no flags: its --config says so.
        expect(entry(help, '--config'), command).toContain(`(${command} has none)`);
        continue;
      }
      const keys = [...entry(help, '--config').matchAll(/"([^"]+)"/g)].map((m) => m[1]);
      expect(keys.length, `${command} --help: ${help}`).toBeGreaterThan(0);
      for (const key of keys) expect(Object.keys(FLAGS[command]), command).toContain(key);
    }
    // The main help is run's.
    expect(entry((await run(['--help'])).stdout, '--config')).toContain('"input"');
  });

  it('no description runs into its type, and defaults are shown as defaults', async () => {
    for (const args of [['--help'], ...COMMANDS.map((command) => [command, '--help'])]) {
      const help = (await run(args)).stdout;
      expect(help, args.join(' ')).not.toMatch(/\S\[(string|number|boolean|array)\]/);
    }
    const verify = (await run(['verify', '--help'])).stdout;
    expect(entry(verify, '--state-path')).toBe(
      '--state-path SQLite state file [string] [default: <manifests>/ingestor.db]',
    );
    expect(entry(verify, '--duplicates-dir')).toBe(
      "--duplicates-dir the daemon's duplicates directory [string] [default: <warehouse>/_duplicates]",
    );
  });
});

describe('numbers are plain decimals', () => {
  it('hex, exponents, signs and spaces are refused; integers where a count is meant', async () => {
    const d = makeDirs();
    const bad: [string, string, string][] = [
      ['--stability-seconds', '0x10', 'a positive number'],
      ['--stability-seconds', '1e1', 'a positive number'],
      ['--scan-interval', '+5', 'a positive number'],
      ['--scan-interval', 'Infinity', 'a positive number'],
      ['--batch-size', '1e9', 'a positive integer'],
      ['--concurrency', '0x10', 'a positive integer'],
      ['--concurrency', ' 4', 'a positive integer'],
      ['--max-retries', '3.0', 'a positive integer'],
      ['--batch-size', '9007199254740993', 'a positive integer'],
    ];
    for (const [flag, value, what] of bad) {
      await expectUsageError(
        [...baseArgs(d), '--once', flag, value],
        `${flag} must be ${what}, got ${JSON.stringify(value)}`,
        d,
      );
    }
    await expectUsageError(
      ['list', '--state-path', d.state, '--limit', '1e3'],
      '--limit must be a positive integer, got "1e3"',
      d,
    );
    await expectUsageError(
      ['retry', '--state-path', d.state, '--id', '0x1'],
      '--id must be a positive integer, got "0x1"',
      d,
    );
  });

  it('timers past what Node.js keeps (24.8 days) are refused: they would fire at once', async () => {
    const d = makeDirs();
    for (const flag of ['--stats-interval', '--shutdown-timeout']) {
      await expectUsageError(
        [...baseArgs(d), '--once', flag, '2147484'],
        `${flag} must be a positive number no greater than 2147483, got "2147484"`,
        d,
      );
    }
  });

  it('plain decimals are taken, fractions where seconds are meant', async () => {
    const d = makeDirs();
    writeOld(path.join(d.input, 'a.csv'), 'a');
    const r = await run([
      ...baseArgs(d),
      '--dry-run',
      '--stability-seconds',
      '.5',
      '--scan-interval',
      '2.',
      '--concurrency',
      '007',
      '--stats-interval',
      '2147483',
      '--shutdown-timeout',
      '0.25',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^ingest +.*a\.csv/m);
  });

  it('--metrics-port: empty is not "any free port"; 0 given is', async () => {
    const d = makeDirs();
    const args = [...baseArgs(d), '--once'];
    const empty = '--metrics-port must be a port number (0-65535), got ""';
    await expectUsageError([...args, '--metrics-port', ''], empty, d);
    await expectUsageError([...args, '--metrics-port'], empty, d);
    await expectUsageError(
      args,
      'INGESTOR_METRICS_PORT must be a port number (0-65535), got ""',
      d,
      { env: { INGESTOR_METRICS_PORT: '' } },
    );
    for (const value of ['0x50', '8e3', '65536', '-1']) {
      await expectUsageError(
        [...args, `--metrics-port=${value}`],
        `--metrics-port must be a port number (0-65535), got ${JSON.stringify(value)}`,
        d,
      );
    }
    const any = await run([...args, '--metrics-port', '0']);
    expect(any.code, any.stderr).toBe(0);
    expect(any.stdout).toMatch(/"event":"listening","host":"127\.0\.0\.1","port":[1-9]\d*/);
  });
});

describe('a flag given twice is a usage error, switches and --config too', () => {
  it('--dry-run --dry-run=false does not run for real, whatever the spelling', async () => {
    const d = makeDirs();
    writeOld(path.join(d.input, 'a.csv'), 'a');
    const args = [...baseArgs(d), '--once'];
    const twice: [string[], string][] = [
      [['--dry-run', '--dry-run=false'], '--dry-run'],
      [['--no-dry-run', '--dry-run'], '--dry-run'],
      [['--dryRun', '--dry-run=true'], '--dry-run'],
      [['--once'], '--once'],
      [['--dry-run', '--json', '--no-json'], '--json'],
    ];
    for (const [extra, flag] of twice) {
      await expectUsageError([...args, ...extra], `${flag} was given more than once`, d);
    }
    const verify = ['verify', '--warehouse', d.root, '--manifests', d.root];
    await expectUsageError(
      [...verify, '--rehash', '--rehash'],
      '--rehash was given more than once',
      d,
    );
    expect(filesUnder(d.input)).toEqual(['a.csv']);
  });

  it('--config twice says so, not "Invalid JSON config file"', async () => {
    const d = makeDirs();
    const a = path.join(d.root, 'a.json');
    const b = path.join(d.root, 'b.json');
    fs.writeFileSync(a, '{}');
    fs.writeFileSync(b, '{}');
    for (const first of [['--config', a], [`--config=${a}`]]) {
      await expectUsageError(
        [...baseArgs(d), ...first, '--config', b],
        '--config was given more than once',
        d,
      );
    }
    await expectUsageError(
      ['status', '--config', a, '--config', b, '--help'],
      '--config was given more than once',
      d,
    );
  });
});

describe('--exclude', () => {
  it('bare, it is an empty glob, as --exclude= is', async () => {
    const d = makeDirs();
    writeOld(path.join(d.input, 'a.csv'), 'a');
    const message = '--exclude must be a non-empty glob, got ""';
    for (const bad of [['--exclude'], ['--exclude='], ['--exclude', '*.bak', '--exclude']]) {
      await expectUsageError([...baseArgs(d), '--once', ...bad], message, d);
    }
    // Not followed by words it would take as more globs: each glob is one --exclude.
    await expectUsageError(
      [...baseArgs(d), '--once', '--exclude', '*.bak', '*.old'],
      'Unknown argument: *.old',
      d,
    );
  });

  it('repeated, each glob is excluded', async () => {
    const d = makeDirs();
    for (const name of ['a.bak', 'b.old', 'c.csv']) writeOld(path.join(d.input, name), name);
    const r = await run([...baseArgs(d), '--once', '--exclude', '*.bak', '--exclude=*.old']);
    expect(r.code, r.stderr).toBe(0);
    expect(filesUnder(d.input)).toEqual(['a.bak', 'b.old']);
    expect(partitionFiles(d.warehouse)).toHaveLength(1);
  });
});

describe('a bad value from a variable or the config file names where it came from', () => {
  it('the variable, or the key, the file and the flag', async () => {
    const d = makeDirs();
    await expectUsageError(
      baseArgs(d),
      'INGESTOR_STABILITY_SECONDS must be a positive number, got "abc"',
      d,
      { env: { INGESTOR_STABILITY_SECONDS: 'abc' } },
    );
    const config = path.join(d.root, 'c.json');
    fs.writeFileSync(config, JSON.stringify({ stabilitySeconds: 0 }));
    const inConfig = `key "stabilitySeconds" in --config ${JSON.stringify(config)}: --stability-seconds`;
    await expectUsageError(
      [...baseArgs(d), '--config', config],
      `${inConfig} must be a positive number, got 0`,
      d,
    );
    // The variable comes before the file, the flag before both: the one in use is named.
    await expectUsageError(
      [...baseArgs(d), '--config', config],
      'INGESTOR_STABILITY_SECONDS must be a positive number, got "0x1"',
      d,
      { env: { INGESTOR_STABILITY_SECONDS: '0x1' } },
    );
    await expectUsageError(
      [...baseArgs(d), '--config', config, '--stability-seconds', 'x'],
      '--stability-seconds must be a positive number, got "x"',
      d,
      { env: { INGESTOR_STABILITY_SECONDS: 'abc' } },
    );
    const good = await run(
      [...baseArgs(d), '--config', config, '--dry-run', '--stability-seconds=1'],
      { env: { INGESTOR_STABILITY_SECONDS: 'abc' } },
    );
    expect(good.code, good.stderr).toBe(0);
  });

  it('for choices, globs, ports and the filters of list too', async () => {
    const d = makeDirs();
    const config = path.join(d.root, 'c.json');
    const key = (k: string, flag: string) =>
      `key ${JSON.stringify(k)} in --config ${JSON.stringify(config)}: --${flag}`;
    const bad: [Record<string, unknown>, string][] = [
      [
        { 'on-duplicate': 'keep' },
        `${key('on-duplicate', 'on-duplicate')} must be one of move, delete, got "keep"`,
      ],
      [{ exclude: ['*.bak', ''] }, `${key('exclude', 'exclude')} must be a non-empty glob, got ""`],
      [
        { metricsPort: 'http' },
        `${key('metricsPort', 'metrics-port')} must be a port number (0-65535), got "http"`,
      ],
    ];
    for (const [options, message] of bad) {
      fs.writeFileSync(config, JSON.stringify(options));
      await expectUsageError([...baseArgs(d), '--config', config], message, d);
    }
    await expectUsageError(
      ['list', '--state-path', d.state],
      'INGESTOR_SINCE must be an ISO date/time or an age like 15m, 2h, 7d, got "yesterday"',
      d,
      { env: { INGESTOR_SINCE: 'yesterday' } },
    );
    await expectUsageError(
      ['list', '--state-path', d.state],
      'INGESTOR_LIMIT must be a positive integer, got "all"',
      d,
      { env: { INGESTOR_LIMIT: 'all' } },
    );
  });
});

describe('the --once summary', () => {
  it('gives bytes and rates in the units of the progress line', async () => {
    const d = makeDirs();
    writeOld(path.join(d.input, 'big.bin'), Buffer.alloc(3 * 1024 * 1024 + 300 * 1024, 7));
    const r = await run([...baseArgs(d), '--once']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(
      /^ingestor: 1 ingested, .* skipped; 3\.3 MiB in \d+\.\d\d s \(\d+ files\/s, [\d.]+ (KiB|MiB|GiB)\/s\)$/m,
    );
  });
});

describe('a switch given a value other than true or false is a usage error, never a quiet false', () => {
  it('--dry-run=yes, INGESTOR_DRY_RUN=1 and "dry-run": "yes" in --config do not run for real', async () => {
    const d = makeDirs();
    writeOld(path.join(d.input, 'a.csv'), 'a');
    const args = [...baseArgs(d), '--once'];
    await expectUsageError(
      [...args, '--dry-run=yes'],
      '--dry-run takes no value (or true or false), got "yes"',
      d,
    );
    await expectUsageError(args, 'INGESTOR_DRY_RUN must be true or false, got "1"', d, {
      env: { INGESTOR_DRY_RUN: '1' },
    });
    const config = path.join(d.root, 'config.json');
    fs.writeFileSync(config, JSON.stringify({ 'dry-run': 'yes' }));
    await expectUsageError(
      [...args, '--config', config],
      `key "dry-run" in --config ${JSON.stringify(config)} must be true or false, got "yes"`,
      d,
    );
    await expectUsageError(
      [...args, '--json'],
      '--json applies only with --dry-run (the daemon logs JSON lines anyway)',
      d,
    );
    expect(partitionFiles(d.warehouse)).toEqual([]);
    expect(filesUnder(d.input)).toEqual(['a.csv']);
    const dry = await run([...args, '--dry-run=true']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/nothing was changed/);
  });
});
