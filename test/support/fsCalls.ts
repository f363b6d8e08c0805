// Counts the catalog's disk calls: node:fs's `promises` is the very object node:fs/promises exports, which the
// catalog calls, so a test can wrap its lstat for the length of one step.

import { promises as fs } from 'node:fs';

type Lstat = typeof fs.lstat;
const promises = fs as { lstat: Lstat };

/** Counts lstat calls below `root` while `run` runs. */
export async function lstatsDuring(root: string, run: () => Promise<void>): Promise<number> {
  const original = promises.lstat;
  let calls = 0;
  promises.lstat = ((file: Parameters<Lstat>[0], ...rest: unknown[]) => {
    if (String(file).startsWith(root)) calls++;
    return (original as (...args: unknown[]) => ReturnType<Lstat>)(file, ...rest);
  }) as Lstat;
  try {
    await run();
  } finally {
    promises.lstat = original;
  }
  return calls;
}
