// The device inventory: the registry of boards and the history of builds, restored from and saved to the device state
// file (beside the catalog by default), and fed by the server's events, the catalog's index and the publisher.
// The CLI and the editor both use this one composition; only it touches the state file (through DeviceStateFile).

import * as path from 'node:path';
import type { Disposable, Event } from '../events';
import type { Logger } from '../log';
import type { Origin } from '../catalog/origins';
import type { CatalogEntry } from '../catalog/catalogEntry';
import type { ImageInfo } from '../firmware/imageInfo';
import { BuildHistory, type BuildFacts } from './buildHistory';
import { DeviceRegistry, type ServerEventSource, type Urgency } from './deviceRegistry';
import type { DeviceIdentity } from './deviceRequest';
import { STATE_FILE, STATE_VERSION, boundState, type DeviceStateDoc, type StoredRunning } from './deviceState';
import { DeviceStateFile } from './stateFile';
import { yieldIfBusy } from '../work/loopTurn';

/** What the inventory needs of the catalog: its index, and which entries changed (see CatalogChange). */
export interface CatalogSource {
  readonly root: string;
  readonly onDidChange: Event<{ changed?: readonly CatalogEntry[]; removed?: readonly string[] }>;
  allEntries(): CatalogEntry[];
}

/** What the inventory needs of a publish: the entry, its bytes' facts and where it came from. */
export interface PublishedBuild {
  name: string;
  md5: string;
  size: number;
  info: ImageInfo;
  origin: Origin;
}

export interface DeviceInventoryOptions {
  logger: Logger;
  /**
   * What devices may run, by every hash they can report (the ESP8266 updater rewrites the flash-mode byte, so a
   * board reports another MD5 than the file's): hash → the image's file MD5.
   */
  knownImages?: { identify(hash: string | undefined): { md5: string } | undefined };
  /** Delay before an outcome, a name or a hold is written (coalesces bursts). */
  saveDelayMs?: number;
  /** Delay before changes of "last seen" alone are written (polling boards change it every few seconds). */
  lazySaveDelayMs?: number;
}

/** The default place of the state file: beside the catalog's entries, as a dotfile devices never see. */
export function defaultStateFile(catalogDir: string): string {
  return path.join(catalogDir, STATE_FILE);
}

export class DeviceInventory implements Disposable {
  readonly registry: DeviceRegistry;
  readonly builds = new BuildHistory();
  private file: DeviceStateFile | undefined;
  private timer: NodeJS.Timeout | undefined;
  private timerDue = Infinity;
  private readonly subscriptions: Disposable[] = [];
  private catalog: CatalogSource | undefined;
  private catalogScan: Promise<void> = Promise.resolve();
  /** Catalog entry → the MD5 of the application build it holds; and build MD5 → the entries holding it. */
  private readonly entryBuilds = new Map<string, string>();
  private readonly buildFiles = new Map<string, string[]>();
  private readonly saveDelayMs: number;
  private readonly lazySaveDelayMs: number;
  private disposed = false;
  /** Something changed since the state file was last written. */
  private dirty = false;
  /** Opens one after another: a second open of the same file waits for the first to have restored it. */
  private opening: Promise<void> = Promise.resolve();
  /** Writes one after another: each reads what another process wrote before it writes. */
  private persisting: Promise<void> = Promise.resolve();

  constructor(private readonly options: DeviceInventoryOptions) {
    this.saveDelayMs = options.saveDelayMs ?? 200;
    this.lazySaveDelayMs = options.lazySaveDelayMs ?? 10_000;
    this.registry = new DeviceRegistry((md5, sha256) => this.describe(md5, sha256), options.logger);
    this.subscriptions.push(this.registry.onDidChangeRecords((urgency) => this.schedule(urgency)));
  }

  /** The state file in use, once opened. */
  get stateFile(): string | undefined {
    return this.file?.file;
  }

  /** Bytes of the last state document written. */
  get lastWrittenBytes(): number {
    return this.file?.lastWrittenBytes ?? 0;
  }

  /**
   * Uses `file` from now on: saves what is held to the previous file, then restores boards and builds from this one
   * (a missing file is an empty fleet; a bad one is set aside by DeviceStateFile). Opening the same file is a no-op.
   */
  open(file: string): Promise<void> {
    const run = this.opening.then(async () => {
      const resolved = path.resolve(file);
      if (this.file?.file === resolved) return;
      if (this.file) await this.saveNow();
      const next = new DeviceStateFile(resolved, this.options.logger);
      const { doc } = await next.load();
      this.file = next;
      this.registry.clearSilently();
      this.builds.clear();
      this.builds.restore(doc.builds);
      this.registry.restore(doc.devices);
      this.registry.markSynced();
    });
    this.opening = run.catch(() => undefined);
    return run;
  }

  /** Follows a server's requests and its catalog. Returns the subscription. */
  follow(server: ServerEventSource & { catalog: CatalogSource }): Disposable {
    const events = this.registry.follow(server);
    const catalog = this.followCatalog(server.catalog);
    return { dispose: () => (catalog.dispose(), events.dispose()) };
  }

  /** Learns every complete application image of the catalog (and which entries hold which build) after each change. */
  followCatalog(catalog: CatalogSource): Disposable {
    this.catalog = catalog;
    // The whole index once, then only the entries each change names (a change of 1 entry in 1000 costs 1).
    const subscription = catalog.onDidChange((change) =>
      change.changed && change.removed
        ? void this.learnChange(change.changed, change.removed)
        : void this.scanCatalog(catalog),
    );
    void this.scanCatalog(catalog);
    return {
      dispose: () => {
        subscription.dispose();
        if (this.catalog === catalog) this.catalog = undefined;
      },
    };
  }

  /** Resolves when the catalog's current index has been learnt (tests, start-up). */
  whenCatalogLearnt(): Promise<void> {
    return this.catalogScan;
  }

  /** A build the publisher just put into the catalog: remembered with its project, environment and build time. */
  recordPublish(event: PublishedBuild): void {
    const facts = factsOf(event.name, event.md5, event.size, event.info, event.origin);
    if (this.builds.remember(facts)) {
      this.registry.refreshRunning();
      this.schedule('now');
    }
  }

  /** Whether updates are held for this board (the server asks before every download). */
  readonly isHeld = (device: DeviceIdentity): boolean => this.registry.isHeld(device);

  /** Writes the state file now, when something changed since it was last written. */
  async saveNow(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.timerDue = Infinity;
    if (!this.file) return;
    if (this.dirty) {
      this.dirty = false;
      await this.persist();
    }
    // A save the timer started may still be making its snapshot (in turns of the loop): it has not reached the file.
    await this.persisting;
    await this.file.flush();
  }

  /** The document the state file holds. */
  snapshot(): DeviceStateDoc {
    return boundState({ version: STATE_VERSION, devices: this.registry.toState(), builds: this.builds.list() });
  }

  /** The same, made a few boards per turn of the loop (it is made after every change worth saving). */
  private async snapshotInSlices(): Promise<DeviceStateDoc> {
    const devices = await this.registry.toStateInSlices();
    return boundState({ version: STATE_VERSION, devices, builds: this.builds.list() });
  }

  /** Saves and stops following. */
  async close(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.catalogScan.catch(() => undefined);
    await this.saveNow();
    this.dispose();
  }

  dispose(): void {
    this.disposed = true;
    clearTimeout(this.timer);
    this.subscriptions.forEach((s) => s.dispose());
    this.registry.dispose();
  }

  private schedule(urgency: Urgency): void {
    if (!this.file || this.disposed) return;
    this.dirty = true;
    const due = Date.now() + (urgency === 'now' ? this.saveDelayMs : this.lazySaveDelayMs);
    if (this.timer && this.timerDue <= due) return;
    clearTimeout(this.timer);
    this.timerDue = due;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.timerDue = Infinity;
      this.dirty = false;
      void this.persist();
    }, due - Date.now());
    this.timer.unref?.();
  }

  /**
   * Writes what is held, after taking in what another process wrote to the file since (two instances on one catalog
   * folder: an editor window with its server stopped must not write away the boards the CLI recorded). Between the
   * read and the rename a write of the other process can still be lost: there is no lock across processes.
   */
  private persist(): Promise<void> {
    const file = this.file;
    if (!file) return Promise.resolve();
    const run = this.persisting.then(async () => {
      if (file !== this.file) return;
      if (await file.changedByAnother()) {
        const { doc } = await file.load();
        if (file !== this.file) return;
        this.builds.merge(doc.builds);
        this.registry.merge(doc.devices);
        this.registry.refreshRunning();
      }
      this.registry.markSynced();
      await file.save(await this.snapshotInSlices());
    });
    this.persisting = run.catch((error: unknown) =>
      this.options.logger.warn(`device state ${file.file} not saved: ${String(error)}`),
    );
    return this.persisting;
  }

  private scanCatalog(catalog: CatalogSource): Promise<void> {
    const run = this.catalogScan.then(async () => {
      if (this.disposed) return;
      this.entryBuilds.clear();
      this.buildFiles.clear();
      let learnt = false;
      for (const entry of catalog.allEntries()) {
        // 1000 entries: in slices of the loop, in the catalog's order
        await yieldIfBusy();
        if (this.disposed) return;
        learnt = this.learnEntry(entry) || learnt;
      }
      this.learnt(learnt);
    });
    return this.queueLearning(run);
  }

  /** The entries a catalog change names: new or changed ones are learnt, removed ones leave the build's files. */
  private learnChange(changed: readonly CatalogEntry[], removed: readonly string[]): Promise<void> {
    const run = this.catalogScan.then(async () => {
      if (this.disposed) return;
      let learnt = false;
      // A rescan of 1000 new versions names them all: in slices of the loop, as the whole scan
      for (const rel of removed) {
        await yieldIfBusy();
        if (this.disposed) return;
        this.dropEntry(rel, true);
      }
      for (const entry of changed) {
        await yieldIfBusy();
        if (this.disposed) return;
        this.dropEntry(entry.relPath, entry.isDirectory);
        learnt = this.learnEntry(entry) || learnt;
      }
      this.learnt(learnt);
    });
    return this.queueLearning(run);
  }

  private learnEntry(entry: CatalogEntry): boolean {
    const version = entry.version;
    if (!version || version.info.kind !== 'app' || !version.info.complete || !version.md5) return false;
    this.entryBuilds.set(entry.relPath, version.md5);
    this.buildFiles.set(version.md5, [...(this.buildFiles.get(version.md5) ?? []), entry.relPath]);
    // The catalog gives an entry its origin only while it holds the published bytes.
    const facts = factsOf(entry.relPath, version.md5, version.size, version.info, entry.origin);
    return this.builds.remember(facts, version.mtimeMs);
  }

  /** Forgets which build an entry held; `below`: also every entry below it, if it was a folder. */
  private dropEntry(rel: string, below: boolean): void {
    const drop = (key: string): boolean => {
      const md5 = this.entryBuilds.get(key);
      if (md5 === undefined) return false;
      this.entryBuilds.delete(key);
      const files = (this.buildFiles.get(md5) ?? []).filter((file) => file !== key);
      if (files.length > 0) this.buildFiles.set(md5, files);
      else this.buildFiles.delete(md5);
      return true;
    };
    if (drop(rel) || !below) return;
    for (const key of [...this.entryBuilds.keys()]) if (key.startsWith(`${rel}/`)) drop(key);
  }

  private learnt(learnt: boolean): void {
    this.builds.setCatalogFiles(this.buildFiles);
    this.registry.refreshRunning();
    if (learnt) this.schedule('now');
  }

  private queueLearning(run: Promise<void>): Promise<void> {
    this.catalogScan = run.catch((error: unknown) =>
      this.options.logger.warn(`device inventory: cannot learn the catalog's builds: ${String(error)}`),
    );
    return this.catalogScan;
  }

  /** Names a reported MD5 / SHA-256 by its build, with the catalog entry that holds it now (if any still does). */
  private describe(md5: string | undefined, sha256: string | undefined): StoredRunning | undefined {
    let build = this.builds.identify(sha256) ?? this.builds.identify(md5);
    if (!build && md5) {
      // An ESP8266 reports the MD5 of its flash, whose mode byte the updater rewrote: the image store knows it.
      const variantOf = this.options.knownImages?.identify(md5)?.md5;
      build = this.builds.identify(variantOf);
    }
    if (!build) return undefined;
    const running: StoredRunning = { md5: build.md5 };
    const files = this.builds.filesOf(build.md5);
    const image = files.includes(build.image) ? build.image : files[0];
    if (image) running.image = image;
    for (const key of ['project', 'environment', 'board', 'chip', 'version', 'builtAt'] as const) {
      if (build[key]) running[key] = build[key];
    }
    return running;
  }
}

function factsOf(name: string, md5: string, size: number, info: ImageInfo, origin: Origin | undefined): BuildFacts {
  const facts: BuildFacts = { md5, image: name, size };
  if (info.appendedSha256) facts.sha256 = info.appendedSha256;
  if (info.chip ?? info.family) facts.chip = info.chip ?? info.family;
  if (info.app?.version) facts.version = info.app.version;
  const project = origin?.project ?? info.app?.projectName;
  if (project) facts.project = project;
  if (origin?.environment) facts.environment = origin.environment;
  if (origin?.board) facts.board = origin.board;
  const builtAt = origin?.builtAt || compiledAt(info);
  if (builtAt) facts.builtAt = builtAt;
  return facts;
}

/** The ESP32 app descriptor's `__DATE__ __TIME__` ("Dec  1 2026", "14:47:52", local time of the build machine). */
function compiledAt(info: ImageInfo): string | undefined {
  const app = info.app;
  if (!app?.date || !app.time) return undefined;
  const ms = Date.parse(`${app.date.replace(/\s+/g, ' ')} ${app.time}`);
  return Number.isFinite(ms) ? new Date(ms).toISOString().replace('.000Z', 'Z') : undefined;
}
