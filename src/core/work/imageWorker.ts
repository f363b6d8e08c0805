// Entry point of the image worker thread (bundled as dist/imageWorker.js): runs one job per message, in order.

import { parentPort } from 'node:worker_threads';
import { errorMessage } from '../errorMessage';
import { runJob, type ImageJob } from './imageJobs';

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
