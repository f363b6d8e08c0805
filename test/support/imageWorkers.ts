// Image worker scripts for the tests of a worker that dies, written into a folder the test owns and removes.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** The real worker as the tests build it (out/src/core/work/imageWorker.js). */
const REAL_WORKER = join(__dirname, '..', '..', 'src', 'core', 'work', 'imageWorker.js');

/** A worker script that exits at its first job, every time one is started. */
export function dyingWorker(dir: string): string {
  const script = join(dir, 'dying.js');
  writeFileSync(script, "require('node:worker_threads').parentPort.once('message', () => process.exit(3));\n");
  return script;
}

/** A worker script that exits at its first job once; the workers started after it are the real one. */
export function workerDyingOnce(dir: string): string {
  const flag = JSON.stringify(join(dir, 'died'));
  const script = join(dir, 'dies-once.js');
  writeFileSync(
    script,
    `const fs = require('node:fs');
     if (fs.existsSync(${flag})) require(${JSON.stringify(REAL_WORKER)});
     else require('node:worker_threads').parentPort.once('message', () => { fs.writeFileSync(${flag}, ''); process.exit(3); });\n`,
  );
  return script;
}

/** A copy of `data` in shared memory: what a worker reads without a copy of its own. */
export function inSharedMemory(data: Buffer): Buffer {
  const copy = Buffer.from(new SharedArrayBuffer(data.length));
  data.copy(copy);
  return copy;
}

/** The real worker, but the first file it reads gets a byte appended (by `file`'s path) right after its first read. */
export function workerWritingDuringRead(dir: string, file: string): string {
  const script = join(dir, 'writes-during-read.js');
  writeFileSync(
    script,
    `const fs = require('node:fs');
     const read = fs.readSync;
     let written = false;
     fs.readSync = (...args) => {
       const n = read(...args);
       if (!written) { written = true; fs.appendFileSync(${JSON.stringify(file)}, 'x'); }
       return n;
     };
     require(${JSON.stringify(REAL_WORKER)});\n`,
  );
  return script;
}

/** A worker script whose every job blocks its thread in a system call for `seconds` (a read from a share that hangs). */
export function hangingWorker(dir: string, seconds: number): string {
  const script = join(dir, 'hangs.js');
  writeFileSync(
    script,
    `require('node:worker_threads').parentPort.on('message', () => require('node:child_process').execSync('sleep ${seconds}'));\n`,
  );
  return script;
}
