// Counts the catalog's disk calls: node:fs's `promises` is the very object node:fs/promises exports, which the
// catalog calls, so a test can wrap its lstat for the length of one step.

import { promises as fs } from 'node:fs';

type Lstat = typeof fs.lstat;
const promises = fs as { lstat: Lstat };

/** Counts lstat calls below `root` while `run` runs. */
export function lstatsDuring(root: string, run: () => Promise<void>): Promise<number> {
  return lstatsOf((file) => file.startsWith(root), run);
}

/** Counts lstat calls of the paths `counted` picks while `run` runs (a folder read through /proc/self/fd too). */
export async function lstatsOf(counted: (file: string) => boolean, run: () => Promise<void>): Promise<number> {
  const original = promises.lstat;
  let calls = 0;
  promises.lstat = ((file: Parameters<Lstat>[0], ...rest: unknown[]) => {
    if (counted(String(file))) calls++;
    return (original as (...args: unknown[]) => ReturnType<Lstat>)(file, ...rest);
  }) as Lstat;
  try {
    await run();
  } finally {
    promises.lstat = original;
  }
  return calls;
}
