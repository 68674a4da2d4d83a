#!/usr/bin/env bash
# End-to-end simulation with the built binary: a slow copy, a .tmp -> .csv rename, a duplicate
# resend, a cross-filesystem move (warehouse on its own tmpfs) and sidecar mode. Each outcome is
# checked; any difference exits non-zero. Needs root (for the tmpfs mount), as CI runs.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN="$ROOT/dist/bin/ingestor.js"
[[ -x "$BIN" ]] || { echo "simulate: $BIN is missing; run npm run build" >&2; exit 1; }

WORK=$(mktemp -d /tmp/ingestor-simulate.XXXXXX)
DAEMON_PID=""
cleanup() {
  [[ -n "$DAEMON_PID" ]] && kill -9 "$DAEMON_PID" 2>/dev/null || true
  mountpoint -q "$WORK/tmpfs" 2>/dev/null && umount "$WORK/tmpfs"
  rm -rf "$WORK"
}
trap cleanup EXIT

fail() { echo "simulate: FAIL: $*" >&2; for f in "$WORK"/*.log; do [[ -f $f ]] && { echo "--- $f" >&2; tail -20 "$f" >&2; }; done; exit 1; }
ok() { echo "simulate: ok: $*"; }

# check DIR WAREHOUSE MANIFESTS SHA... : exactly these contents, each once, with one line each.
check() {
  local input=$1 warehouse=$2 manifests=$3; shift 3
  node --input-type=module - "$input" "$warehouse" "$manifests" "$@" <<'JS' || fail "check of $warehouse"
import fs from 'node:fs'; import path from 'node:path'; import crypto from 'node:crypto';
const [input, warehouse, manifests, ...expected] = process.argv.slice(2);
const walk = (d) => fs.existsSync(d) ? fs.readdirSync(d, { withFileTypes: true }).flatMap((e) =>
  e.isDirectory() ? walk(path.join(d, e.name)) : [path.join(d, e.name)]) : [];
const problems = [];
const lines = walk(manifests).filter((f) => f.endsWith('manifest.jsonl'))
  .flatMap((f) => fs.readFileSync(f, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)));
const shas = lines.map((l) => l.sha256);
if (new Set(shas).size !== shas.length) problems.push('a content has two manifest lines');
if ([...shas].sort().join() !== [...expected].sort().join()) problems.push(`manifest holds ${shas}, expected ${expected}`);
const parts = walk(warehouse).filter((f) => path.relative(warehouse, f).startsWith('ingest_date='));
const got = parts.map((f) => crypto.createHash('sha256').update(fs.readFileSync(f)).digest('hex'));
if ([...got].sort().join() !== [...expected].sort().join()) problems.push(`warehouse holds ${got}, expected ${expected}`);
for (const l of lines) if (fs.statSync(l.warehouse_path).size !== l.size) problems.push(`size of ${l.warehouse_path}`);
const left = walk(input).filter((f) => !path.basename(f).startsWith('.') && !f.endsWith('.ok'));
if (left.length) problems.push(`left in input: ${left}`);
if (walk(path.join(warehouse, '.ingestor-tmp')).length) problems.push('temporary copies left');
if (problems.length) { console.error(problems.join('\n')); process.exit(1); }
JS
}

sha() { sha256sum "$1" | cut -d' ' -f1; }
manifest_count() { cat "$1"/*/*/*/*/manifest.jsonl 2>/dev/null | grep -c . || true; }
has_lines() { [[ $(manifest_count "$1") -ge $2 ]]; }      # evaluated on every poll
has_files() { [[ -n $(find "$1" -type f 2>/dev/null) ]]; }
wait_until() { # seconds command...
  local limit=$1; shift; local end=$((SECONDS + limit))
  until "$@"; do (( SECONDS < end )) || return 1; sleep 0.2; done
}

start_daemon() { # name args...
  local name=$1; shift
  node "$BIN" "$@" >"$WORK/$name.log" 2>&1 &
  DAEMON_PID=$!
  wait_until 10 grep -q 'ingestor started' "$WORK/$name.log" || fail "$name daemon did not start"
}
stop_daemon() {
  kill -TERM "$DAEMON_PID"; local rc=0; wait "$DAEMON_PID" || rc=$?
  DAEMON_PID=""
  [[ $rc -eq 0 ]] || fail "daemon exited $rc after SIGTERM"
}

# 1. Same filesystem, daemon running: slow copy, .tmp rename, duplicate resend.
S="$WORK/same"; mkdir -p "$S/in"
start_daemon same --input "$S/in" --warehouse "$S/wh" --manifests "$S/mf" --stability-seconds 1 --scan-interval 2
for i in 1 2 3 4 5 6; do
  head -c 100000 /dev/urandom >>"$S/in/slow.csv"; sleep 0.4
  [[ -z $(find "$S/wh" -name slow.csv 2>/dev/null) ]] || fail "slow.csv was ingested mid-write"
done
SLOW=$(sha "$S/in/slow.csv"); cp "$S/in/slow.csv" "$WORK/slow.copy"
for i in 1 2 3; do head -c 50000 /dev/urandom >>"$S/in/x.csv.tmp"; sleep 0.5; done
TMPSHA=$(sha "$S/in/x.csv.tmp")
mv "$S/in/x.csv.tmp" "$S/in/x.csv"
wait_until 20 has_lines "$S/mf" 2 || fail "slow copy and rename were not ingested"
cp "$WORK/slow.copy" "$S/in/resent-under-new-name.csv"
wait_until 20 has_files "$S/wh/_duplicates" || fail "duplicate was not set aside"
stop_daemon
check "$S/in" "$S/wh" "$S/mf" "$SLOW" "$TMPSHA"
grep -q '"event":"duplicate"' "$WORK/same.log" || fail "no duplicate log line"
ok "slow copy ingested once, whole; .tmp rename ingested once; duplicate resend set aside, not re-ingested"

# 2. Warehouse on another filesystem (tmpfs): copy + fsync + rename.
X="$WORK/cross"; mkdir -p "$X/in" "$WORK/tmpfs"
mount -t tmpfs -o size=256m tmpfs "$WORK/tmpfs" || fail "cannot mount tmpfs (needs root)"
head -c 20000000 /dev/urandom >"$X/in/big.bin"; head -c 1000 /dev/urandom >"$X/in/small.csv"
chmod 640 "$X/in/big.bin"; touch -d '2 minutes ago' "$X/in/big.bin" "$X/in/small.csv"
BIG=$(sha "$X/in/big.bin"); SMALL=$(sha "$X/in/small.csv"); MTIME=$(stat -c %Y "$X/in/big.bin")
node "$BIN" --input "$X/in" --warehouse "$WORK/tmpfs/wh" --manifests "$X/mf" --once --stability-seconds 1 >"$WORK/cross.log" 2>&1 || fail "--once across filesystems failed"
check "$X/in" "$WORK/tmpfs/wh" "$X/mf" "$BIG" "$SMALL"
DEST=$(find "$WORK/tmpfs/wh" -name big.bin)
[[ $(stat -c %a "$DEST") == 640 && $(stat -c %Y "$DEST") == "$MTIME" ]] || fail "mode or mtime not kept across filesystems"
ok "cross-filesystem move: contents, mode and mtime kept; no temporary left"

# 3. Sidecar mode: nothing without <name>.ok; the .ok is removed after commit.
C="$WORK/sidecar"; mkdir -p "$C/in"
start_daemon sidecar --input "$C/in" --warehouse "$C/wh" --manifests "$C/mf" --mode sidecar --scan-interval 1
head -c 3000 /dev/urandom >"$C/in/a.csv"; touch -d '1 hour ago' "$C/in/a.csv"
sleep 2
[[ $(manifest_count "$C/mf") -eq 0 ]] || fail "a.csv was ingested without a.csv.ok"
A=$(sha "$C/in/a.csv"); touch "$C/in/a.csv.ok"
wait_until 20 has_lines "$C/mf" 1 || fail "a.csv was not ingested after a.csv.ok"
wait_until 5 test ! -e "$C/in/a.csv.ok" || fail "a.csv.ok was not removed"
touch "$C/in/orphan.ok"; sleep 1.5
[[ -e "$C/in/orphan.ok" ]] || fail "an .ok without data was not left alone"
stop_daemon
check "$C/in" "$C/wh" "$C/mf" "$A"
ok "sidecar: ingested only after .ok, .ok removed, orphan .ok left alone"

echo "simulate: all scenarios passed"
