// The image work that may run off the main thread: what a worker and the in-thread fallback both compute, from the
// same pure functions, so that where it ran never changes a digest or a verdict.

import { analyzeImage } from '../firmware/analyzeImage';
import { digests, type Digests } from '../firmware/imageDigests';
import type { ImageInfo } from '../firmware/imageInfo';
import { runningImageMd5s, type HashMeter } from '../firmware/runningMd5';

export interface Examined extends Digests {
  info: ImageInfo;
}

export type ImageJob =
  { op: 'examine'; bytes: Uint8Array; name: string } | { op: 'runningMd5s'; bytes: Uint8Array; info: ImageInfo };

/** A job only the worker runs: read `size` bytes of an open file from its start, then examine them. */
export interface FileJob {
  op: 'examineFile';
  fd: number;
  size: number;
  name: string;
  /** Send the bytes back (moved): the caller serves them. */
  withBytes: boolean;
}

export type WorkerJob = ImageJob | FileJob;

/**
 * The fields of a stat that tell a file version (imageStore.ts keys versions by them): any Stats has them, and the
 * worker's fstat after a read sends just these to the calling thread.
 */
export interface FileStatFields {
  dev: number;
  ino: number;
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  nlink: number;
}

export function examine(bytes: Uint8Array, name: string): Examined {
  const buffer = asBuffer(bytes);
  return { ...digests(buffer), info: analyzeImage(buffer, name) };
}

export interface JobOutcome {
  result: Examined | string[];
  /** The MD5 work it took (the hash benchmark counts it wherever it ran). */
  md5: HashMeter;
}

export function runJob(job: ImageJob): JobOutcome {
  if (job.op === 'examine')
    return { result: examine(job.bytes, job.name), md5: { passes: 1, bytes: job.bytes.length } };
  const md5 = { passes: 0, bytes: 0 };
  return { result: runningImageMd5s(asBuffer(job.bytes), job.info, md5), md5 };
}

/** A Buffer over the same memory (a Uint8Array arrives from a worker message; no copy). */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
