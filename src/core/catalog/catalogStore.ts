// The catalog folder as an index of what may be listed and served. Requests are answered from this index, never by
// joining a request string onto a folder: a name that is not in the index does not exist for a device. Symbolic
// links that lead outside the catalog are not indexed. The index follows the disk through one watcher per folder
// (events are hints, folderWatchers.ts), a check of the folder on disk (the walk from the root, its mtime and inode)
// for every listing and for a download its watcher does not vouch for (VOUCH_MS), and a slow poll of folders that
// have no working watcher (POLL_MS). The Catalog (catalog.ts) owns it: its own writes update the index by name
// (update()), never by a rescan.

import { lstat, readdir, realpath, rm, stat } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { join, resolve } from 'node:path';
import { Emitter, type Event } from '../events';
import type { Logger } from '../log';
import { silentLogger } from '../log';
import type { CatalogEntry } from './catalogEntry';
import type { Origin } from './origins';
import { isFirmwareCandidate } from './catalogEntry';
import {
  ImageStore,
  versionKey,
  type FileOpener,
  type FileVersion,
  type ImageAnalysis,
  type LoadedVersion,
} from './imageStore';
import { CatalogRoot, NotInsideError, isNotInside, type OpenFolder } from './catalogRoot';
import { yieldIfBusy } from '../work/loopTurn';
import { buildListingInSlices, byName, newestFirst, prepareListing, type Audience, type Listing } from './listing';
import { mapLimited } from '../work/mapLimited';
import { FolderWatchers, identityOf } from './folderWatchers';

export interface CatalogStoreOptions {
  root: string;
  logger?: Logger;
  /** Follow the folder with a file watcher (on by default). */
  watch?: boolean;
  /** Folder depth indexed below the root. */
  maxDepth?: number;
  images?: ImageStore;
  /** Where the entry at this catalog-relative path came from, if the catalog published it (see Catalog). */
  originOf?: (relPath: string) => Origin | undefined;
  /** How long the watcher may vouch for a folder proven on disk (see VOUCH_MS). */
  vouchMs?: number;
  /** How often folders without a working watcher are checked on disk when nobody asks (see POLL_MS). */
  pollMs?: number;
}

/**
 * A download is answered from the index without touching the disk while the folder's watcher vouches for it: the
 * folder was proven on disk (its identity and mtime, the walk from the root, the entry's version) less than this
 * long ago, the watchers of it and of every folder above it were started on the very folders proven, and since then
 * none of them reported anything. A board polling every 2 s then costs no lstat (a 304 is decided from the index);
 * a change is seen at the next request after its watcher event. The time bounds what a watcher can miss (a share
 * written by another machine, FSEvents' 50 ms latency), and then one proof on disk tells. Containment does not rest
 * on it: the bytes of a download are proven inside the catalog when the file is opened (catalogRoot.ts), and a
 * listing always checks its folder on disk, so a folder that became a link is dropped at the first request.
 */
const VOUCH_MS = 1000;

/**
 * Folders whose watcher could not start, failed, or follows another folder than the one at the path are checked on
 * disk this often (their mtime and inode), and their watcher started again: requests check them anyway, this is for
 * the time nobody asks (the editor's Firmware Catalog view while the server is stopped).
 */
const POLL_MS = 2000;

/** An entry as a download finds it, with the reason the listing leaves it out, if it does. */
export interface CurrentEntry {
  entry: CatalogEntry;
  excluded?: string;
  /** The exclusion only protects the device's list (see Exclusion.budget): the file itself may be served. */
  budgetOnly?: boolean;
}

export interface CatalogChange {
  /** Catalog-relative folders whose contents changed. */
  dirs: string[];
  /** Entries new or changed (as they are now in the index). */
  changed: CatalogEntry[];
  /** Catalog-relative paths of entries that left the index. */
  removed: string[];
}

interface DirState {
  rel: string;
  abs: string;
  depth: number;
  mtimeMs: number;
  /** The folder's inode when scanned: another folder renamed into its place is scanned afresh. */
  ino: number;
  /** Its `dev:ino` when scanned (identityOf): what its watcher must be following for a vouch. */
  identity: string;
  entries: Map<string, CatalogEntry>;
  /**
   * The entries in the listing's order (newest first), kept across small changes: a listing of 1000 entries after
   * one change is then a pass over them, not a sort. Undefined: sorted again when next listed.
   */
  order?: CatalogEntry[];
  listings: Map<Audience, Listing>;
  /** Listings being built, for the order they are built from: requests that arrive meanwhile share the build. */
  building: Map<Audience, { order: CatalogEntry[]; listing: Promise<Listing> }>;
  scan?: Promise<void>;
  /** The mtime check under way (see ensureFresh). */
  check?: Promise<'fresh' | 'stale' | 'dropped'>;
  dirty: boolean;
  /** What the next scan reads again: every entry, or only these names (and names new to the folder). */
  pending: Set<string> | 'all';
  /** Exclusions already logged (name + reason). */
  logged: Set<string>;
  /** When this folder was last proven on disk while watched, and which entries were proven since. */
  vouched?: { at: number; entries: Set<string> };
  /** When its watcher last reported something, or it was last rescanned (performance.now()). */
  changedAt: number;
}

export class CatalogError extends Error {
  constructor(
    message: string,
    readonly code: 'ENOENT' | 'ENOTDIR' | 'EACCES' | 'EOTHER',
  ) {
    super(message);
  }
}

export class CatalogStore {
  readonly images: ImageStore;
  private rootReal = '';
  private insideRoot: CatalogRoot | undefined;
  private readonly dirs = new Map<string, DirState>();
  private watchers: FolderWatchers | undefined;
  private readonly pending = new Map<string, NodeJS.Timeout>();
  private readonly entryStats = new Map<string, Promise<Stats | undefined>>();
  private readonly logger: Logger;
  private readonly maxDepth: number;
  private readonly changed = new Emitter<CatalogChange>('catalog changed', () => this.logger);
  readonly onDidChange: Event<CatalogChange> = this.changed.event;
  /** Every image version hashed (and every set of running-image variants computed) while serving this catalog. */
  readonly onDidAnalyzeImage: Event<ImageAnalysis>;
  private disposed = false;
  private readonly vouchMs: number;
  private pollTimer: NodeJS.Timeout | undefined;
  private polling = false;
  /** Watcher failures already warned about (by error code): one warning each, then debug lines. */
  private readonly watchWarned = new Set<string>();

  constructor(private readonly options: CatalogStoreOptions) {
    this.logger = options.logger ?? silentLogger;
    this.vouchMs = options.vouchMs ?? VOUCH_MS;
    this.maxDepth = options.maxDepth ?? 4;
    this.images = options.images ?? new ImageStore();
    this.onDidAnalyzeImage = this.images.onDidAnalyze;
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
      if (code === 'EACCES' || code === 'EPERM')
        throw new CatalogError(`catalog folder ${root} is not readable`, 'EACCES');
      throw new CatalogError(`catalog folder ${root}: ${(error as Error).message}`, 'EOTHER');
    }
    this.insideRoot = new CatalogRoot(this.rootReal);
    await this.insideRoot.open();
    if (this.options.watch !== false) {
      this.watchers = new FolderWatchers(
        (rel, name) => this.schedule(rel, name),
        (rel, error) => this.watchFailed(rel, error),
      );
      this.pollTimer = setInterval(() => void this.pollUnwatched(), this.options.pollMs ?? POLL_MS);
      this.pollTimer.unref();
    }
    this.addDir(this.newDir('', this.rootReal, 0));
    await this.refresh('');
  }

  /** A folder left without a watcher: said once per kind of failure, and the folder is checked on disk meanwhile. */
  private watchFailed(rel: string, error: Error): void {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    const where = rel || 'the catalog folder';
    if (this.disposed || this.watchWarned.has(code)) {
      this.logger.debug(`catalog: cannot watch ${where}: ${error.message}`);
      return;
    }
    this.watchWarned.add(code);
    let hint = '';
    if (code === 'ENOSPC' && process.platform === 'linux') {
      hint =
        ' (the limit of inotify watches is reached: raise fs.inotify.max_user_watches, e.g. sysctl fs.inotify.max_user_watches=524288)';
    } else if (code === 'EMFILE' || code === 'ENFILE') {
      hint = ' (too many open files: raise the limit, e.g. ulimit -n)';
    }
    const every = (this.options.pollMs ?? POLL_MS) / 1000;
    this.logger.warn(
      `catalog: cannot watch ${where}: ${error.message}${hint}. Folders without a watcher are checked on disk at every request and every ${every} s, and watched again when possible`,
    );
  }

  /**
   * A folder's entries (fresh: checked on disk and rescanned first when it changed), or undefined when there is no
   * such folder. `vouched`: a folder its watcher vouches for is not checked (downloads only, see VOUCH_MS).
   */
  async directory(rel: string, vouched = false): Promise<DirState | undefined> {
    let dir = this.dirs.get(rel);
    if (!dir) {
      // Maybe created since the last scan: freshen the nearest indexed ancestor, which indexes new subfolders.
      const ancestor = this.dirs.get(this.nearestIndexed(rel));
      if (ancestor) await this.ensureFresh(ancestor, vouched);
      dir = this.dirs.get(rel);
      if (!dir) return undefined;
    }
    await this.ensureFresh(dir, vouched);
    return this.dirs.get(rel);
  }

  private nearestIndexed(rel: string): string {
    let known = rel;
    while (known !== '' && !this.dirs.has(known))
      known = known.includes('/') ? known.slice(0, known.lastIndexOf('/')) : '';
    return known;
  }

  /** The listing of a folder for an audience, or undefined when the folder is not in the catalog. */
  async listing(rel: string, audience: Audience): Promise<Listing | undefined> {
    const dir = await this.directory(rel);
    return dir && this.listingInSlices(dir, audience);
  }

  /**
   * A folder's listing for an audience, built in turns of the loop. Kept only while the folder's order is the one it
   * was built from (a scan that changed the folder meanwhile made a new one); either way the caller gets the listing
   * of the entries it read.
   */
  private async listingInSlices(dir: DirState, audience: Audience): Promise<Listing> {
    const ready = dir.listings.get(audience);
    if (ready) return ready;
    if (!dir.order) {
      await yieldIfBusy();
      const cached = dir.listings.get(audience);
      if (cached) return cached;
      dir.order ??= [...dir.entries.values()].sort(newestFirst);
    }
    const order = dir.order;
    // A fleet asking right after a change: one build of the listing, not one per request.
    const shared = dir.building.get(audience);
    if (shared?.order === order) return shared.listing;
    const listing = buildListingInSlices(order, audience);
    const building = { order, listing };
    dir.building.set(audience, building);
    // Kept before any caller sees it (the first reaction registered runs first); a failed build is not kept.
    void listing
      .then(
        (built) => {
          if (dir.order === order && !dir.listings.has(audience)) dir.listings.set(audience, built);
        },
        () => undefined,
      )
      .finally(() => {
        if (dir.building.get(audience) === building) dir.building.delete(audience);
      });
    return listing;
  }

  /**
   * An entry checked against the disk, for a download, unless its folder's watcher vouches for it (VOUCH_MS: then
   * for up to that long the index answers without touching the disk; the bytes are proven inside when the file is
   * opened). A file completed or rewritten in place does not move its folder's mtime, and the watcher's event may
   * not have arrived yet: an lstat of the entry tells, and a changed file is read again before a device is answered
   * from a stale verdict (e.g. "incomplete" for a build that has just finished writing). An inside link's target
   * lives in another folder, whose watcher this folder's vouch does not cover: it is stated on every request.
   */
  async findCurrent(dirRel: string, name: string): Promise<CurrentEntry | undefined> {
    let dir = await this.directory(dirRel, true);
    let entry = dir?.entries.get(name);
    const own = dir !== undefined && entry !== undefined && entry.absPath === join(dir.abs, name);
    const vouched = own ? this.vouchFor(dir!) : undefined;
    if (entry?.version && !vouched?.entries.has(name)) {
      // lstat: a file swapped for a link has another version key, and the rescan leaves an outside link out.
      const stats = await this.statEntry(entry.absPath);
      if (!stats || versionKey(stats) !== entry.version.key) {
        await this.refresh(dirRel, [name]);
        dir = this.dirs.get(dirRel);
        entry = dir?.entries.get(name);
      } else if (vouched && this.vouchFor(dir!) === vouched) {
        vouched.entries.add(name); // its watcher reports any write to it from now on
      }
    }
    if (!dir || !entry) return undefined;
    // The entry and why the listing leaves it out come from the same scan.
    const exclusion = (await this.listingInSlices(dir, 'any')).excluded.find((item) => item.name === name);
    return { entry, excluded: exclusion?.reason, budgetOnly: exclusion?.budget === true };
  }

  /**
   * An entry's version and, with `withBytes`, its bytes, read from a descriptor proven to be inside the catalog
   * (catalogRoot.ts). Rejects with NotInsideError when the file became a link or its folder did.
   */
  async loadEntry(entry: CatalogEntry, withBytes: boolean): Promise<LoadedVersion> {
    try {
      return await this.images.load(entry.absPath, entry.name, withBytes, this.openInside);
    } catch (error) {
      if (isNotInside(error)) this.notInside(error, entry);
      throw error;
    }
  }

  /**
   * The index answered with an entry that proved not to be inside the catalog when it was opened (a folder or the
   * file swapped for a link before any watcher said so): the folders where the proof failed are dropped, or the
   * entry's folder is read again, and no vouch stands until they are proven again.
   */
  private notInside(error: NotInsideError, entry: CatalogEntry): void {
    if (this.disposed) return;
    for (const dir of this.dirs.values()) dir.vouched = undefined;
    const dir = this.dirs.get(entry.dir);
    const at = error.at;
    const folder = at !== undefined && [...this.dirs.values()].find((d) => d.rel === at || this.canonicalRel(d) === at);
    if (folder) this.dropFolders(error, folder);
    else if (dir) {
      void this.refresh(dir.rel, [entry.name]).catch((e) =>
        this.logger.warn(`catalog rescan failed: ${(e as Error).message}`),
      );
    }
  }

  private readonly openInside: FileOpener = (abs) => {
    const root = this.insideRoot!;
    const rel = root.relOf(abs);
    if (rel === undefined) return Promise.reject(new NotInsideError(`${abs} is not inside the catalog`));
    return root.openFile(rel);
  };

  /** Every indexed entry (for views), folders first by path. */
  allEntries(): CatalogEntry[] {
    const result: CatalogEntry[] = [];
    for (const dir of [...this.dirs.values()].sort((a, b) => byName(a.rel, b.rel))) {
      result.push(...dir.entries.values());
    }
    return result;
  }

  /**
   * Reads these names of an indexed folder again now (the catalog's own writes): the folder is listed, and of its
   * entries only these, and names new to it, are read. Resolves once the index and its listings show them.
   */
  update(dirRel: string, names: Iterable<string>): Promise<void> {
    return this.refresh(dirRel, names);
  }

  /**
   * Deletes the file (or link) `name` of an indexed folder, through the folder proven inside the catalog (on Linux by
   * its descriptor: a folder swapped for a link meanwhile is not the one it deletes from), then reads the name again.
   * Rejects when the folder is not indexed, or the entry is a folder.
   */
  async removeFile(dirRel: string, name: string): Promise<void> {
    const dir = await this.directory(dirRel);
    if (!dir || !dir.entries.has(name)) throw new Error(`${dirRel ? `${dirRel}/` : ''}${name} is not in the catalog`);
    const folder = await this.insideRoot!.openFolder(this.canonicalRel(dir));
    try {
      const target = join(folder.base, name);
      const stats = await lstat(target);
      if (stats.isDirectory())
        throw new Error(`${dirRel ? `${dirRel}/` : ''}${name} is a folder; only files are removed`);
      // On Linux `base` is the folder's descriptor: the unlink is in the folder proven, whatever its path names now.
      // Elsewhere it is a path: prove the folder (the walk, its dev and inode) and the entry again right before the
      // unlink. What is left is a swap within the microseconds between this check and the unlink (README, Safety).
      await folder.verify();
      const again = await lstat(target);
      if (again.dev !== stats.dev || again.ino !== stats.ino) {
        throw new Error(`${dirRel ? `${dirRel}/` : ''}${name} changed while it was being removed; nothing was removed`);
      }
      await rm(target, { force: true });
      await folder.verify();
    } finally {
      await folder.close().catch(() => undefined);
    }
    await this.refresh(dirRel, [name]);
  }

  /** Rescans every indexed folder now, every entry of it. */
  async rescanAll(): Promise<void> {
    for (const dir of [...this.dirs.values()]) await this.refresh(dir.rel, 'all');
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    clearInterval(this.pollTimer);
    for (const timer of this.pending.values()) clearTimeout(timer);
    this.pending.clear();
    this.watchers?.dispose();
    this.watchers = undefined;
    this.changed.dispose();
  }

  private newDir(rel: string, abs: string, depth: number): DirState {
    return {
      rel,
      abs,
      depth,
      mtimeMs: -1,
      ino: -1,
      identity: '',
      entries: new Map(),
      listings: new Map(),
      building: new Map(),
      dirty: true,
      pending: 'all',
      logged: new Set(),
      changedAt: performance.now(),
    };
  }

  private async ensureFresh(dir: DirState, vouched: boolean): Promise<void> {
    // A scan under way may have read the folder before the change this request is about: check again after it.
    if (dir.scan) await dir.scan.catch(() => undefined);
    if (!dir.dirty) {
      if (vouched && this.vouchFor(dir)) return;
      // Requests that arrive together share one check: 300 boards polling at once cost one walk, not 300 whose
      // completions all land in one turn of the loop.
      dir.check ??= this.checkFolder(dir).finally(() => (dir.check = undefined));
      if ((await dir.check) !== 'stale') return;
    }
    await this.refresh(dir.rel);
  }

  /** The folder as scanned ('fresh'), changed or gone ('stale'), or dropped for having left the catalog. */
  private async checkFolder(dir: DirState): Promise<'fresh' | 'stale' | 'dropped'> {
    try {
      // The walk, not stat(dir): a folder that became a link is dropped now, before this request is answered,
      // not when the watcher reports the rename.
      const provenAt = performance.now();
      const stats = await this.insideRoot!.statFolder(this.canonicalRel(dir));
      if (stats.mtimeMs !== dir.mtimeMs || identityOf(stats) !== dir.identity) return 'stale';
      // Only a watcher started on this very folder vouches for it (one on a folder renamed away does not).
      if (!dir.dirty && dir.changedAt < provenAt && this.watchers?.watches(dir.rel, dir.identity)) {
        dir.vouched = { at: provenAt, entries: new Set() };
      }
      return 'fresh';
    } catch (error) {
      if (!isNotInside(error)) return 'stale'; // vanished: the rescan removes it
      this.dropFolders(error, dir);
      return 'dropped';
    }
  }

  /** lstat of an entry's file, shared by the downloads that ask at the same moment. */
  private statEntry(absPath: string): Promise<Stats | undefined> {
    let pending = this.entryStats.get(absPath);
    if (!pending) {
      pending = lstat(absPath)
        .catch(() => undefined)
        .finally(() => this.entryStats.delete(absPath));
      this.entryStats.set(absPath, pending);
    }
    return pending;
  }

  /**
   * The watcher's word that nothing changed in this folder, nor in any folder above it, since it was last proven on
   * disk (see VOUCH_MS); undefined when it cannot give it.
   */
  private vouchFor(dir: DirState): DirState['vouched'] {
    const vouched = dir.vouched;
    const now = performance.now();
    if (!vouched || now - vouched.at >= this.vouchMs) return undefined;
    for (let rel: string | undefined = dir.rel; rel !== undefined; rel = parentRel(rel)) {
      const folder = this.dirs.get(rel);
      if (!folder || folder.dirty || folder.scan || folder.changedAt >= vouched.at) return undefined;
      if (!this.watchers?.watches(rel, folder.identity)) return undefined;
    }
    return vouched;
  }

  /** The folder's path below the root by its real location (a folder reached by an inside link: its target). */
  private canonicalRel(dir: DirState): string {
    return this.insideRoot!.relOf(dir.abs) ?? '\u0000';
  }

  /**
   * Drops every indexed folder at or below where containment failed (by real location, so an inside link to it goes
   * too), and the entries naming them, so no listing or download is answered from them; their parents rescan.
   */
  private dropFolders(error: NotInsideError, touched: DirState): void {
    const at = error.at ?? this.canonicalRel(touched);
    const parents = new Set<string>();
    const removed: string[] = [];
    for (const dir of [...this.dirs.values()]) {
      const rel = this.canonicalRel(dir);
      if (rel !== at && !rel.startsWith(`${at}/`) && at !== '') continue;
      for (const entry of dir.entries.values()) removed.push(entry.relPath);
      if (dir.rel === '') {
        // The root itself: nothing in it can be trusted until it is a real folder again.
        dir.entries.clear();
        dir.order = undefined;
        dir.listings.clear();
        dir.dirty = true;
        parents.add('');
        continue;
      }
      this.removeDir(dir.rel);
      const parentRel = dir.rel.includes('/') ? dir.rel.slice(0, dir.rel.lastIndexOf('/')) : '';
      const parent = this.dirs.get(parentRel);
      if (parent) {
        if (parent.entries.delete(dir.rel.slice(dir.rel.lastIndexOf('/') + 1))) removed.push(dir.rel);
        parent.order = undefined;
        parent.listings.clear();
        parent.dirty = true;
        parents.add(parentRel);
      }
    }
    this.logger.warn(`catalog: ${at || 'the catalog folder'} is left out: ${error.message}`);
    if (parents.size > 0 && !this.disposed) this.changed.fire({ dirs: [...parents], changed: [], removed });
  }

  /**
   * Brings one folder's index up to date (serialised per folder), and indexes its new subfolders. Incremental: the
   * folder is listed again, names new to it are read, names gone leave, and of the names it kept only `names` (the
   * changed paths the watcher or a download reported) are read again; 'all' reads every entry.
   */
  private refresh(rel: string, names: Iterable<string> | 'all' = []): Promise<void> {
    const dir = this.dirs.get(rel);
    if (!dir) return Promise.resolve();
    if (names === 'all') dir.pending = 'all';
    else if (dir.pending !== 'all') for (const name of names) dir.pending.add(name);
    dir.vouched = undefined;
    dir.changedAt = performance.now();
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
    let folder: OpenFolder | undefined;
    try {
      try {
        folder = await this.insideRoot!.openFolder(this.canonicalRel(dir));
      } catch (error) {
        if (isNotInside(error)) throw error;
        return this.unreadable(dir);
      }
      await this.scanOpen(dir, folder);
    } catch (error) {
      if (isNotInside(error)) return this.dropFolders(error, dir);
      throw error;
    } finally {
      await folder?.close().catch(() => undefined);
    }
  }

  private async scanOpen(dir: DirState, folder: OpenFolder): Promise<void> {
    let names: string[];
    const listedFiles = new Set<string>(); // regular files by the folder's own listing (d_type), no lstat needed
    let mtimeMs: number;
    let ino: number;
    try {
      ({ mtimeMs, ino } = folder.stats);
      const dirents = await readdir(folder.base, { withFileTypes: true });
      names = [];
      for (const dirent of dirents) {
        if (dirent.name.startsWith('.')) continue;
        names.push(dirent.name);
        if (dirent.isFile()) listedFiles.add(dirent.name);
      }
    } catch {
      return this.unreadable(dir);
    }
    const next = new Map<string, CatalogEntry>();
    const changedEntries: CatalogEntry[] = [];
    const removed: string[] = [];
    const identity = identityOf(folder.stats);
    // Another folder renamed into this one's place, or the first scan: every entry is new.
    const pending = identity !== dir.identity ? 'all' : dir.pending;
    dir.pending = new Set();
    const toRead = pending === 'all' ? names : names.filter((name) => !dir.entries.has(name) || pending.has(name));
    const reading = new Set(toRead);
    // Stat (and, for new versions, analyse) entries a few at a time: a folder of 1000 images rescans in one pass.
    const readList = await mapLimited(toRead, 8, (name) =>
      this.readEntry(dir, folder.base, name, listedFiles.has(name)),
    );
    const read = new Map(toRead.map((name, index) => [name, readList[index]]));
    await yieldIfBusy(); // the index and listings below are rebuilt in a turn of their own
    // Read by path (no /proc): prove the folder is still the real one that was read, else none of it counts.
    await folder.verify();
    this.followWithWatcher(dir, identity);
    const subfolders: string[] = []; // indexed subfolders read again: maybe another folder under the same name
    for (const name of names) {
      await yieldIfBusy(); // 1000 names compared and kept in one piece held the loop for 2-3 ms
      const entry = reading.has(name) ? read.get(name) : dir.entries.get(name);
      if (!entry) continue;
      next.set(name, entry);
      if (!reading.has(name)) continue;
      if (entry.isDirectory && this.dirs.has(entry.relPath)) subfolders.push(entry.relPath);
      const old = dir.entries.get(name);
      if (
        !old ||
        old.mtimeMs !== entry.mtimeMs ||
        old.size !== entry.size ||
        old.version?.key !== entry.version?.key ||
        old.isDirectory !== entry.isDirectory ||
        old.error !== entry.error ||
        old.origin !== entry.origin ||
        old.absPath !== entry.absPath
      ) {
        changedEntries.push(entry);
      } else {
        next.set(name, old); // the same entry object: listings and their per-entry memos stay valid
      }
    }
    for (const [name, old] of dir.entries) {
      if (!next.has(name)) {
        removed.push(old.relPath);
        if (this.dirs.has(old.relPath)) this.removeDir(old.relPath);
      }
    }
    const changed = changedEntries.length > 0 || removed.length > 0;
    if (changed) dir.order = reordered(dir.order, next, changedEntries, removed.length);
    dir.entries = next;
    dir.mtimeMs = mtimeMs;
    dir.ino = ino;
    dir.identity = identity;
    // Their scan compares their identity, restarts their watcher if it follows a folder renamed away, and so on down.
    for (const rel of subfolders) await this.refresh(rel);
    if (!changed && dir.listings.size > 0) return;
    dir.listings.clear();
    // Entries kept from the last scan are the same objects, with their verdicts and wire items already worked out.
    await prepareListing(changedEntries);
    await this.logExclusions(dir);
    // Index new subfolders.
    for (const entry of next.values()) {
      if (!entry.isDirectory || dir.depth + 1 > this.maxDepth) continue;
      if (!this.dirs.has(entry.relPath)) {
        this.addDir(this.newDir(entry.relPath, entry.absPath, dir.depth + 1));
        await this.refresh(entry.relPath);
      }
    }
    if (changed && !this.disposed) this.changed.fire({ dirs: [dir.rel], changed: changedEntries, removed });
  }

  /** A folder gone or unreadable: a subfolder leaves the index, the root is emptied. */
  private unreadable(dir: DirState): void {
    if (dir.rel !== '') this.removeDir(dir.rel);
    else if (dir.entries.size > 0) {
      const removed = [...dir.entries.values()].map((entry) => entry.relPath);
      dir.entries.clear();
      dir.order = undefined;
      dir.listings.clear();
      this.logger.warn(`catalog folder ${this.rootReal} cannot be read any more`);
      this.changed.fire({ dirs: [''], changed: [], removed });
    }
  }

  /**
   * One entry of a folder being scanned; `base` reads the folder (see OpenFolder), `dir.abs` names it. `listedFile`:
   * the folder's listing says it is a regular file.
   */
  private async readEntry(
    dir: DirState,
    base: string,
    name: string,
    listedFile: boolean,
  ): Promise<CatalogEntry | undefined> {
    await yieldIfBusy(); // a rescan of 1000 entries runs in slices of the loop
    const relPath = dir.rel ? `${dir.rel}/${name}` : name;
    let absPath = join(dir.abs, name);
    if (listedFile && isFirmwareCandidate(name) && !dir.entries.get(name)?.version) {
      // A new image: the proven open tells its size and times, so no lstat first (1000 images at start: 1000 disk
      // calls fewer). A file that became a link or something else meanwhile takes the way below.
      const entry = await this.newImageEntry(dir, name, relPath, absPath).catch(() => undefined);
      if (entry) return entry;
    }
    try {
      let stats: Stats = await lstat(join(base, name));
      if (stats.isSymbolicLink()) {
        const target = await realpath(absPath);
        const targetRel = this.insideRoot!.relOf(target);
        if (targetRel === undefined) {
          this.logger.debug(`catalog: ${relPath} is left out: its link leads outside the catalog`);
          return undefined;
        }
        absPath = target;
        // The target by its own path, proven inside like anything else (realpath alone is a check on a path).
        stats = await this.statInside(targetRel);
      }
      const fields = { dir: dir.rel, name, relPath, absPath, size: stats.size, mtimeMs: stats.mtimeMs };
      if (stats.isDirectory()) return { ...fields, isDirectory: true, size: 0 };
      if (!stats.isFile()) return undefined;
      const entry: CatalogEntry = { ...fields, isDirectory: false };
      if (isFirmwareCandidate(name)) {
        const previous = dir.entries.get(name)?.version;
        const version =
          previous && previous.key === versionKey(stats)
            ? previous
            : (await this.images.load(entry.absPath, entry.name, false, this.openInside)).version;
        this.takeVersion(entry, version);
      }
      return entry;
    } catch (error) {
      if (isNotInside(error)) {
        this.logger.debug(`catalog: ${relPath} is left out: ${error.message}`);
        return undefined;
      }
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ELOOP') return undefined; // removed (or a broken link loop) while we looked
      return {
        dir: dir.rel,
        name,
        relPath,
        absPath,
        isDirectory: false,
        size: 0,
        mtimeMs: 0,
        error: `cannot be read (${code ?? 'error'})`,
      };
    }
  }

  /** A new image listed as a regular file, from its version alone (see readEntry). */
  private async newImageEntry(dir: DirState, name: string, relPath: string, absPath: string): Promise<CatalogEntry> {
    const { version } = await this.images.load(absPath, name, false, this.openInside);
    const entry: CatalogEntry = { dir: dir.rel, name, relPath, absPath, size: 0, mtimeMs: 0, isDirectory: false };
    this.takeVersion(entry, version);
    return entry;
  }

  /** An image entry's version: its size and time are the version's, and its origin while it holds those bytes. */
  private takeVersion(entry: CatalogEntry, version: FileVersion): void {
    entry.version = version;
    entry.size = version.size;
    entry.mtimeMs = version.mtimeMs;
    // Its origin, while it holds the bytes that were published (a file replaced by hand has none).
    const origin = this.options.originOf?.(entry.relPath);
    if (origin && origin.md5 === version.md5) entry.origin = origin;
  }

  /** Stats of a folder or file below the root, from the proof that it is inside (catalogRoot.ts). */
  private async statInside(rel: string): Promise<Stats> {
    const root = this.insideRoot!;
    const shallow = await lstat(root.abs(rel));
    if (shallow.isDirectory()) return root.statFolder(rel);
    if (!shallow.isFile()) return shallow; // left out by the caller, never opened (a FIFO or device)
    const handle = await root.openFile(rel);
    try {
      return await handle.stat();
    } finally {
      await handle.close();
    }
  }

  /**
   * After a scan proved the folder `identity`: a watcher that is missing, failed, or follows another folder (this one's
   * predecessor under the same name) is started again on this one. One still starting is left to prove itself.
   */
  private followWithWatcher(dir: DirState, identity: string): void {
    if (!this.watchers || this.disposed || this.dirs.get(dir.rel) !== dir) return;
    const state = this.watchers.state(dir.rel);
    if (state === 'starting' || state === identity) return;
    if (state !== 'none')
      this.logger.debug(`catalog: ${dir.rel || 'the catalog folder'} is another folder now; watching it again`);
    this.watchers.restart(dir.rel, dir.abs);
  }

  /**
   * The slow poll (POLL_MS): folders whose watcher is not following them are watched again where possible, and
   * checked on disk (mtime, inode, the walk), so a change is learnt even when no request asks.
   */
  private async pollUnwatched(): Promise<void> {
    if (this.polling || this.disposed || !this.watchers) return;
    this.polling = true;
    try {
      for (const dir of [...this.dirs.values()]) {
        if (this.disposed || !this.watchers) return;
        if (this.dirs.get(dir.rel) !== dir || dir.identity === '') continue;
        const state = this.watchers.state(dir.rel);
        if (state === 'starting' || state === dir.identity) continue;
        // Watched first, then checked: a change between the two is caught by one or the other.
        this.watchers.restart(dir.rel, dir.abs);
        await this.ensureFresh(dir, false);
      }
    } catch (error) {
      this.logger.debug(`catalog: checking unwatched folders failed: ${(error as Error).message}`);
    } finally {
      this.polling = false;
    }
  }

  private addDir(dir: DirState): void {
    this.dirs.set(dir.rel, dir);
    // Watched before it is read: a change while it is read is reported, not lost.
    if (!this.disposed) this.watchers?.watch(dir.rel, dir.abs);
  }

  private removeDir(rel: string): void {
    for (const key of [...this.dirs.keys()]) {
      if (key === rel || key.startsWith(`${rel}/`)) this.dirs.delete(key);
    }
    this.watchers?.unwatch(rel);
  }

  /** Logs each left-out entry once per reason, not on every rescan. */
  private async logExclusions(dir: DirState): Promise<void> {
    const listing = await this.listingInSlices(dir, 'any');
    const now = new Set<string>();
    const fresh = new Map<string, string[]>(); // reason → names not logged with it before
    for (const { name, reason } of listing.excluded) {
      const key = `${name}\u0000${reason}`;
      now.add(key);
      if (dir.logged.has(key)) continue;
      const names = fresh.get(reason);
      if (names) names.push(name);
      else fresh.set(reason, [name]);
    }
    dir.logged = now;
    // One line per entry, but one line per reason when many share it (a folder of 1000 builds has 745 over the cap).
    const where = dir.rel ? `${dir.rel}/` : '';
    for (const [reason, names] of fresh) {
      if (names.length <= 3) {
        for (const name of names) this.logger.warn(`catalog: ${where}${name} is not listed: ${reason}`);
      } else {
        this.logger.warn(
          `catalog: ${names.length} entries of ${where || 'the catalog root'} are not listed (${names
            .slice(0, 3)
            .map((n) => `${where}${n}`)
            .join(', ')}, …): ${reason}`,
        );
      }
    }
  }

  /** A watcher's event is a hint: debounced per folder, then the entry it names is read again (not the folder). */
  private schedule(rel: string, name: string | undefined): void {
    if (this.disposed) return;
    const dir = this.dirs.get(rel);
    if (!dir) return;
    dir.dirty = true;
    dir.vouched = undefined;
    dir.changedAt = performance.now();
    if (name === undefined) dir.pending = 'all';
    else if (dir.pending !== 'all') dir.pending.add(name);
    clearTimeout(this.pending.get(rel));
    this.pending.set(
      rel,
      setTimeout(() => {
        this.pending.delete(rel);
        // A request's scan since the event has read it already (it took the pending names): nothing left to do.
        const current = this.dirs.get(rel);
        if (!current || (!current.dirty && current.pending !== 'all' && current.pending.size === 0)) return;
        void this.refresh(rel).catch((error) => this.logger.warn(`catalog rescan failed: ${(error as Error).message}`));
      }, 50),
    );
  }
}

function parentRel(rel: string): string | undefined {
  if (rel === '') return undefined;
  const slash = rel.lastIndexOf('/');
  return slash < 0 ? '' : rel.slice(0, slash);
}

/**
 * The listing order after a few entries changed or left: what the scan kept (the same objects) keeps its place, and
 * each changed entry is put into its own (a binary search). Many changes: undefined, sorted afresh when next listed.
 */
function reordered(
  order: CatalogEntry[] | undefined,
  next: ReadonlyMap<string, CatalogEntry>,
  changed: readonly CatalogEntry[],
  removedCount: number,
): CatalogEntry[] | undefined {
  if (!order || changed.length + removedCount > 32) return undefined;
  const result = order.filter((entry) => next.get(entry.name) === entry);
  if (result.length + changed.length !== next.size) return undefined;
  for (const entry of changed) {
    let low = 0;
    let high = result.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (newestFirst(result[mid]!, entry) <= 0) low = mid + 1;
      else high = mid;
    }
    result.splice(low, 0, entry);
  }
  return result;
}
