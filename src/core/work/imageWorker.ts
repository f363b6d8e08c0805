// Entry point of the image worker thread (bundled as dist/imageWorker.js): runs one job per message, in order.

import { constants, setPriority } from 'node:os';
import { parentPort } from 'node:worker_threads';
import { errorMessage } from '../errorMessage';
import { runJob, type ImageJob } from './imageJobs';

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

// Bytes moved here (`moved`) go back with the answer, their memory transferred again: the caller serves from them.
parentPort?.on('message', ({ id, job, moved }: { id: number; job: ImageJob; moved?: boolean }) => {
  const back = moved ? [job.bytes.buffer as ArrayBuffer] : [];
  const bytes = moved ? job.bytes : undefined;
  try {
    parentPort!.postMessage({ id, ...runJob(job), bytes }, back);
  } catch (error) {
    parentPort!.postMessage({ id, error: errorMessage(error), bytes }, back);
  }
});
