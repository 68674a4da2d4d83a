import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { EXIT, hasCode } from '../errors.js';
import type { FsPath } from '../interfaces.js';
import { MANIFEST_FILE } from '../manifest/manifest-line.js';
import { isNoDest, TMP_DIR_NAME } from '../naming.js';
import { PROBLEM_ADVICE } from '../ops/verify-advice.js';
import type { ProblemKind } from '../ops/verify-advice.js';
import { defaultPlace } from '../options/defaults.js';
import type { VerifyCommandOptions, VerifyOptions } from '../options/types.js';
import { baseName, dirName, displayPath, fromBytes, joinPath, pathKey, toBytes } from '../paths.js';
import { openState, stateExists } from '../state/open.js';
import type { ClosedHour, HourMarks } from '../state/store.js';
import { HourFiles, verifyClosedHours } from './verify-hours.js';

export type { ProblemKind };

export interface Problem {
  kind: ProblemKind;
  /** The file (manifest, warehouse file) the problem is about. */
  where: string;
  detail: string;
}

export interface VerifyReport {
  manifestFiles: number;
  lines: number;
  warehouseFiles: number;
  stateRows: number;
  /** Files found in the duplicates directory (outside its .ingestor-tmp). */
  duplicateFiles: number;
  /** Files whose SHA-256 was recomputed (warehouse and duplicates) with `rehash`. */
  rehashed: number;
  /** `_SUCCESS` files found (closed hours), each checked against its manifest. */
  closedHours: number;
  problems: Problem[];
  /** For each kind of problem found, what to do (PROBLEM_ADVICE). */
  advice: Partial<Record<ProblemKind, string>>;
}

/** `YYYY/MM/DD/HH/<manifest name>` (MANIFEST_FILE: one, or one per daemon). */
const isManifestPath = (rel: string): boolean =>
  /^\d{4}\/\d{2}\/\d{2}\/\d{2}\/[^/]+$/.test(rel) && MANIFEST_FILE.test(path.basename(rel));
const SHA = /^[0-9a-f]{64}$/;
const INTEGER_FIELDS = ['device', 'inode', 'size', 'mtime'] as const;

interface LineInfo {
  where: string;
  size: number;
  dest: FsPath;
}

/** Files below `dir`, as raw paths, streamed; hidden directories included. */
async function* walk(dir: FsPath): AsyncGenerator<{ path: FsPath; rel: string }> {
  const stack: { dir: FsPath; rel: string }[] = [{ dir, rel: '' }];
  while (stack.length > 0) {
    const { dir: d, rel } = stack.pop()!;
    let handle: fs.Dir;
    try {
      handle = await fs.promises.opendir(d, { encoding: 'buffer' } as never);
    } catch (error) {
      if (hasCode(error, 'ENOENT', 'ENOTDIR')) continue;
      throw error;
    }
    for await (const entry of handle) {
      const name = fromBytes(entry.name as unknown as Buffer);
      const p = joinPath(d, name);
      const r = rel === '' ? displayPath(name) : `${rel}/${displayPath(name)}`;
      if (entry.isDirectory()) stack.push({ dir: p, rel: r });
      else yield { path: p, rel: r };
    }
  }
}

async function sha256Of(file: FsPath): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of fs.createReadStream(file as string, { highWaterMark: 1 << 20 })) {
    hash.update(chunk as Buffer);
  }
  return hash.digest('hex');
}

/** Where a recorded warehouse path lives under `warehouse` (the warehouse may have moved). */
function localDest(recorded: FsPath, warehouse: string): FsPath {
  const bytes = toBytes(recorded);
  const at = bytes.indexOf('/ingest_date=');
  if (at < 0) return recorded;
  return fromBytes(Buffer.concat([Buffer.from(warehouse), bytes.subarray(at)]));
}

const DAY_DIR = /^\d{4}-\d{2}-\d{2}$/;

/**
 * Where a recorded duplicate (`<duplicates>/YYYY-MM-DD/<name>`) lives under `duplicatesDir`
 * (the directory may have moved, with its warehouse or on its own).
 */
function localDuplicate(recorded: FsPath, duplicatesDir: string): FsPath {
  const day = displayPath(baseName(dirName(recorded)));
  if (!DAY_DIR.test(day)) return recorded;
  return joinPath(path.join(duplicatesDir, day), baseName(recorded));
}

interface DuplicateRow {
  id: number;
  file: FsPath;
  sha256: string;
  size: number;
  found: boolean;
}

/**
 * Audits warehouse, manifests and state against each other. Reads only: it never changes a
 * file, and reads a quiescent state through a private snapshot.
 */
export async function verify(options: VerifyOptions): Promise<VerifyReport> {
  const report: VerifyReport = {
    manifestFiles: 0,
    lines: 0,
    warehouseFiles: 0,
    stateRows: 0,
    duplicateFiles: 0,
    rehashed: 0,
    closedHours: 0,
    problems: [],
    advice: {},
  };
  const problem = (kind: ProblemKind, where: string, detail: string) =>
    report.problems.push({ kind, where, detail });
  const bySha = new Map<string, LineInfo>();
  const byDest = new Set<string>();
  const hourFiles = new HourFiles();
  let hourState: { marks: HourMarks; closed: ClosedHour[] } | undefined;

  for await (const { path: file, rel } of walk(options.manifests)) {
    if (hourFiles.take(displayPath(file), rel, problem)) continue;
    if (!isManifestPath(rel)) continue;
    report.manifestFiles += 1;
    const text = displayPath(file);
    const { size } = await fs.promises.stat(file);
    if (size > 0) {
      const last = Buffer.alloc(1);
      const handle = await fs.promises.open(file, 'r');
      await handle.read(last, 0, 1, size - 1).finally(() => handle.close());
      if (last[0] !== 0x0a) problem('torn-line', text, 'the last line has no newline');
    }
    const lines = readline.createInterface({
      input: fs.createReadStream(file as string, { encoding: 'utf8' }),
      crlfDelay: Infinity,
    });
    let n = 0;
    for await (const raw of lines) {
      n += 1;
      if (raw === '') continue;
      const where = `${text}:${n}`;
      let line: Record<string, unknown>;
      try {
        line = JSON.parse(raw) as Record<string, unknown>;
      } catch {
        // Not JSON is exactly what this check reports, so the parse error is the finding.
        problem('bad-line', where, 'not valid JSON');
        continue;
      }
      report.lines += 1;
      const missing = [
        typeof line.path === 'string' ? undefined : 'path',
        typeof line.sha256 === 'string' && SHA.test(line.sha256) ? undefined : 'sha256',
        ...INTEGER_FIELDS.map((f) =>
          Number.isSafeInteger(line[f]) && (line[f] as number) >= 0 ? undefined : f,
        ),
        typeof line.warehouse_path === 'string' ? undefined : 'warehouse_path',
      ].filter((f) => f !== undefined);
      if (missing.length > 0) {
        problem('bad-line', where, `missing or bad field(s): ${missing.join(', ')}`);
        continue;
      }
      const sha = line.sha256 as string;
      const recorded =
        typeof line.warehouse_path_base64 === 'string'
          ? fromBytes(Buffer.from(line.warehouse_path_base64, 'base64'))
          : (line.warehouse_path as string);
      const dest = localDest(recorded, options.warehouse);
      const seen = bySha.get(sha);
      if (seen !== undefined) {
        problem('duplicate-content', where, `sha256 ${sha} already at ${seen.where}`);
        continue;
      }
      bySha.set(sha, { where, size: line.size as number, dest });
      byDest.add(pathKey(dest));
      let stat: fs.Stats;
      try {
        stat = await fs.promises.lstat(dest);
      } catch (error) {
        if (!hasCode(error, 'ENOENT', 'ENOTDIR')) throw error;
        problem('missing-file', where, `${displayPath(dest)} does not exist`);
        continue;
      }
      if (!stat.isFile() || stat.size !== line.size) {
        problem(
          'size-mismatch',
          where,
          `${displayPath(dest)} has ${stat.size} bytes, line says ${String(line.size)}`,
        );
        continue;
      }
      if (options.rehash) {
        report.rehashed += 1;
        const actual = await sha256Of(dest);
        if (actual !== sha)
          problem('hash-mismatch', where, `${displayPath(dest)} hashes to ${actual}`);
      }
    }
  }

  for await (const { path: file, rel } of walk(options.warehouse)) {
    if (rel.startsWith(`${TMP_DIR_NAME}/`)) {
      problem('temporary-file', displayPath(file), 'a copy in progress was left behind');
      continue;
    }
    if (!rel.startsWith('ingest_date=')) continue;
    report.warehouseFiles += 1;
    const name = path.basename(rel);
    if (name.startsWith('.') || name.endsWith('.tmp')) {
      problem('temporary-file', displayPath(file), 'temporary or partial file in a partition');
    } else if (!byDest.has(pathKey(file))) {
      problem('unrecorded-file', displayPath(file), 'no manifest line names this file');
    }
  }

  if (stateExists(options)) {
    const duplicates = new Map<string, DuplicateRow>();
    const duplicatesDir = options.duplicatesDir ?? defaultPlace('duplicatesDir', options.warehouse);
    const store = await openState(options, { readonly: true });
    try {
      const committed = new Set<string>();
      for await (const row of store.rows()) {
        report.stateRows += 1;
        const where = `state row ${row.id}`;
        if (row.status === 'intent') {
          problem('open-intent', where, 'an ingest was left in flight (is the daemon running?)');
        }
        if (row.status !== 'committed') continue;
        if (row.kind === 'duplicate') {
          // --on-duplicate delete leaves no file to check.
          if (!isNoDest(row.dest)) {
            const file = localDuplicate(row.dest, duplicatesDir);
            duplicates.set(pathKey(file), {
              id: row.id,
              file,
              sha256: row.sha256,
              size: row.size,
              found: false,
            });
          }
          continue;
        }
        if (row.kind !== 'ingest') continue;
        committed.add(row.sha256);
        const line = bySha.get(row.sha256);
        if (line === undefined) {
          problem('state-without-line', where, `committed ${row.sha256} has no manifest line`);
        } else if (
          line.size !== row.size ||
          pathKey(localDest(row.dest, options.warehouse)) !== pathKey(line.dest)
        ) {
          problem('state-disagrees', where, `state and ${line.where} disagree on size or path`);
        }
      }
      for (const [sha, line] of bySha) {
        if (!committed.has(sha)) {
          problem('line-without-state', line.where, `no committed state row for ${sha}`);
        }
      }
      hourState = { marks: await store.hourMarks(), closed: await store.closedHours() };
    } finally {
      await store.close();
    }

    for await (const { path: file, rel } of walk(duplicatesDir)) {
      const text = displayPath(file);
      if (rel.startsWith(`${TMP_DIR_NAME}/`)) {
        problem('temporary-file', text, 'a copy in progress was left behind');
        continue;
      }
      report.duplicateFiles += 1;
      const row = duplicates.get(pathKey(file));
      if (row === undefined) {
        problem('unrecorded-duplicate', text, 'no committed duplicate row names this file');
        continue;
      }
      let stat: fs.Stats;
      try {
        stat = await fs.promises.lstat(file);
      } catch (error) {
        // Removed since the directory was read: reported below as missing.
        if (!hasCode(error, 'ENOENT')) throw error;
        continue;
      }
      row.found = true;
      if (!stat.isFile() || stat.size !== row.size) {
        problem(
          'duplicate-mismatch',
          text,
          `has ${stat.size} bytes, state row ${row.id} says ${row.size}`,
        );
        continue;
      }
      if (options.rehash) {
        report.rehashed += 1;
        const actual = await sha256Of(file);
        if (actual !== row.sha256) {
          problem(
            'duplicate-mismatch',
            text,
            `hashes to ${actual}, state row ${row.id} says ${row.sha256}`,
          );
        }
      }
    }
    for (const row of duplicates.values()) {
      if (row.found) continue;
      problem(
        'duplicate-missing',
        `state row ${row.id}`,
        `duplicate ${displayPath(row.file)} does not exist`,
      );
    }
  }
  report.closedHours = hourFiles.successes.size;
  await verifyClosedHours(options.manifests, hourFiles, hourState, problem);
  const found = new Set(report.problems.map((p) => p.kind));
  for (const [kind, what] of Object.entries(PROBLEM_ADVICE) as [ProblemKind, string][]) {
    if (found.has(kind)) report.advice[kind] = what;
  }
  return report;
}

/** The human-readable report. */
export function formatVerifyReport(r: VerifyReport): string {
  const head = `verify: ${r.manifestFiles} manifest files, ${r.lines} lines, ${r.warehouseFiles} warehouse files, ${r.stateRows} state rows${r.rehashed > 0 ? `, ${r.rehashed} rehashed` : ''}; ${r.duplicateFiles} duplicate files${r.closedHours > 0 ? `; ${r.closedHours} closed hours` : ''}`;
  if (r.problems.length === 0) return `${head}\nverify: OK, no problems\n`;
  const lines = r.problems.map((p) => `${p.kind.padEnd(20)} ${p.where}: ${p.detail}`);
  const advice = Object.entries(r.advice).map(([kind, what]) => `  ${kind}: ${what}`);
  return `${head}\n${lines.join('\n')}\nverify: ${r.problems.length} problem(s); what to do:\n${advice.join('\n')}\n`;
}

/** `ingestor verify`: the report, as text or JSON, on stdout; exit 1 on any problem. */
export async function verifyCommand(o: VerifyCommandOptions): Promise<number> {
  const report = await verify(o.verify);
  process.stdout.write(o.json ? `${JSON.stringify(report)}\n` : formatVerifyReport(report));
  return report.problems.length === 0 ? EXIT.ok : EXIT.failure;
}
