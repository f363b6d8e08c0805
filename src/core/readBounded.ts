// Reading a file someone else's tool wrote (a build output, a project's config) without trusting what it is: stat
// first, only a regular file, never more than a limit, in bounded chunks. A FIFO, a socket or a device in a build
// folder must not hang a thread or be read; a 2 GB (sparse) file must not be pulled into memory to be refused.

import { constants, type Stats } from 'node:fs';
import { lstat, open, stat } from 'node:fs/promises';

// Absent on Windows (0 leaves the flag out; the lstat before the open and the fstat after it catch a link there).
const NOFOLLOW = constants.O_NOFOLLOW ?? 0;
const FLAGS = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0);
const CHUNK = 1 << 20;

/** Why a file was not read; `code` says which kind of reason. */
export class NotReadError extends Error {
  constructor(
    message: string,
    readonly code: 'missing' | 'not-a-file' | 'too-large' | 'unreadable',
  ) {
    super(message);
  }
}

export interface BoundedRead {
  bytes: Buffer;
  /** The descriptor's stat before reading (what `bytes` belong to). */
  stats: Stats;
  /** The file changed while it was read (size or mtime moved): `bytes` may be a mix; look again later. */
  changed: boolean;
}

/** Config files a person may keep as a link (a shared platformio.ini); the limit for those. */
export const CONFIG_FILE_BYTES = 1 << 20;

/** A project's config file as text: a regular file (a link to one is fine), at most 1 MB, never a FIFO. */
export async function readConfigFile(file: string): Promise<string> {
  return (await readBounded(file, CONFIG_FILE_BYTES, { followLinks: true })).bytes.toString('utf8');
}

/**
 * Reads a regular file of at most `maxBytes`. Rejects with NotReadError naming the reason: missing, not a regular
 * file (a FIFO, socket, device or folder; a link unless `followLinks`), larger than the limit, or not readable.
 */
export async function readBounded(
  path: string,
  maxBytes: number,
  { followLinks = false }: { followLinks?: boolean } = {},
): Promise<BoundedRead> {
  let first: Stats;
  try {
    first = await (followLinks ? stat(path) : lstat(path));
  } catch (error) {
    throw fromErrno(error);
  }
  // Before any open: opening a FIFO waits for a writer, opening a device can do things.
  checkKind(first, maxBytes);
  let handle;
  try {
    handle = await open(path, followLinks ? FLAGS : FLAGS | NOFOLLOW);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ELOOP' || code === 'EMLINK')
      throw new NotReadError('is a link (only regular files are read)', 'not-a-file');
    throw fromErrno(error);
  }
  try {
    // The descriptor's own stat: the path may have been swapped for something else since the lstat.
    const stats = await handle.stat();
    checkKind(stats, maxBytes);
    const bytes = Buffer.allocUnsafe(stats.size);
    let offset = 0;
    while (offset < bytes.length) {
      const { bytesRead } = await handle.read(bytes, offset, Math.min(CHUNK, bytes.length - offset), offset);
      if (bytesRead === 0) break;
      offset += bytesRead;
    }
    // One byte past the end tells a file that grew since the stat, without reading what it grew by.
    const { bytesRead: beyond } = await handle.read(Buffer.alloc(1), 0, 1, bytes.length);
    const after = await handle.stat();
    const changed =
      offset !== bytes.length || beyond > 0 || after.size !== stats.size || after.mtimeMs !== stats.mtimeMs;
    return { bytes: offset === bytes.length ? bytes : bytes.subarray(0, offset), stats, changed };
  } finally {
    await handle.close().catch(() => undefined);
  }
}

function checkKind(stats: Stats, maxBytes: number): void {
  if (!stats.isFile()) throw new NotReadError(`is ${kindOf(stats)}, not a regular file`, 'not-a-file');
  if (stats.size > maxBytes) {
    throw new NotReadError(
      `is larger (${stats.size} bytes) than any image a device can run (${maxBytes} bytes)`,
      'too-large',
    );
  }
}

function kindOf(stats: Stats): string {
  if (stats.isSymbolicLink()) return 'a link';
  if (stats.isDirectory()) return 'a folder';
  if (stats.isFIFO()) return 'a FIFO';
  if (stats.isSocket()) return 'a socket';
  if (stats.isCharacterDevice() || stats.isBlockDevice()) return 'a device';
  return 'something else';
}

function fromErrno(error: unknown): NotReadError {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ENOTDIR') return new NotReadError('does not exist', 'missing');
  return new NotReadError(`cannot be read (${code ?? String(error)})`, 'unreadable');
}
