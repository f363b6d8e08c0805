// Hashing and analysing image files off the main thread. Inside VS Code the server shares the extension host's event
// loop with every other extension; one MD5 + SHA-256 pass, CRC walk and gzip inflate of a 16 MB build holds it for
// 60 ms, the running-image MD5 variants of a 4 MB ESP8266 image (13 passes) for 100 ms. A worker thread does that
// work. A new file version is also read there, from the descriptor the main thread opened and proved inside the
// catalog: the main thread then neither reads nor holds the bytes of a version it only indexes (1000 images of
// 64 KB were 64 MB through its heap, and the collections that came with them), and the bytes of a version it
// serves come back moved, never copied. Bytes the main thread already holds (the running-image variants of a version
// being served) are copied to the worker, or shared when they are in shared memory already.
//
// Small files are examined in place (a message costs about as much as the work). Where the worker cannot run (its
// script is missing, it crashed three times), the same functions run on the calling thread: where it ran never
// changes a digest or a verdict, only how long the loop is held.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { errorMessage } from '../errorMessage';
import type { ImageInfo } from '../firmware/imageInfo';
import { silentLogger, type Logger } from '../log';
import {
  asBuffer,
  runJob,
  type Examined,
  type FileStatFields,
  type ImageJob,
  type JobOutcome,
  type WorkerJob,
} from './imageJobs';

export interface ImageWorkOptions {
  /** Files up to this size are examined on the calling thread. */
  inThreadBytes?: number;
  /** Off: everything runs on the calling thread (tests of the fallback). */
  useWorker?: boolean;
  /** The worker script; by default imageWorker.js beside this module (dist/ in the bundles, out/ in tests). */
  workerPath?: string;
  /** A worker with jobs that has not answered for this long is given up (see ANSWER_TIMEOUT_MS). */
  answerTimeoutMs?: number;
  logger?: Logger;
}

interface Pending {
  job: WorkerJob;
  resolve: (answer: WorkerAnswer) => void;
  reject: (error: Error) => void;
}

/** What the worker answers: a job's outcome, and for a file job what it read (`bytes` when they were asked for). */
interface WorkerAnswer extends JobOutcome {
  bytesRead?: number;
  bytes?: Uint8Array;
  after?: FileStatFields;
}

/** The worker died during a file job: read and examine the file some other way. */
export class WorkerLostError extends Error {}

/** A file version read and examined in the worker. */
export interface ExaminedFile {
  examined: Examined;
  /** How many bytes the worker read: less than asked when the file shrank meanwhile (then nothing here is valid). */
  bytesRead: number;
  /** The bytes read, when asked for: the exact bytes the digests were made from. */
  bytes?: Buffer;
  /** The descriptor's fstat right after the read (the fields that tell a file version). */
  after: FileStatFields;
}

const MAX_RESTARTS = 3;

/**
 * The worker reads files with blocking calls: a file on a network share or a cloud drive that does not answer holds
 * it, and every job queued behind. A worker that has not answered for this long while it has jobs is given up: its
 * jobs finish here (a file job is read by the caller), the next job starts a new worker, and the stuck thread ends
 * when its call returns. A 32 MB image is hashed and analysed in well under a second.
 */
const ANSWER_TIMEOUT_MS = 30_000;

/** How long stopping waits for a worker to end: one stuck in a blocking read cannot end before the read does. */
const TERMINATE_WAIT_MS = 2000;

export class ImageWork {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private restarts = 0;
  private unavailable = false;
  private disposed = false;
  private readonly inThreadBytes: number;
  private readonly answerTimeoutMs: number;
  /** Runs while the worker has jobs; restarted by every answer (see ANSWER_TIMEOUT_MS). */
  private watchdog: NodeJS.Timeout | undefined;
  private readonly workerPath: string;
  private readonly logger: Logger;
  /** Jobs run in the worker and on the calling thread, and the MD5 work they took; test and benchmark figures. */
  readonly figures = { inWorker: 0, inThread: 0, md5Passes: 0, md5Bytes: 0 };

  constructor(options: ImageWorkOptions = {}) {
    this.inThreadBytes = options.inThreadBytes ?? 16 * 1024;
    this.answerTimeoutMs = options.answerTimeoutMs ?? ANSWER_TIMEOUT_MS;
    this.workerPath = options.workerPath ?? join(__dirname, 'imageWorker.js');
    this.logger = options.logger ?? silentLogger;
    if (options.useWorker === false) this.unavailable = true;
  }

  /** MD5, SHA-256 and the classification of one file version's bytes (copied to the worker unless shared). */
  async examine(bytes: Buffer, name: string): Promise<Examined> {
    return (await this.run({ op: 'examine', bytes, name }, bytes.length)).result as Examined;
  }

  /**
   * Reads `size` bytes of an open file from its start and examines them, both in the worker; with `withBytes` the
   * bytes come back too (moved). Undefined when the worker does not take it (a small file, no worker): read and
   * examine on this thread. Rejects with WorkerLostError when the worker dies during the job. The descriptor must
   * stay open until this settles; the caller checks afterwards that the file did not change while it was read.
   */
  async examineFile(fd: number, size: number, name: string, withBytes: boolean): Promise<ExaminedFile | undefined> {
    if (size <= this.inThreadBytes || !this.ensureWorker()) return undefined;
    const answer = await this.run({ op: 'examineFile', fd, size, name, withBytes }, size);
    return {
      examined: answer.result as Examined,
      bytesRead: answer.bytesRead ?? 0,
      bytes: answer.bytes && asBuffer(answer.bytes),
      after: answer.after!,
    };
  }

  /** Every MD5 a device running this image may report (see runningMd5.ts). */
  async runningMd5s(bytes: Buffer, info: ImageInfo): Promise<string[]> {
    return (await this.run({ op: 'runningMd5s', bytes, info }, bytes.length)).result as string[];
  }

  /** Starts the worker thread now (it takes tens of ms, off the loop), e.g. while a catalog's folders are read. */
  warm(): void {
    this.ensureWorker();
  }

  /** Ends the worker; jobs still in it finish on the calling thread. */
  async dispose(): Promise<void> {
    this.disposed = true;
    this.stopWatchdog();
    const worker = this.worker;
    this.worker = undefined;
    this.finishInThread();
    if (!worker) return;
    worker.unref(); // a worker stuck in a read must not keep the process (the CLI, the extension host) alive
    let waited: NodeJS.Timeout | undefined;
    await Promise.race([
      worker.terminate(),
      new Promise((resolve) => (waited = setTimeout(resolve, TERMINATE_WAIT_MS).unref())),
    ]);
    clearTimeout(waited);
  }

  private run(job: WorkerJob, size: number): Promise<WorkerAnswer> {
    const worker = size > this.inThreadBytes ? this.ensureWorker() : undefined;
    if (!worker) {
      if (job.op === 'examineFile') return Promise.reject(new WorkerLostError('the image worker stopped'));
      return Promise.resolve(this.inThread(job));
    }
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { job, resolve, reject });
      this.figures.inWorker++;
      worker.ref(); // a job under way keeps the process alive; an idle worker never does
      this.watchdog ??= this.startWatchdog(worker);
      worker.postMessage({ id, job }); // bytes not in shared memory are copied: the caller keeps using them
    });
  }

  private inThread(job: ImageJob): WorkerAnswer {
    this.figures.inThread++;
    const outcome = runJob(job);
    this.count(outcome);
    return outcome;
  }

  private count({ md5 }: JobOutcome): void {
    this.figures.md5Passes += md5.passes;
    this.figures.md5Bytes += md5.bytes;
  }

  private ensureWorker(): Worker | undefined {
    if (this.worker) return this.worker;
    if (this.unavailable || this.disposed) return undefined;
    if (!existsSync(this.workerPath)) return this.giveUp(`its script ${this.workerPath} is missing`);
    let worker: Worker;
    try {
      worker = new Worker(this.workerPath);
    } catch (error) {
      return this.giveUp(errorMessage(error));
    }
    worker.unref();
    worker.on('message', (message: { id: number; error?: string; code?: string } & Partial<WorkerAnswer>) => {
      const pending = this.pending.get(message.id);
      if (!pending) return;
      this.pending.delete(message.id);
      this.stopWatchdog();
      if (this.pending.size === 0) worker.unref();
      else this.watchdog = this.startWatchdog(worker);
      if (message.error !== undefined)
        return pending.reject(Object.assign(new Error(message.error), { code: message.code }));
      this.count(message as WorkerAnswer);
      pending.resolve(message as WorkerAnswer);
    });
    worker.on('error', (error) => this.lost(worker, errorMessage(error)));
    worker.on('exit', (code) => this.lost(worker, `it exited with code ${code}`));
    this.worker = worker;
    return worker;
  }

  /** Gives the worker up when it has not answered for answerTimeoutMs (see ANSWER_TIMEOUT_MS). */
  private startWatchdog(worker: Worker): NodeJS.Timeout {
    return setTimeout(() => {
      this.watchdog = undefined;
      const seconds = Math.round(this.answerTimeoutMs / 1000);
      this.lost(worker, `it did not answer for ${seconds} s, maybe a file read that hangs`);
      worker.unref();
      void worker.terminate(); // ends when its blocking call returns; its answers are no one's any more
    }, this.answerTimeoutMs).unref();
  }

  private stopWatchdog(): void {
    clearTimeout(this.watchdog);
    this.watchdog = undefined;
  }

  /** The worker died: its jobs finish here, and the next job starts a new one (a few times). */
  private lost(worker: Worker, why: string): void {
    if (this.worker !== worker) return;
    this.stopWatchdog();
    this.worker = undefined;
    if (this.disposed) return;
    if (++this.restarts > MAX_RESTARTS) this.giveUp(`it stopped ${this.restarts} times, last: ${why}`);
    else this.logger.warn(`image worker stopped (${why}); starting a new one`);
    this.finishInThread();
  }

  private finishInThread(): void {
    for (const [id, pending] of this.pending) {
      this.pending.delete(id);
      // A file job is not read on this thread: the caller reads it the way it reads small files.
      if (pending.job.op === 'examineFile') {
        pending.reject(new WorkerLostError('the image worker stopped while it read the file'));
        continue;
      }
      try {
        pending.resolve(this.inThread(pending.job));
      } catch (error) {
        pending.reject(error instanceof Error ? error : new Error(String(error)));
      }
    }
  }

  private giveUp(why: string): undefined {
    this.unavailable = true;
    this.logger.warn(`image worker unavailable (${why}): images are hashed and analysed on the main thread`);
    return undefined;
  }
}
