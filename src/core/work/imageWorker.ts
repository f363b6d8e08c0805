// Entry point of the image worker thread (bundled as dist/imageWorker.js): runs one job per message, in order.

import { parentPort } from 'node:worker_threads';
import { errorMessage } from '../errorMessage';
import { runJob, type ImageJob } from './imageJobs';

parentPort?.on('message', ({ id, job }: { id: number; job: ImageJob }) => {
  try {
    parentPort!.postMessage({ id, ...runJob(job) });
  } catch (error) {
    parentPort!.postMessage({ id, error: errorMessage(error) });
  }
});
