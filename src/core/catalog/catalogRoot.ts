// Everything the catalog lists or serves is opened through here, and proven to be inside the catalog folder after it
// was opened, not before: a check on the path and a later open(path) can be told two different files, when a file or
// a folder on the way is swapped for a symbolic link in between (a rename is atomic and takes microseconds).
//
// The proof, per platform, from what Node offers on each:
// - The last component is opened with O_NOFOLLOW (Linux, macOS): a link swapped in for the file itself fails the
//   open (ELOOP) instead of being followed. Windows has no such flag; step 3 catches it there.
// - O_NONBLOCK: a FIFO swapped in for a file does not block a thread-pool thread waiting for a writer.
// - 1. fstat of the opened descriptor: only a regular file (or, for folders, a folder) is accepted.
// - 2. An lstat walk from the catalog root: the root is still the folder it was, and every folder on the way is a
//      real folder, not a link. Closes a folder swapped for a link before the open (the walk sees the link).
// - 3. lstat of the path names the very file that was opened (same dev and ino, not a link). Closes a link swapped in
//      or out between the open and the walk (the identities differ), and, on Windows, a link followed by the open.
// - 4. On Linux the kernel tells where the opened descriptor really is (/proc/self/fd/N); it must be below the root.
//      Closes the last window of steps 2-3: a folder on the way that was a link at the open, a folder again for its
//      lstat and a link again for the file's lstat. macOS and Windows have no such query in Node (F_GETPATH,
//      GetFinalPathNameByHandle); there that window stays, and it needs someone who can rename inside the catalog
//      twice within the microseconds between two lstat calls.
// Folders are listed through the same proof: on Linux the folder is opened and read through its descriptor
// (/proc/self/fd/N is the folder itself, whatever its path now names), elsewhere the walk runs before and after
// the folder is read.
//
// Links inside the catalog that stay inside are followed by the catalog when it indexes them (realpath), and their
// target is then opened here by its own path, which has no link in it.

import { constants, type BigIntStats, type Stats } from 'node:fs';
import { lstat, open, readlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { isInside } from '../paths';

// Absent on Windows (0 leaves the flag out).
const NOFOLLOW = constants.O_NOFOLLOW ?? 0;
const NONBLOCK = constants.O_NONBLOCK ?? 0;
const DIRECTORY = constants.O_DIRECTORY ?? 0;
const FILE_FLAGS = constants.O_RDONLY | NOFOLLOW | NONBLOCK;

/** Whatever was reached is not (or no longer) inside the catalog, or is not a kind of file the catalog reads. */
export class NotInsideError extends Error {
  readonly code = 'ENOTINSIDE';
  /** The catalog-relative path where the proof failed ('' for the root), when it was a folder or file on the way. */
  constructor(
    message: string,
    readonly at?: string,
  ) {
    super(message);
  }
}

/** The path names another file than the one opened (replaced by a rename, or a link swapped in and out). */
class SwappedError extends NotInsideError {}

/** A folder ready to be read: `base` is the path to read it and its children by. */
export interface OpenFolder {
  base: string;
  stats: Stats;
  /** Resolves when the folder is still the one opened and still inside; rejects with NotInsideError otherwise. */
  verify(): Promise<void>;
  close(): Promise<void>;
}

export class CatalogRoot {
  private rootStats: BigIntStats | undefined;
  private procFd = process.platform === 'linux';

  /** `real` is the catalog folder's real path (no link in it). */
  constructor(readonly real: string) {}

  /** Remembers which folder the root is; later checks insist it is still that one. */
  async open(): Promise<void> {
    this.rootStats = await lstat(this.real, { bigint: true });
  }

  abs(rel: string): string {
    return rel === '' ? this.real : join(this.real, ...rel.split('/'));
  }

  /** The catalog-relative posix path of an absolute path inside the root. */
  relOf(abs: string): string | undefined {
    if (abs === this.real) return '';
    if (!isInside(this.real, abs)) return undefined;
    return abs
      .slice(this.real.length + 1)
      .split(/[\\/]/)
      .join('/');
  }

  /**
   * Opens a regular file by its catalog-relative path (with no link in it) and proves it inside. Rejects with
   * NotInsideError, or with the open's own error (ENOENT when it is gone).
   */
  async openFile(rel: string): Promise<FileHandle> {
    // A build published by renaming a new file over the old one between the open and the walk looks like a swap:
    // open again, and the new file is proven instead. A swap that keeps coming back is refused.
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.openFileOnce(rel);
      } catch (error) {
        if (!(error instanceof SwappedError) || attempt === 3) throw error;
      }
    }
  }

  private async openFileOnce(rel: string): Promise<FileHandle> {
    const handle = await open(this.abs(rel), FILE_FLAGS).catch((error: NodeJS.ErrnoException) => {
      // ELOOP (Linux, macOS) or EMLINK (BSD): the last component is a link now.
      if (error.code === 'ELOOP' || error.code === 'EMLINK') throw new NotInsideError(`${rel} became a link`, rel);
      throw error;
    });
    try {
      const opened = await handle.stat({ bigint: true });
      if (!opened.isFile()) throw new NotInsideError(`${rel} is ${kindOf(opened)}, not a regular file`);
      await this.walk(rel, opened);
      await this.checkDescriptor(handle.fd, rel);
      return handle;
    } catch (error) {
      await handle.close().catch(() => undefined);
      throw error;
    }
  }

  /** The folder's own lstat, after the walk proved it (and every folder above it) a real folder inside the root. */
  async statFolder(rel: string): Promise<Stats> {
    await this.walk(rel, undefined);
    const stats = await lstat(this.abs(rel));
    if (stats.isSymbolicLink() || !stats.isDirectory()) {
      throw new NotInsideError(`${rel} is no longer a real folder`, rel);
    }
    return stats;
  }

  /** Opens a folder to read it; see OpenFolder. */
  async openFolder(rel: string): Promise<OpenFolder> {
    if (this.procFd) {
      const handle = await open(this.abs(rel), constants.O_RDONLY | DIRECTORY | NOFOLLOW | NONBLOCK).catch(
        (error: NodeJS.ErrnoException) => {
          if (error.code === 'ELOOP' || error.code === 'ENOTDIR') {
            throw new NotInsideError(`${rel} is not a real folder`, rel);
          }
          throw error;
        },
      );
      try {
        const opened = await handle.stat({ bigint: true });
        if (!opened.isDirectory()) throw new NotInsideError(`${rel} is not a real folder`, rel);
        if (rel !== '') await this.walk(rel, opened);
        else this.checkRoot(opened);
        if (await this.checkDescriptor(handle.fd, rel)) {
          // Reading through the descriptor reads the folder that was proven, whatever its path names meanwhile.
          const base = `/proc/self/fd/${handle.fd}`;
          const stats = await handle.stat();
          return { base, stats, verify: () => Promise.resolve(), close: () => handle.close() };
        }
      } catch (error) {
        await handle.close().catch(() => undefined);
        throw error;
      }
      await handle.close();
      this.procFd = false; // no /proc here (a container without it): fall back to the walk
    }
    const stats = await this.statFolder(rel);
    return {
      base: this.abs(rel),
      stats,
      // The folder was read by path: prove it is still the same real folder after reading it.
      verify: async () => {
        const after = await this.statFolder(rel);
        if (after.dev !== stats.dev || after.ino !== stats.ino) throw new NotInsideError(`${rel} was replaced`, rel);
      },
      close: () => Promise.resolve(),
    };
  }

  /** Steps 2 and 3 (see the top): every folder on the way is real, and the last component is `opened`. */
  private async walk(rel: string, opened: BigIntStats | undefined): Promise<void> {
    const segments = rel === '' ? [] : rel.split('/');
    const paths = segments.map((_, index) => join(this.real, ...segments.slice(0, index + 1)));
    const [root, ...rest] = await Promise.all(
      [this.real, ...paths].map((path) => lstat(path, { bigint: true }).catch(() => undefined)),
    );
    if (!root) throw new NotInsideError('the catalog folder is gone', '');
    this.checkRoot(root);
    for (const [index, stats] of rest.entries()) {
      const isLast = index === rest.length - 1;
      const name = segments.slice(0, index + 1).join('/');
      if (!stats) throw Object.assign(new Error(`${name} is gone`), { code: 'ENOENT' });
      if (stats.isSymbolicLink()) throw new NotInsideError(`${name} became a link`, name);
      if (!isLast && !stats.isDirectory()) throw new NotInsideError(`${name} is no longer a folder`, name);
      if (isLast && opened && (stats.dev !== opened.dev || stats.ino !== opened.ino)) {
        throw new SwappedError(`${name} was swapped while it was opened`, name);
      }
    }
  }

  private checkRoot(stats: BigIntStats): void {
    const expected = this.rootStats;
    if (
      stats.isSymbolicLink() ||
      !stats.isDirectory() ||
      (expected && (stats.dev !== expected.dev || stats.ino !== expected.ino))
    ) {
      throw new NotInsideError('the catalog folder was replaced', '');
    }
  }

  /**
   * Step 4 (Linux): where the kernel says the descriptor is. Returns false when this system has no /proc to ask;
   * a file unlinked since it was opened reads "<path> (deleted)", still its last place.
   */
  private async checkDescriptor(fd: number, rel: string): Promise<boolean> {
    if (!this.procFd) return false;
    let where: string;
    try {
      where = await readlink(`/proc/self/fd/${fd}`);
    } catch {
      this.procFd = false;
      return false;
    }
    if (where.endsWith(' (deleted)')) where = where.slice(0, -' (deleted)'.length);
    if (where !== this.real && !isInside(this.real, where)) {
      throw new NotInsideError(
        `${rel || '.'} is outside the catalog (${where.length > 0 ? 'its folder moved or became a link' : ''})`,
        rel,
      );
    }
    return true;
  }
}

function kindOf(stats: BigIntStats | Stats): string {
  if (stats.isDirectory()) return 'a folder';
  if (stats.isFIFO()) return 'a FIFO';
  if (stats.isSocket()) return 'a socket';
  if (stats.isCharacterDevice() || stats.isBlockDevice()) return 'a device';
  return 'not a regular file';
}

export function isNotInside(error: unknown): error is NotInsideError {
  return error instanceof NotInsideError;
}
