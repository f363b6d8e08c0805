// Hashing and analysing image files off the main thread. Inside VS Code the server shares the extension host's event
// loop with every other extension; one MD5 + SHA-256 pass, CRC walk and gzip inflate of a 16 MB build holds it for
// 60 ms, the running-image MD5 variants of a 4 MB ESP8266 image (13 passes) for 100 ms. A worker thread does that
// work; the main thread only reads the file and posts a message. A file version's bytes are moved to the worker and
// back (their memory is transferred, never copied); bytes that stay in use meanwhile (the running-image variants of
// a version being served) are copied, or shared when they are in shared memory already.
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
import { asBuffer, runJob, type Examined, type ImageJob, type JobOutcome } from './imageJobs';

export interface ImageWorkOptions {
  /** Files up to this size are examined on the calling thread. */
  inThreadBytes?: number;
  /** Off: everything runs on the calling thread (tests of the fallback). */
  useWorker?: boolean;
  /** The worker script; by default imageWorker.js beside this module (dist/ in the bundles, out/ in tests). */
  workerPath?: string;
  logger?: Logger;
}

interface Pending {
  job: ImageJob;
  /** The job's bytes were moved to the worker: they come back with the answer, or are lost with the worker. */
  moved: boolean;
  resolve: (result: Examined | string[], bytes: Buffer | undefined) => void;
  reject: (error: Error) => void;
}

/** The worker died while it held bytes moved to it: read the file again. */
export class BytesLostError extends Error {}

const MAX_RESTARTS = 3;

/**
 * A buffer with memory of its own (never a slice of Node's pool), to read a file version into and move to the
 * worker with `examineOwned`. Shared memory would spare the move, but costs ten times more to allocate below 128 KB
 * (116 µs for 64 KB against 14 µs, on the main thread: a quarter of its time while 1000 images are indexed).
 */
export function ownedBuffer(size: number): Buffer {
  return Buffer.allocUnsafeSlow(size);
}

export class ImageWork {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private restarts = 0;
  private unavailable = false;
  private disposed = false;
  private readonly inThreadBytes: number;
  private readonly workerPath: string;
  private readonly logger: Logger;
  /** Jobs run in the worker and on the calling thread, and the MD5 work they took; test and benchmark figures. */
  readonly figures = { inWorker: 0, inThread: 0, md5Passes: 0, md5Bytes: 0 };

  constructor(options: ImageWorkOptions = {}) {
    this.inThreadBytes = options.inThreadBytes ?? 16 * 1024;
    this.workerPath = options.workerPath ?? join(__dirname, 'imageWorker.js');
    this.logger = options.logger ?? silentLogger;
    if (options.useWorker === false) this.unavailable = true;
  }

  /** MD5, SHA-256 and the classification of one file version's bytes (copied to the worker unless shared). */
  async examine(bytes: Buffer, name: string): Promise<Examined> {
    return (await this.run({ op: 'examine', bytes, name }, bytes.length, false)).result as Examined;
  }

  /**
   * The same for bytes made by `ownedBuffer`, moved to the worker and back instead of copied: `bytes` is unusable
   * until the answer comes, and the answer's `bytes` (the same memory) replaces it. Rejects with BytesLostError
   * when the worker dies holding them.
   */
  async examineOwned(bytes: Buffer, name: string): Promise<{ examined: Examined; bytes: Buffer }> {
    const { result, bytes: back } = await this.run({ op: 'examine', bytes, name }, bytes.length, true);
    return { examined: result as Examined, bytes: back ?? bytes };
  }

  /** Every MD5 a device running this image may report (see runningMd5.ts). */
  async runningMd5s(bytes: Buffer, info: ImageInfo): Promise<string[]> {
    return (await this.run({ op: 'runningMd5s', bytes, info }, bytes.length, false)).result as string[];
  }

  /** Starts the worker thread now (it takes tens of ms, off the loop), e.g. while a catalog's folders are read. */
  warm(): void {
    this.ensureWorker();
  }

  /** Ends the worker; jobs still in it finish on the calling thread. */
  async dispose(): Promise<void> {
    this.disposed = true;
    const worker = this.worker;
    this.worker = undefined;
    this.finishInThread();
    await worker?.terminate();
  }

  private run(
    job: ImageJob,
    size: number,
    move: boolean,
  ): Promise<{ result: Examined | string[]; bytes: Buffer | undefined }> {
    const worker = size > this.inThreadBytes ? this.ensureWorker() : undefined;
    if (!worker) return Promise.resolve({ result: this.inThread(job), bytes: undefined });
    const id = this.nextId++;
    // Shared memory needs no move; anything else is moved when the caller gave it up, else copied by postMessage.
    const moved = move && !(job.bytes.buffer instanceof SharedArrayBuffer);
    return new Promise((resolve, reject) => {
      this.pending.set(id, { job, moved, resolve: (result, bytes) => resolve({ result, bytes }), reject });
      this.figures.inWorker++;
      worker.ref(); // a job under way keeps the process alive; an idle worker never does
      worker.postMessage({ id, job, moved }, moved ? [job.bytes.buffer as ArrayBuffer] : []);
    });
  }

  private inThread(job: ImageJob): Examined | string[] {
    this.figures.inThread++;
    return this.count(runJob(job));
  }

  private count({ result, md5 }: JobOutcome): Examined | string[] {
    this.figures.md5Passes += md5.passes;
    this.figures.md5Bytes += md5.bytes;
    return result;
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
    worker.on('message', (message: { id: number; error?: string; bytes?: Uint8Array } & Partial<JobOutcome>) => {
      const pending = this.pending.get(message.id);
      if (!pending) return;
      this.pending.delete(message.id);
      if (this.pending.size === 0) worker.unref();
      if (message.error !== undefined) pending.reject(new Error(message.error));
      else pending.resolve(this.count(message as JobOutcome), message.bytes && asBuffer(message.bytes));
    });
    worker.on('error', (error) => this.lost(worker, errorMessage(error)));
    worker.on('exit', (code) => this.lost(worker, `it exited with code ${code}`));
    this.worker = worker;
    return worker;
  }

  /** The worker died: its jobs finish here, and the next job starts a new one (a few times). */
  private lost(worker: Worker, why: string): void {
    if (this.worker !== worker) return;
    this.worker = undefined;
    if (this.disposed) return;
    if (++this.restarts > MAX_RESTARTS) this.giveUp(`it stopped ${this.restarts} times, last: ${why}`);
    else this.logger.warn(`image worker stopped (${why}); starting a new one`);
    this.finishInThread();
  }

  private finishInThread(): void {
    for (const [id, pending] of this.pending) {
      this.pending.delete(id);
      if (pending.moved) {
        pending.reject(new BytesLostError('the image worker stopped while it held the bytes'));
        continue;
      }
      try {
        pending.resolve(this.inThread(pending.job), undefined);
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
