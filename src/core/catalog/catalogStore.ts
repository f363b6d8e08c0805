// The catalog folder as an index of what may be listed and served. Requests are answered from this index, never by
// joining a request string onto a folder: a name that is not in the index does not exist for a device. Symbolic
// links that lead outside the catalog are not indexed. The index follows the disk through a watcher (events are
// hints) and a cheap folder-mtime check on every catalog request, so a file dropped in is listed at once.

import { lstat, readdir, realpath, stat } from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import { Emitter, type Event } from '../events';
import type { Logger } from '../log';
import { silentLogger } from '../log';
import type { CatalogEntry } from './catalogEntry';
import { isFirmwareCandidate } from './catalogEntry';
import { isSameOrInside } from '../paths';
import { ImageStore, versionKey } from './imageStore';
import { buildListing, type Audience, type Listing } from './listing';

export interface CatalogStoreOptions {
  root: string;
  logger?: Logger;
  /** Follow the folder with a file watcher (on by default). */
  watch?: boolean;
  /** Folder depth indexed below the root. */
  maxDepth?: number;
  images?: ImageStore;
}

/** An entry as a download finds it, with the reason the listing leaves it out, if it does. */
export interface CurrentEntry {
  entry: CatalogEntry;
  excluded?: string;
}

export interface CatalogChange {
  /** Catalog-relative folders whose contents changed. */
  dirs: string[];
}

interface DirState {
  rel: string;
  abs: string;
  depth: number;
  mtimeMs: number;
  entries: Map<string, CatalogEntry>;
  listings: Map<Audience, Listing>;
  scan?: Promise<void>;
  dirty: boolean;
  /** Exclusions already logged (name + reason). */
  logged: Set<string>;
}

export class CatalogError extends Error {
  constructor(message: string, readonly code: 'ENOENT' | 'ENOTDIR' | 'EACCES' | 'EOTHER') {
    super(message);
  }
}

export class CatalogStore {
  readonly images: ImageStore;
  private rootReal = '';
  private readonly dirs = new Map<string, DirState>();
  private watcher: FSWatcher | undefined;
  private readonly pending = new Map<string, NodeJS.Timeout>();
  private readonly logger: Logger;
  private readonly maxDepth: number;
  private readonly changed = new Emitter<CatalogChange>('catalog changed', () => this.logger);
  readonly onDidChange: Event<CatalogChange> = this.changed.event;
  private disposed = false;

  constructor(private readonly options: CatalogStoreOptions) {
    this.logger = options.logger ?? silentLogger;
    this.maxDepth = options.maxDepth ?? 4;
    this.images = options.images ?? new ImageStore();
  }

  /** The catalog folder's real path. */
  get root(): string {
    return this.rootReal;
  }

  /** Resolves the root, indexes it and starts watching. Rejects with a CatalogError a person can act on. */
  async open(): Promise<void> {
    const root = resolve(this.options.root);
    try {
      this.rootReal = await realpath(root);
      const stats = await stat(this.rootReal);
      if (!stats.isDirectory()) throw new CatalogError(`catalog ${root} is not a folder`, 'ENOTDIR');
      await readdir(this.rootReal);
    } catch (error) {
      if (error instanceof CatalogError) throw error;
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') throw new CatalogError(`catalog folder ${root} does not exist`, 'ENOENT');
      if (code === 'EACCES' || code === 'EPERM') throw new CatalogError(`catalog folder ${root} is not readable`, 'EACCES');
      throw new CatalogError(`catalog folder ${root}: ${(error as Error).message}`, 'EOTHER');
    }
    this.dirs.set('', this.newDir('', this.rootReal, 0));
    await this.refresh('');
    if (this.options.watch !== false) this.startWatching();
  }

  /** A folder's entries (fresh: rescanned first when its mtime moved), or undefined when there is no such folder. */
  async directory(rel: string): Promise<DirState | undefined> {
    let dir = this.dirs.get(rel);
    if (!dir) {
      // Maybe created since the last scan: freshen the nearest indexed ancestor, which indexes new subfolders.
      const ancestor = this.dirs.get(this.nearestIndexed(rel));
      if (ancestor) await this.ensureFresh(ancestor);
      dir = this.dirs.get(rel);
      if (!dir) return undefined;
    }
    await this.ensureFresh(dir);
    return this.dirs.get(rel);
  }

  private nearestIndexed(rel: string): string {
    let known = rel;
    while (known !== '' && !this.dirs.has(known)) known = known.includes('/') ? known.slice(0, known.lastIndexOf('/')) : '';
    return known;
  }

  /** The listing of a folder for an audience, or undefined when the folder is not in the catalog. */
  async listing(rel: string, audience: Audience): Promise<Listing | undefined> {
    const dir = await this.directory(rel);
    return dir && this.listingOf(dir, audience);
  }

  private listingOf(dir: DirState, audience: Audience): Listing {
    let listing = dir.listings.get(audience);
    if (!listing) {
      listing = buildListing([...dir.entries.values()], audience);
      dir.listings.set(audience, listing);
    }
    return listing;
  }

  /**
   * An entry checked against the disk, for a download. A file completed or rewritten in place does not move its
   * folder's mtime, and the watcher's event may not have arrived yet: one stat tells, and a changed file is read again
   * before a device is answered from a stale verdict (e.g. "incomplete" for a build that has just finished writing).
   */
  async findCurrent(dirRel: string, name: string): Promise<CurrentEntry | undefined> {
    let dir = await this.directory(dirRel);
    let entry = dir?.entries.get(name);
    if (entry?.version) {
      const stats = await stat(entry.absPath).catch(() => undefined);
      if (!stats || versionKey(stats) !== entry.version.key) {
        await this.refresh(dirRel);
        dir = this.dirs.get(dirRel);
        entry = dir?.entries.get(name);
      }
    }
    if (!dir || !entry) return undefined;
    // The entry and why the listing leaves it out come from the same scan.
    return { entry, excluded: this.listingOf(dir, 'any').excluded.find((item) => item.name === name)?.reason };
  }

  /** Every indexed entry (for views), folders first by path. */
  allEntries(): CatalogEntry[] {
    const result: CatalogEntry[] = [];
    for (const dir of [...this.dirs.values()].sort((a, b) => a.rel.localeCompare(b.rel))) {
      result.push(...dir.entries.values());
    }
    return result;
  }

  /** Rescans every indexed folder now. */
  async rescanAll(): Promise<void> {
    for (const dir of [...this.dirs.values()]) await this.refresh(dir.rel);
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    for (const timer of this.pending.values()) clearTimeout(timer);
    this.pending.clear();
    const watcher = this.watcher;
    this.watcher = undefined;
    await watcher?.close();
    this.changed.dispose();
  }

  private newDir(rel: string, abs: string, depth: number): DirState {
    return { rel, abs, depth, mtimeMs: -1, entries: new Map(), listings: new Map(), dirty: true, logged: new Set() };
  }

  private async ensureFresh(dir: DirState): Promise<void> {
    // A scan under way may have read the folder before the change this request is about: check again after it.
    if (dir.scan) await dir.scan.catch(() => undefined);
    if (!dir.dirty) {
      try {
        const stats = await stat(dir.abs);
        if (stats.mtimeMs === dir.mtimeMs) return;
      } catch {
        // vanished: the rescan removes it
      }
    }
    await this.refresh(dir.rel);
  }

  /** Rescans one folder (serialised per folder) and its new subfolders. */
  private refresh(rel: string): Promise<void> {
    const dir = this.dirs.get(rel);
    if (!dir) return Promise.resolve();
    if (dir.scan) {
      // A scan is under way; run once more after it, since it may have missed this change.
      dir.dirty = true;
      return dir.scan.then(() => (dir.dirty ? this.refresh(rel) : undefined));
    }
    dir.dirty = false;
    dir.scan = this.scan(dir).finally(() => {
      dir.scan = undefined;
    });
    return dir.scan;
  }

  private async scan(dir: DirState): Promise<void> {
    let names: string[];
    let mtimeMs: number;
    try {
      mtimeMs = (await stat(dir.abs)).mtimeMs;
      names = (await readdir(dir.abs)).filter((name) => !name.startsWith('.'));
    } catch {
      if (dir.rel !== '') this.removeDir(dir.rel);
      else if (dir.entries.size > 0) {
        dir.entries.clear();
        dir.listings.clear();
        this.logger.warn(`catalog folder ${this.rootReal} cannot be read any more`);
        this.changed.fire({ dirs: [''] });
      }
      return;
    }
    const next = new Map<string, CatalogEntry>();
    let changed = false;
    // Stat (and, for new versions, analyse) entries a few at a time: a folder of 1000 images rescans in one pass.
    const read = await mapLimited(names, 16, (name) => this.readEntry(dir, name));
    for (const [index, name] of names.entries()) {
      const entry = read[index];
      if (!entry) continue;
      next.set(name, entry);
      const old = dir.entries.get(name);
      if (!old || old.mtimeMs !== entry.mtimeMs || old.size !== entry.size || old.version?.key !== entry.version?.key
        || old.isDirectory !== entry.isDirectory || old.error !== entry.error) {
        changed = true;
      }
    }
    for (const name of dir.entries.keys()) {
      if (!next.has(name)) {
        changed = true;
        const childRel = dir.rel ? `${dir.rel}/${name}` : name;
        if (this.dirs.has(childRel)) this.removeDir(childRel);
      }
    }
    dir.entries = next;
    dir.mtimeMs = mtimeMs;
    if (!changed && dir.listings.size > 0) return;
    dir.listings.clear();
    this.logExclusions(dir);
    // Index new subfolders.
    for (const entry of next.values()) {
      if (!entry.isDirectory || dir.depth + 1 > this.maxDepth) continue;
      if (!this.dirs.has(entry.relPath)) {
        this.dirs.set(entry.relPath, this.newDir(entry.relPath, entry.absPath, dir.depth + 1));
        await this.refresh(entry.relPath);
      }
    }
    if (changed && !this.disposed) this.changed.fire({ dirs: [dir.rel] });
  }

  private async readEntry(dir: DirState, name: string): Promise<CatalogEntry | undefined> {
    const relPath = dir.rel ? `${dir.rel}/${name}` : name;
    let absPath = join(dir.abs, name);
    try {
      let stats = await lstat(absPath);
      if (stats.isSymbolicLink()) {
        const target = await realpath(absPath);
        if (!isSameOrInside(this.rootReal, target)) {
          this.logger.debug(`catalog: ${relPath} is left out: its link leads outside the catalog`);
          return undefined;
        }
        absPath = target;
        stats = await stat(target);
      }
      const base = { dir: dir.rel, name, relPath, absPath, size: stats.size, mtimeMs: stats.mtimeMs };
      if (stats.isDirectory()) return { ...base, isDirectory: true, size: 0 };
      if (!stats.isFile()) return undefined;
      const entry: CatalogEntry = { ...base, isDirectory: false };
      if (isFirmwareCandidate(name)) {
        const previous = dir.entries.get(name)?.version;
        entry.version = previous && previous.key === versionKey(stats) ? previous : (await this.images.load(absPath, name, false)).version;
        entry.size = entry.version.size;
        entry.mtimeMs = entry.version.mtimeMs;
      }
      return entry;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return undefined; // removed while we looked
      return { dir: dir.rel, name, relPath, absPath, isDirectory: false, size: 0, mtimeMs: 0, error: `cannot be read (${code ?? 'error'})` };
    }
  }

  private removeDir(rel: string): void {
    for (const key of [...this.dirs.keys()]) {
      if (key === rel || key.startsWith(`${rel}/`)) this.dirs.delete(key);
    }
  }

  /** Logs each left-out entry once per reason, not on every rescan. */
  private logExclusions(dir: DirState): void {
    const listing = this.listingOf(dir, 'any');
    const now = new Set<string>();
    const fresh = new Map<string, string[]>(); // reason → names not logged with it before
    for (const { name, reason } of listing.excluded) {
      const key = `${name}\u0000${reason}`;
      now.add(key);
      if (!dir.logged.has(key)) fresh.set(reason, [...(fresh.get(reason) ?? []), name]);
    }
    dir.logged = now;
    // One line per entry, but one line per reason when many share it (a folder of 1000 builds has 745 over the cap).
    const where = dir.rel ? `${dir.rel}/` : '';
    for (const [reason, names] of fresh) {
      if (names.length <= 3) {
        for (const name of names) this.logger.warn(`catalog: ${where}${name} is not listed: ${reason}`);
      } else {
        this.logger.warn(`catalog: ${names.length} entries of ${where || 'the catalog root'} are not listed (${names.slice(0, 3).map((n) => `${where}${n}`).join(', ')}, …): ${reason}`);
      }
    }
  }

  private startWatching(): void {
    this.watcher = watch(this.rootReal, {
      ignoreInitial: true,
      depth: this.maxDepth,
      followSymlinks: false,
      // dotfiles are never listed; publishing writes its temporary files as dotfiles
      ignored: (path: string) => path !== this.rootReal && /(^|[\\/])\./.test(relative(this.rootReal, path)),
    });
    this.watcher.on('all', (_event, path) => this.schedule(path));
    this.watcher.on('error', (error) => this.logger.warn(`catalog watcher: ${(error as Error).message}`));
  }

  /** Events are hints: debounce per folder, then rescan it. */
  private schedule(path: string): void {
    if (this.disposed) return;
    const parent = relative(this.rootReal, join(path, '..')).split(sep).join('/');
    // A change inside a folder not indexed yet: rescan its nearest indexed ancestor, which finds the new folder.
    const known = this.nearestIndexed(parent === '.' ? '' : parent);
    const dir = this.dirs.get(known);
    if (dir) dir.dirty = true;
    clearTimeout(this.pending.get(known));
    this.pending.set(known, setTimeout(() => {
      this.pending.delete(known);
      void this.refresh(known).catch((error) => this.logger.warn(`catalog rescan failed: ${(error as Error).message}`));
    }, 50));
  }
}

/** Maps with at most `limit` calls in flight, keeping the order of `items`. */
async function mapLimited<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
