// One analysis and one MD5 + SHA-256 per file version. A version is (device, inode, size, mtime, ctime), and a file
// that lost its last link is the version it was while linked (the unlink moves ctime, not the bytes). A new version
// is read and hashed (both digests in one pass) and classified once, in the image worker when there is one. The bytes
// of servable images (apps, filesystem images) that devices download are kept in a byte-budgeted cache shared by
// every download of that version; a version read to be served is checked unchanged (by its key) after the read. A
// download therefore sends exactly the bytes its x-MD5 was computed from, even when the file is replaced or rewritten
// in place while the download runs.

import { lstat, open, type FileHandle } from 'node:fs/promises';
import { basename } from 'node:path';
import { applyNameRules } from '../firmware/analyzeImage';
import type { Stats } from 'node:fs';
import { MAX_IMAGE_BYTES, type ImageInfo } from '../firmware/imageInfo';
import { ImageWork, WorkerLostError, type ExaminedFile } from '../work/imageWork';
import type { FileStatFields } from '../work/imageJobs';
import { Emitter, type Event } from '../events';
import { silentLogger, type Logger } from '../log';

export interface FileVersion {
  key: string;
  size: number;
  mtimeMs: number;
  md5: string;
  /** SHA-256 of the same bytes (lower-case hex; '' when not hashed), for `x-SHA256` and exported configurations. */
  sha256: string;
  info: ImageInfo;
}

export interface LoadedVersion {
  version: FileVersion;
  /** Present when asked for: the exact bytes `version.md5` was computed from. */
  bytes?: Buffer;
}

/** One piece of hashing work on a file version: its MD5 ('hash') or its running-image MD5 variants ('variants'). */
export interface ImageAnalysis {
  work: 'hash' | 'variants';
  /** The entry name the version was read under. */
  name: string;
  version: FileVersion;
  /** Every MD5 a device running this version may report, the file MD5 first. */
  md5s: readonly string[];
}

export interface ImageStoreOptions {
  /** Bytes of application images kept in memory for serving (LRU). */
  cacheBytes: number;
  /** Files larger than this are not analysed (no ESP app image comes close). */
  maxImageBytes: number;
  /** Where hashing and analysis run (the server's worker thread); on the calling thread when absent. */
  work?: ImageWork;
}

// 64 MB holds a typical catalog (a few dozen images of 1-4 MB) without weighing on the editor's extension host.
export const defaultImageStoreOptions: ImageStoreOptions = { cacheBytes: 64 << 20, maxImageBytes: MAX_IMAGE_BYTES };

/** Opens a file to read; the catalog passes one that proves the file inside the catalog (see catalogRoot.ts). */
export type FileOpener = (path: string) => Promise<FileHandle>;

const openPlain: FileOpener = (path) => open(path, 'r');

export function versionKey(stats: FileStatFields): string {
  return `${contentKey(stats)}:${stats.ctimeMs}`;
}

/** The version key without ctime: what identifies the bytes of a file that is no longer linked (see linkedKey). */
function contentKey(stats: FileStatFields): string {
  return `${stats.dev}:${stats.ino}:${stats.size}:${stats.mtimeMs}`;
}

export class ImageStore {
  private readonly versions = new Map<string, FileVersion>(); // key → version
  private readonly bytes = new Map<string, Buffer>(); // key → bytes, in LRU order
  private cachedBytes = 0;
  private readonly inflight = new Map<string, Promise<LoadedVersion>>();
  private readonly variants = new Map<string, readonly string[]>(); // version key → running MD5s
  private readonly variantsInflight = new Map<string, Promise<readonly string[]>>();
  private readonly work: ImageWork;
  private readonly keyByContent = new Map<string, string>(); // content key → version key, of files while linked
  private readonly analyzed = new Emitter<ImageAnalysis>('image analysed', () => this.logger);
  /** Fires for every MD5 and every set of running-image variants computed: what devices may run, and the work done. */
  readonly onDidAnalyze: Event<ImageAnalysis> = this.analyzed.event;
  /** How many times a file's bytes were read: a figure like workFigures (a 304 must not cost one). */
  fileReads = 0;

  /** Where this store's hashing and analysis ran, and the MD5 work it took (see ImageWork). */
  get workFigures(): Readonly<ImageWork['figures']> {
    return this.work.figures;
  }

  constructor(
    private readonly options: ImageStoreOptions = defaultImageStoreOptions,
    private readonly logger: Logger = silentLogger,
  ) {
    this.work = options.work ?? new ImageWork({ useWorker: false });
  }

  /**
   * Opens `path` and returns its current version, analysing it if this version is new. With `withBytes`, also the
   * bytes to serve. The stat and the bytes come from the same open file descriptor, so they belong together.
   */
  async load(path: string, name: string, withBytes: boolean, openFile: FileOpener = openPlain): Promise<LoadedVersion> {
    // Devices (and the catalog rescan) that ask for the same new version at once share one read and one hash.
    let pending = this.inflight.get(path);
    if (!pending) {
      pending = this.read(path, name, withBytes, openFile).finally(() => this.inflight.delete(path));
      this.inflight.set(path, pending);
    }
    const loaded = await pending;
    if (!withBytes) return { version: loaded.version };
    // The shared load did not need the bytes (a known version): read them now, without hashing again.
    if (!loaded.bytes && servable(loaded.version.info)) return this.read(path, name, true, openFile);
    return loaded;
  }

  private async read(path: string, name: string, withBytes: boolean, openFile: FileOpener): Promise<LoadedVersion> {
    let handle: FileHandle | undefined;
    try {
      handle = await openFile(path);
      // A new version is read and examined in the worker, from this descriptor; after the worker died during it,
      // it is read here instead (and examined in the next worker, or here if that dies too).
      let inWorker = true;
      for (let attempt = 0; ; attempt++) {
        const before = await handle.stat();
        if (!before.isFile()) throw new Error('not a regular file');
        const key = this.linkedKey(before);
        const known = this.versions.get(key);
        if (known && (!withBytes || this.bytes.has(key))) {
          return { version: known, bytes: withBytes ? this.touch(key) : undefined };
        }
        if (before.size > this.options.maxImageBytes) {
          const version = this.remember(key, before, { md5: '', sha256: '' }, tooLarge(before.size));
          return { version };
        }
        this.fileReads++;
        let read: ExaminedFile | undefined;
        if (!known && inWorker) {
          try {
            read = await this.work.examineFile(handle.fd, before.size, name, withBytes);
          } catch (error) {
            if (!(error instanceof WorkerLostError)) throw error;
            inWorker = false;
            attempt--; // not a write during the read: the file is read again as many times as before
            continue;
          }
        }
        const data = read ? read.bytes : await readAll(handle, before.size);
        // The worker stated the descriptor right after its read: one disk call less on this thread per version.
        const after = read?.after ?? (await handle.stat());
        if (this.linkedKey(after) !== key || (read?.bytesRead ?? data?.length) !== before.size) {
          // Written to while we read: try again, then report it as incomplete rather than serve a mix.
          if (attempt < 2) continue;
          return { version: this.unstable(before) };
        }
        if (known) {
          // Bytes were evicted from the cache; the version (inode, size, mtime, ctime) is unchanged, so its MD5 is too.
          if (servable(known.info)) this.cache(key, data!);
          return { version: known, bytes: data };
        }
        const { md5, sha256, info } = read ? read.examined : await this.work.examine(data!, name);
        const version = this.remember(key, before, { md5, sha256 }, info);
        if (servable(info) && data) this.cache(key, data);
        this.analyzed.fire({ work: 'hash', name, version, md5s: [md5] });
        return { version, bytes: data };
      }
    } finally {
      await handle?.close().catch(() => undefined);
    }
  }

  /**
   * Takes in a file version whose digests and verdict were already made from these exact bytes (the publisher's
   * one analysis of a build it has just written here), so indexing and serving it hash nothing again. Without
   * `digests`, a file that is another name of a version already known (a hard link, which moves ctime only).
   */
  async adopt(path: string, digests?: { bytes: Buffer; md5: string; sha256: string; info: ImageInfo }): Promise<void> {
    let stats: Stats;
    try {
      stats = await lstat(path);
    } catch {
      return; // gone already: nothing to remember
    }
    if (!stats.isFile()) return;
    const key = this.linkedKey(stats);
    if (this.versions.has(key)) return;
    if (digests) {
      if (digests.bytes.length !== stats.size) return; // not the bytes that were analysed
      // The verdict was made under the build's own name; the entry's name has the last word, as for any file here.
      const info = applyNameRules(digests.info, basename(path));
      this.remember(key, stats, digests, info);
      if (servable(info)) this.cache(key, digests.bytes);
      return;
    }
    const sibling = this.versions.get(this.keyByContent.get(contentKey(stats)) ?? '');
    if (sibling) this.remember(key, stats, sibling, sibling.info);
  }

  /**
   * The version key of an open file. A file replaced by a rename (how builds are published) or deleted while a device
   * reads it loses its last link, and the kernel moves its ctime for that: same bytes, new key, and without this a
   * second hash of an image already known. An unlinked file is therefore taken as the version it was while linked.
   */
  private linkedKey(stats: FileStatFields): string {
    const key = versionKey(stats);
    if (stats.nlink > 0 || this.versions.has(key)) return key;
    return this.keyByContent.get(contentKey(stats)) ?? key;
  }

  private remember(key: string, stats: Stats, hashes: { md5: string; sha256: string }, info: ImageInfo) {
    const version: FileVersion = { key, size: stats.size, mtimeMs: stats.mtimeMs, ...hashes, info };
    this.versions.set(key, version);
    if (this.versions.size > 20_000) this.versions.delete(this.versions.keys().next().value as string);
    if (stats.nlink > 0) {
      this.keyByContent.set(contentKey(stats), key);
      if (this.keyByContent.size > 20_000) this.keyByContent.delete(this.keyByContent.keys().next().value as string);
    }
    return version;
  }

  private unstable(stats: Stats): FileVersion {
    const info: ImageInfo = {
      kind: 'not-an-image',
      compressed: false,
      complete: false,
      reason: 'incomplete: the file is being written',
    };
    return { key: versionKey(stats), size: stats.size, mtimeMs: stats.mtimeMs, md5: '', sha256: '', info };
  }

  /**
   * Every MD5 a device running this version may report (the ESP8266 updater rewrites the flash-mode byte, serial
   * flashing the size nibble): up to ten passes over the image, so computed on first need and kept per version.
   */
  async runningMd5s(version: FileVersion, bytes: Buffer, name: string): Promise<readonly string[]> {
    const known = this.variants.get(version.key);
    if (known) return known;
    // Devices asking at once share one computation.
    let pending = this.variantsInflight.get(version.key);
    if (!pending) {
      pending = this.work.runningMd5s(bytes, version.info).finally(() => this.variantsInflight.delete(version.key));
      this.variantsInflight.set(version.key, pending);
    }
    const md5s = await pending;
    if (!this.variants.has(version.key)) {
      this.variants.set(version.key, md5s);
      if (this.variants.size > 1000) this.variants.delete(this.variants.keys().next().value as string);
      this.analyzed.fire({ work: 'variants', name, version, md5s });
    }
    return md5s;
  }

  /** The running-image MD5s of a version if they were computed already (no read needed). */
  cachedRunningMd5s(version: FileVersion): readonly string[] | undefined {
    return this.variants.get(version.key);
  }

  private cache(key: string, data: Buffer): void {
    if (data.length > this.options.cacheBytes) return;
    this.bytes.set(key, data);
    this.cachedBytes += data.length;
    for (const [oldKey, old] of this.bytes) {
      if (this.cachedBytes <= this.options.cacheBytes) break;
      this.bytes.delete(oldKey);
      this.cachedBytes -= old.length;
    }
  }

  private touch(key: string): Buffer | undefined {
    const data = this.bytes.get(key);
    if (data) {
      this.bytes.delete(key);
      this.bytes.set(key, data);
    }
    return data;
  }
}

/** What a device may be sent, and so what is worth keeping in memory: complete apps and filesystem images. */
export function servable(info: ImageInfo): boolean {
  return (info.kind === 'app' || info.kind === 'filesystem') && info.complete;
}

export { digests } from '../firmware/imageDigests';

function tooLarge(size: number): ImageInfo {
  return {
    kind: 'not-an-image',
    compressed: false,
    complete: false,
    reason: `too large for an ESP image (${size} bytes)`,
  };
}

async function readAll(handle: FileHandle, size: number): Promise<Buffer> {
  const data = Buffer.allocUnsafeSlow(size); // memory of its own: kept in the cache, never a slice of Node's pool
  let offset = 0;
  while (offset < size) {
    const { bytesRead } = await handle.read(data, offset, size - offset, offset);
    if (bytesRead === 0) break;
    offset += bytesRead;
  }
  return offset === size ? data : data.subarray(0, offset);
}
