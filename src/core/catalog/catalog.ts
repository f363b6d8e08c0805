// The catalog folder's one owner. It keeps the index (catalogStore.ts) that listings and downloads are answered from,
// and it alone writes into the folder: a publish (temp file, flush, rename, the previous build kept under a dated
// name, retention), a removal, the folder itself with its .gitignore, and the origins sidecar. Its own writes update
// the index for exactly the names they touched; the index's watcher stays for files a person drops in by hand.
// It exists whether or not the server runs: the editor lists, removes and rolls back with the server stopped.

import { readdir, rm } from 'node:fs/promises';
import * as path from 'node:path';
import { Emitter, type Disposable, type Event } from '../events';
import { silentLogger, type Logger } from '../log';
import type { ImageInfo } from '../firmware/imageInfo';
import { ImageWork } from '../work/imageWork';
import { CatalogError, CatalogStore, type CatalogChange, type CurrentEntry } from './catalogStore';
import type { CatalogEntry } from './catalogEntry';
import { ensureCatalogFolder } from './catalogFolder';
import { ImageStore, defaultImageStoreOptions, type ImageAnalysis, type LoadedVersion } from './imageStore';
import type { Audience, Listing } from './listing';
import { isPlainEntryName, readOrigins, writeOrigins, type Origin } from './origins';
import { findKeptBuild, type KeptBuild } from './keptBuilds';
import { chooseStem, latestBuildTime, pruneOrigins, removeStaleTemps, writeSnapshot, type EntryExt } from './snapshot';
import { wholeTurn } from '../work/loopTurn';

export interface CatalogOptions {
  /** The catalog folder. */
  root: string;
  logger?: Logger;
  /** Follow the folder with a file watcher (on by default). */
  watch?: boolean;
  /** Folder depth indexed below the root. */
  maxDepth?: number;
  /** Bytes of application images kept in memory for serving. */
  cacheBytes?: number;
  /** Where hashing and analysis run; by default a worker thread of the catalog's own. */
  work?: ImageWork;
  /**
   * A missing folder may be created by create() (a server start), and a folder created under `.autoconnect/` gets a
   * .gitignore. Off (updateserver.py's way): a server needs the folder to exist. A publish creates it either way.
   */
  createFolder?: boolean;
}

/** One analysed build to put into the catalog: the exact bytes, their verdict and digests, and where they came from. */
export interface CatalogBuild {
  bytes: Buffer;
  md5: string;
  sha256: string;
  info: ImageInfo;
  /** The build output's mtime: the entry gets it, so the listing's date and time show the build time. */
  mtime: Date;
  /** Absolute path of the build output. */
  source: string;
  target: { key: string; project: string; environment?: string; board?: string };
  /** The entry's name before de-duplication (`<project>-<env>`, sanitised). */
  stem: string;
  ext: EntryExt;
  /** Previous builds of the target kept as dated entries (0 = none). */
  keep: number;
  /** At start-up: an output older than the build the entry holds does not replace it. */
  onlyIfNewer?: boolean;
}

export type CatalogPublishResult =
  | {
      published: true;
      name: string;
      origin: Origin;
      /** Dated name the previous build was kept under. */
      kept?: string;
      /** Old dated entries deleted by retention. */
      removed: string[];
      /** Something a person should know about this entry's history (signed after unsigned, or the reverse). */
      note?: string;
    }
  | { published: false; code: 'unchanged' | 'older'; reason: string; name: string };

export interface CatalogRollBackResult {
  /** The target's current entry, which holds the kept build's bytes now. */
  name: string;
  /** The dated entry rolled back to. */
  from: string;
  /** Origin of the build that is current now (as it was kept; `publishedAt` is the roll back). */
  origin: Origin;
  /** Dated name the build it replaced is kept under (a roll back to it undoes this one). */
  kept?: string;
  /** Dated entries deleted: `from` (its build is the current entry now) and any beyond `keep`. */
  removed: string[];
}

export class Catalog implements Disposable {
  readonly images: ImageStore;
  private readonly index: CatalogStore;
  private readonly logger: Logger;
  private readonly work: ImageWork;
  private readonly ownsWork: boolean;
  private originsValue = new Map<string, Origin>();
  private opened: Promise<void> | undefined;
  private present = false;
  private problem: CatalogError | undefined;
  /** Writes into the folder, one at a time (entries and the sidecar are read-modify-write). */
  private writes: Promise<unknown> = Promise.resolve();
  private disposed = false;
  private readonly changed = new Emitter<CatalogChange>('catalog changed', () => this.logger);
  /** The index changed: what a person dropped in or deleted, and this catalog's own publishes and removals. */
  readonly onDidChange: Event<CatalogChange> = this.changed.event;
  /** Every image version hashed (and every set of running-image variants computed) for this catalog. */
  readonly onDidAnalyzeImage: Event<ImageAnalysis>;

  constructor(private readonly options: CatalogOptions) {
    this.logger = options.logger ?? silentLogger;
    this.ownsWork = !options.work;
    this.work = options.work ?? new ImageWork({ logger: this.logger });
    this.images = new ImageStore(
      {
        ...defaultImageStoreOptions,
        ...(options.cacheBytes ? { cacheBytes: options.cacheBytes } : {}),
        work: this.work,
      },
      this.logger,
    );
    this.onDidAnalyzeImage = this.images.onDidAnalyze;
    this.index = new CatalogStore({
      root: options.root,
      logger: this.logger,
      watch: options.watch,
      maxDepth: options.maxDepth,
      images: this.images,
      originOf: (relPath) => this.originsValue.get(relPath),
    });
    this.index.onDidChange((change) => this.onIndexChange(change));
  }

  /** The folder: its real path once it is open, else as configured. */
  get root(): string {
    return this.present ? this.index.root : path.resolve(this.options.root);
  }

  /** Whether the folder exists and is indexed. */
  get isOpen(): boolean {
    return this.present;
  }

  /** Why the folder is not indexed (missing, not a folder, not readable), if it is not. */
  get openError(): CatalogError | undefined {
    return this.problem;
  }

  /** Where each entry this catalog published came from, by entry name. */
  get origins(): ReadonlyMap<string, Origin> {
    return this.originsValue;
  }

  /** Where this catalog's hashing and analysis ran (see ImageWork). */
  get workFigures(): Readonly<ImageWork['figures']> {
    return this.work.figures;
  }

  /**
   * Indexes the folder and starts watching it. A folder that is missing or unreadable is no error here: the catalog
   * is then empty (openError says why) until a publish creates it or create() is called.
   */
  open(): Promise<void> {
    this.opened ??= this.doOpen();
    return this.opened;
  }

  /** Creates the folder if it is missing (with its .gitignore under `.autoconnect/`) and indexes it. */
  async create(): Promise<void> {
    await this.open();
    if (this.present || this.disposed) return;
    await ensureCatalogFolder(path.resolve(this.options.root), this.options.createFolder === true);
    this.opened = this.doOpen();
    await this.opened;
  }

  /** Like open(), but rejects with the CatalogError when the folder cannot be indexed (a server needs it). */
  async require(): Promise<void> {
    await this.open();
    if (!this.present) throw this.problem ?? new CatalogError(`catalog folder ${this.root} cannot be read`, 'EOTHER');
  }

  private async doOpen(): Promise<void> {
    if (this.disposed) return;
    // The first scan's images go to a worker that is already up. Its start takes 3-10 ms of this thread, in a turn
    // of its own (a first image job before it starts the worker itself).
    void wholeTurn().then(() => {
      if (!this.disposed) this.work.warm();
    });
    // Read once, before the index (so its entries get their origins): from now on only this catalog changes it.
    this.originsValue = await readOrigins(path.resolve(this.options.root));
    try {
      await this.index.open();
    } catch (error) {
      if (!(error instanceof CatalogError)) throw error;
      this.problem = error;
      return;
    }
    this.problem = undefined;
    this.present = true;
    if (await pruneOrigins(this.index.root, this.originsValue, await readdir(this.index.root).catch(() => []))) {
      await this.writeOriginsSafely();
    }
    await removeStaleTemps(this.index.root);
  }

  // ------------------------------------------------------------------------------------------------ reading

  /** The listing of a folder for an audience, or undefined when the folder is not in the catalog. */
  async listing(rel: string, audience: Audience): Promise<Listing | undefined> {
    return this.present ? this.index.listing(rel, audience) : undefined;
  }

  /** A folder's state, fresh (undefined when there is no such folder). */
  async directory(rel: string): ReturnType<CatalogStore['directory']> {
    return this.present ? this.index.directory(rel) : undefined;
  }

  /** An entry checked against the disk, for a download (see CatalogStore.findCurrent). */
  async findCurrent(dirRel: string, name: string): Promise<CurrentEntry | undefined> {
    return this.present ? this.index.findCurrent(dirRel, name) : undefined;
  }

  /** An entry's version and, with `withBytes`, its bytes, proven inside the catalog. */
  loadEntry(entry: CatalogEntry, withBytes: boolean): Promise<LoadedVersion> {
    return this.index.loadEntry(entry, withBytes);
  }

  /** Every indexed entry (for views), folders first by path. */
  allEntries(): CatalogEntry[] {
    return this.present ? this.index.allEntries() : [];
  }

  /** Reads every indexed folder again, every entry of it (tests, diagnostics: the watcher and requests keep up). */
  rescanAll(): Promise<void> {
    return this.present ? this.index.rescanAll() : Promise.resolve();
  }

  // ------------------------------------------------------------------------------------------------ writing

  /**
   * Puts one analysed build into the folder under its target's entry name; the previous build of the target is kept
   * under a dated name, and retention deletes dated entries beyond `keep`. The digests and verdict handed in are
   * taken over: the catalog hashes nothing again. Resolves once the index lists the new entry.
   */
  publish(build: CatalogBuild): Promise<CatalogPublishResult> {
    return this.serialized(() => this.write(build));
  }

  /** Deletes a file entry of the catalog (a folder is refused). Resolves once the index no longer lists it. */
  remove(relPath: string): Promise<void> {
    return this.serialized(async () => {
      const dirRel = relPath.includes('/') ? relPath.slice(0, relPath.lastIndexOf('/')) : '';
      const name = relPath.slice(dirRel.length === 0 ? 0 : dirRel.length + 1);
      if (!this.present || !isPlainEntryName(name)) throw new Error(`${relPath} is not in the catalog`);
      // The entry's own name in its proven folder: removing a link removes the link, not what it leads to.
      await this.index.removeFile(dirRel, name);
      if (this.originsValue.delete(relPath)) await this.writeOriginsSafely();
    });
  }

  /**
   * The dated entries of the top folder a roll back can make current again, by name (for views): kept by a publish,
   * still holding the build they kept, with their target's current entry present and holding another build.
   */
  keptBuilds(): Map<string, KeptBuild> {
    const top = new Map(this.allEntries().flatMap((e) => (e.dir === '' && !e.isDirectory ? [[e.name, e]] : [])));
    const result = new Map<string, KeptBuild>();
    for (const [name, entry] of top) {
      if (!entry.origin) continue; // not published here, or changed by hand since
      const found = findKeptBuild(name, this.originsValue, (n) => top.has(n));
      if ('kept' in found) result.set(name, found.kept);
    }
    return result;
  }

  /**
   * Makes a kept (dated) build its target's current entry again, the name devices and update loops ask for. Written
   * as a publish is (temp file, flush, rename over the current entry, with its origin); the build it replaces is kept
   * under its own dated name, so a roll back to that undoes this one; the dated entry rolled back to goes (the current
   * entry holds its build now), and retention keeps `keep` (at least 1) dated builds. Nothing is hashed: the bytes and
   * digests are the catalog's own. Rejects with a one-line reason when `relPath` is not a kept build.
   */
  rollBack(relPath: string, options: { keep: number }): Promise<CatalogRollBackResult> {
    return this.serialized(() => this.restore(relPath, Math.max(1, Math.floor(options.keep))));
  }

  private async restore(relPath: string, keep: number): Promise<CatalogRollBackResult> {
    if (!this.present) throw new Error(`${relPath} is not in the catalog`);
    const root = this.index.root;
    const origins = this.originsValue;
    const names = new Set(await readdir(root));
    const found = findKeptBuild(relPath, origins, (name) => names.has(name));
    if ('reason' in found) throw new Error(found.reason);
    const { name, stem, ext, current } = found.kept;
    const entry = (await this.index.directory(''))?.entries.get(name);
    if (!entry || entry.isDirectory) throw new Error(`${relPath} is not in the catalog`);
    const { version, bytes } = await this.index.loadEntry(entry, true);
    if (!bytes) throw new Error(`${name} cannot be read: not rolled back`);
    if (version.md5 !== found.kept.origin.md5) {
      throw new Error(`${name} no longer holds the build it kept (changed by hand?): not rolled back`);
    }
    // The time it became current: a start-up does not publish the build rolled back from again (it is older).
    const origin: Origin = { ...found.kept.origin, publishedAt: new Date().toISOString() };
    // It leaves the folder below, so retention does not count it among the kept builds.
    origins.delete(name);
    const digests = { bytes, md5: version.md5, sha256: version.sha256, info: version.info };
    const result = await writeSnapshot({
      catalogDir: root,
      stem,
      ext,
      bytes,
      origin,
      mtime: new Date(version.mtimeMs), // the build time, as the dated entry had it
      keep,
      origins,
      // The version the catalog already knows, under the current name; the replaced build's dated copy is a hard link.
      onWritten: (file, kind) => this.images.adopt(file, kind === 'entry' ? digests : undefined),
    }).catch((error: unknown) => {
      if (!origins.has(name)) origins.set(name, found.kept.origin); // the file is still there
      throw error;
    });
    const removed = [...result.removed];
    // Its build is the current entry now. Unless the replaced build took its name (both built in the same second).
    if (result.kept !== name) {
      try {
        await rm(path.join(root, name), { force: true });
        removed.push(name);
      } catch (error) {
        origins.set(name, found.kept.origin);
        this.logger.warn(`catalog: ${name} stays beside ${current}: ${(error as Error).message}`);
      }
    }
    await writeOrigins(root, origins);
    await this.index.update('', [current, ...(result.kept ? [result.kept] : []), ...removed]);
    this.logger.info(
      `catalog: ${current} holds the build of ${found.kept.origin.builtAt} again (from ${name})` +
        (result.kept ? `; the build it replaced is kept as ${result.kept}` : ''),
    );
    return { name: current, from: name, origin, removed, ...(result.kept ? { kept: result.kept } : {}) };
  }

  private serialized<T>(step: () => Promise<T>): Promise<T> {
    const run = this.writes.then(async () => {
      if (this.disposed) throw new Error('the catalog is closed');
      if (this.present) await this.takeInOtherOrigins();
      return step();
    });
    this.writes = run.catch(() => undefined);
    return run;
  }

  private async write(build: CatalogBuild): Promise<CatalogPublishResult> {
    if (!this.present) await this.create();
    if (!this.present) throw this.problem ?? new Error(`catalog folder ${this.root} cannot be created`);
    const root = this.index.root;
    const origins = this.originsValue;
    const names = await readdir(root);
    const pruned = await pruneOrigins(root, origins, names);
    const { target, md5, bytes, info, mtime } = build;
    const stem = chooseStem(build.stem, target.key, names, origins);
    const name = `${stem}${build.ext}`;
    const latest = names.includes(name) ? origins.get(name) : undefined;

    if (latest?.md5 === md5) {
      // A rebuild that produced the same bytes: no new entry, no dated copy, no churn for devices.
      if (pruned) await writeOrigins(root, origins);
      return { published: false, code: 'unchanged', reason: `${name} already holds this build`, name };
    }
    // Build times against build times (file times of this target's outputs), never the server's clock.
    const latestAt = latest ? latestBuildTime(latest) : 0;
    if (build.onlyIfNewer && latest && latest.target === target.key && latestAt >= mtime.getTime()) {
      // At start-up, an output no newer than what the catalog holds (e.g. after a manual publish) does not replace
      // it; nor one no newer than the build a roll back replaced (an older build was made current on purpose).
      if (pruned) await writeOrigins(root, origins);
      return { published: false, code: 'older', reason: `${name} holds a newer build`, name };
    }

    const origin: Origin = {
      project: target.project,
      source: build.source,
      builtAt: mtime.toISOString(),
      publishedAt: new Date().toISOString(),
      md5,
      target: target.key,
    };
    if (target.environment) origin.environment = target.environment;
    if (target.board) origin.board = target.board;
    if (info.signed) origin.signed = true;
    // Signed and unsigned builds in one entry's history: a device verifying signatures refuses the unsigned ones.
    const note =
      latest && !!latest.signed !== !!info.signed
        ? info.signed
          ? 'this build is signed, the one before it was not: a device that verifies signatures refuses the older, unsigned builds kept beside it'
          : 'this build is not signed, the one before it was: a device that verifies signatures will refuse it'
        : undefined;
    const result = await writeSnapshot({
      catalogDir: root,
      stem,
      ext: build.ext,
      bytes,
      origin,
      mtime,
      keep: build.keep,
      origins,
      // One analysis and one MD5 per build: the index takes in this one (the dated copy is a hard link of a known
      // version).
      onWritten: (file, kind) =>
        this.images.adopt(file, kind === 'entry' ? { bytes, md5, sha256: build.sha256, info } : undefined),
    });
    await writeOrigins(root, origins);
    await this.index.update('', [result.entry, ...(result.kept ? [result.kept] : []), ...result.removed]);
    return {
      published: true,
      name: result.entry,
      origin,
      removed: result.removed,
      ...(result.kept ? { kept: result.kept } : {}),
      ...(note ? { note } : {}),
    };
  }

  /**
   * Before a write: origins another process recorded since (the command line and the editor publishing into one
   * folder) are taken in, so this write keeps them. Once per write, never per change; the memory's own stay.
   */
  private async takeInOtherOrigins(): Promise<void> {
    for (const [name, origin] of await readOrigins(this.index.root)) {
      const mine = this.originsValue.get(name);
      if (!mine || !sameOrigin(mine, origin)) this.originsValue.set(name, origin);
    }
  }

  private async writeOriginsSafely(): Promise<void> {
    try {
      await writeOrigins(this.index.root, this.originsValue);
    } catch (error) {
      this.logger.warn(`catalog: cannot write ${this.index.root}'s origins: ${(error as Error).message}`);
    }
  }

  private onIndexChange(change: CatalogChange): void {
    // Origins of files a person deleted are dropped by the next write (pruneOrigins), as they always were.
    if (!this.disposed) this.changed.fire(change);
  }

  /** Stops watching, waits for a write under way, and stops the image worker. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.writes;
    await this.opened?.catch(() => undefined);
    await this.index.dispose();
    if (this.ownsWork) await this.work.dispose();
    this.changed.dispose();
  }
}

function sameOrigin(a: Origin, b: Origin): boolean {
  const keys: Array<keyof Origin> = [
    'project',
    'environment',
    'board',
    'source',
    'builtAt',
    'publishedAt',
    'replacedBuiltAt',
    'md5',
    'target',
  ];
  return keys.every((key) => a[key] === b[key]) && !!a.signed === !!b.signed;
}
