// What a read lease costs per file: open + fstat + close, with and without F_SETLEASE and two
// F_GETLEASE checks, over 20,000 files of 4 KiB from the page cache. docs/DESIGN.md quotes it.
//   node scripts/lease-cost.mjs
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';

const native = createRequire(import.meta.url)('../build/Release/ingestor_fcntl.node');
process.on('SIGIO', () => {}); // a lease break must not end the process
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lease-cost-'));
const N = 20_000;
for (let i = 0; i < N; i += 1) fs.writeFileSync(path.join(dir, `f${i}`), 'x'.repeat(4096));

function perFile(lease) {
  const started = process.hrtime.bigint();
  for (let i = 0; i < N; i += 1) {
    const fd = fs.openSync(path.join(dir, `f${i}`), 'r');
    fs.fstatSync(fd);
    if (lease) {
      native.setLease(fd, native.F_RDLCK);
      native.getLease(fd);
      native.getLease(fd);
    }
    fs.closeSync(fd);
  }
  return Number(process.hrtime.bigint() - started) / N / 1000;
}

for (let run = 0; run < 3; run += 1) {
  const plain = perFile(false);
  const leased = perFile(true);
  console.log(
    `plain ${plain.toFixed(2)} µs/file, with a lease and two checks ${leased.toFixed(2)} µs/file`,
  );
}
fs.rmSync(dir, { recursive: true });
