// Entry point of the image worker thread (bundled as dist/imageWorker.js): runs one job per message, in order.

import { fstatSync, readSync } from 'node:fs';
import { constants, setPriority } from 'node:os';
import { parentPort } from 'node:worker_threads';
import { errorMessage } from '../errorMessage';
import { examine, runJob, type FileJob, type FileStatFields, type WorkerJob } from './imageJobs';

// Below the event loop's thread: on two cores, hashing a catalog while devices ask for it took the main thread's core
// for hundreds of ms, and in VS Code every extension waits with it. On Linux a nice value belongs to one thread (pid 0
// is the calling thread); elsewhere it would lower the whole process, so it is left alone there.
if (process.platform === 'linux') {
  try {
    setPriority(0, constants.priority.PRIORITY_BELOW_NORMAL);
  } catch {
    // not allowed here: the worker runs at the process's priority
  }
}

/**
 * Reads the file (blocking this thread only) and examines what was read. The bytes asked for go back moved: memory
 * of their own, never a slice of Node's pool, so nothing else travels with them.
 */
function examineFile({ fd, size, name, withBytes }: FileJob) {
  const bytes = Buffer.allocUnsafeSlow(size);
  let bytesRead = 0;
  while (bytesRead < size) {
    const n = readSync(fd, bytes, bytesRead, size - bytesRead, bytesRead);
    if (n === 0) break; // shorter than its stat said: the caller sees bytesRead and reads it again
    bytesRead += n;
  }
  // Stated right after the read, before the hashing: the caller compares it with its stat from before the read.
  const { dev, ino, size: sizeAfter, mtimeMs, ctimeMs, nlink } = fstatSync(fd);
  const after: FileStatFields = { dev, ino, size: sizeAfter, mtimeMs, ctimeMs, nlink };
  const data = bytes.subarray(0, bytesRead);
  const answer = { result: examine(data, name), md5: { passes: 1, bytes: bytesRead }, bytesRead, after };
  return withBytes ? { answer: { ...answer, bytes: data }, moved: [bytes.buffer] } : { answer, moved: [] };
}

parentPort?.on('message', ({ id, job }: { id: number; job: WorkerJob }) => {
  try {
    if (job.op === 'examineFile') {
      const { answer, moved } = examineFile(job);
      parentPort!.postMessage({ id, ...answer }, moved);
    } else parentPort!.postMessage({ id, ...runJob(job) });
  } catch (error) {
    // The code (EIO, EACCES) goes along: the catalog shows it for a file it cannot read.
    parentPort!.postMessage({ id, error: errorMessage(error), code: (error as NodeJS.ErrnoException).code });
  }
});
