// The one composition of the core that both fronts use: the catalog of the configured folder (open whether or not it
// is served), the update server and the build publisher that both receive that catalog, and the device inventory
// (boards and builds, in the state file) that follows them. A front turns its flags or settings into
// UpdateServiceOptions and calls update(); the service starts, stops or restarts only the parts whose options changed,
// one update at a time, and disposes them in reverse order of creation.

import { resolve } from 'node:path';
import { Emitter, DisposableStore, serialQueue, type Disposable, type Event } from './events';
import { silentLogger, type Logger } from './log';
import { errorMessage } from './errorMessage';
import { UpdateServer, type UpdateServerOptions } from './updateServer';
import type { CatalogChange } from './catalog/catalogStore';
import { Catalog, type CatalogRollBackResult } from './catalog/catalog';
import type { Origin } from './catalog/origins';
import { BuildPublisher, type PublishErrorEvent, type PublishEvent, type SkipEvent } from './publish/buildPublisher';
import { hasFirmwareProject } from './publish/discover';
import type { DeviceRegistry } from './devices/deviceRegistry';
import { DeviceInventory, defaultStateFile } from './devices/deviceInventory';
import { KnownImages } from './devices/knownImages';

/** How the catalog is served; absent in UpdateServiceOptions means not serving. */
export type ServeOptions = Omit<UpdateServerOptions, 'catalogDir' | 'logger'>;

/** Where builds are looked for; absent in UpdateServiceOptions means not publishing builds. */
export interface WatchBuildsOptions {
  /** Workspace folders or --watch folders searched for PlatformIO projects and Arduino sketches. */
  roots: string[];
  /** Folders whose `*.bin` / `*.bin.gz` are outputs (an arduino-cli `--output-dir`). */
  extraOutputDirs?: string[];
  /** Glob patterns of outputs, relative to each root or absolute. */
  extraGlobs?: string[];
  /**
   * Watch only when a root holds a project (one bounded walk instead of a watcher over a tree without firmware);
   * rescanBuilds() looks again. Default off.
   */
  requireProject?: boolean;
  /** For PLATFORMIO_BUILD_DIR / PLATFORMIO_WORKSPACE_DIR; defaults to process.env. */
  env?: NodeJS.ProcessEnv;
  /** Quiet time after the last file event before an output is looked at (default 0: at once). */
  debounceMs?: number;
  /** Backstop poll of the expected outputs (default 2000 ms; 0 turns it off). */
  pollMs?: number;
  /** Folder levels searched below a root (default 4). */
  maxDepth?: number;
}

export interface UpdateServiceOptions {
  catalogDir: string;
  /** The device state file (default: `.autoconnect-devices.json` in the catalog folder). */
  stateFile?: string;
  /**
   * Create the catalog folder when it is missing (and a .gitignore in a `.autoconnect/` parent). Off: a missing
   * folder is a start error, as for updateserver.py.
   */
  createFolder?: boolean;
  /** Previous builds kept per target as dated entries, for watched builds and one-off publishes (default 3). */
  keep?: number;
  serve?: ServeOptions;
  publish?: WatchBuildsOptions;
}

export interface PublishFileResult {
  /** The catalog entry that holds the file now (newly published, or already holding these bytes). */
  name?: string;
  /** Why it was not published. */
  reason?: string;
}

export class UpdateService implements Disposable {
  /** Boards and builds, restored from and saved to the state file; kept across server restarts. */
  readonly inventory: DeviceInventory;
  readonly devices: DeviceRegistry;
  /** What devices may be running: kept across restarts of the server, so a device is recognised after one. */
  readonly knownImages = new KnownImages();
  private readonly logger: Logger;
  private options: UpdateServiceOptions | undefined;
  /** The options the catalog, the running server and the publisher were made with (a failed start records none). */
  private cataloging: string | undefined;
  private serving: string | undefined;
  private watching: string | undefined;
  private serverValue: UpdateServer | undefined;
  private serverSubscriptions = new DisposableStore();
  private publisherValue: BuildPublisher | undefined;
  private publisherSubscriptions = new DisposableStore();
  private catalogValue: Catalog | undefined;
  private oneOff: { publisher: BuildPublisher; keep: number | undefined; dispose(): Promise<void> } | undefined;
  private catalogSubscriptions = new DisposableStore();
  private readonly serialize = serialQueue();
  private disposing: Promise<void> | undefined;

  private readonly catalogChanged = new Emitter<CatalogChange>('catalog changed', () => this.logger);
  private readonly serverChanged = new Emitter<UpdateServer | undefined>('server changed', () => this.logger);
  private readonly published = new Emitter<PublishEvent>('build published', () => this.logger);
  private readonly skipped = new Emitter<SkipEvent>('build skipped', () => this.logger);
  private readonly errored = new Emitter<PublishErrorEvent>('publish error', () => this.logger);
  /** The catalog changed (its entries, or the folder itself when the options name another one). */
  readonly onDidChangeCatalog: Event<CatalogChange> = this.catalogChanged.event;
  /** The server started (with it) or stopped (undefined). */
  readonly onDidChangeServer: Event<UpdateServer | undefined> = this.serverChanged.event;
  readonly onDidPublish: Event<PublishEvent> = this.published.event;
  readonly onDidSkip: Event<SkipEvent> = this.skipped.event;
  /** A publishing failure, one line a person can act on (already in the log). */
  readonly onDidError: Event<PublishErrorEvent> = this.errored.event;

  constructor(init: { logger?: Logger } = {}) {
    this.logger = init.logger ?? silentLogger;
    this.inventory = new DeviceInventory({ logger: this.logger, knownImages: this.knownImages });
    this.devices = this.inventory.registry;
  }

  /** The running server, if serving. */
  get server(): UpdateServer | undefined {
    return this.serverValue;
  }

  /**
   * The catalog of the configured folder, served or not: its index, and the only way to write into the folder. Empty
   * (isOpen false, openError says why) while the folder does not exist.
   */
  get catalog(): Catalog | undefined {
    return this.catalogValue;
  }

  /** The catalog folder of the current options (its real path once it exists). */
  get catalogDir(): string | undefined {
    return this.catalogValue?.root ?? this.options?.catalogDir;
  }

  get publisher(): BuildPublisher | undefined {
    return this.publisherValue;
  }

  /** Whether builds are being watched. */
  get publishing(): boolean {
    return this.publisherValue !== undefined;
  }

  /** Where each published entry of the catalog came from (also each entry's `origin`). */
  get origins(): ReadonlyMap<string, Origin> {
    return this.catalogValue?.origins ?? new Map();
  }

  /**
   * Brings the running parts in line with `options`: the server and the publisher are (re)started or stopped only
   * when their own options (or the catalog folder) changed. Rejects with a ServerStartError when a server that should
   * run cannot start; the publisher's part of `options` is then not applied. Publishing problems are logged and
   * emitted (onDidError), never thrown.
   */
  update(options: UpdateServiceOptions): Promise<void> {
    return this.serialize(() => this.apply(options));
  }

  /** Looks at build outputs again now (after a build), and starts watching a project that has appeared since. */
  rescanBuilds(): Promise<void> {
    return this.serialize(async () => {
      if (this.publisherValue) await this.publisherValue.rescan();
      else if (this.options?.publish) await this.startPublisher(this.options);
    });
  }

  /** Classifies a file and copies it into the catalog, whether or not builds are watched. */
  async publishFile(path: string): Promise<PublishFileResult> {
    const catalog = this.catalogValue;
    if (!catalog) return { reason: 'no catalog folder: open a folder or set autoconnect.catalog.folder' };
    const outcome = await (this.publisherValue ?? this.oneOffPublisher(catalog)).publishFile(path);
    if (outcome.published) return { name: outcome.event.name };
    if (outcome.code === 'unchanged' && outcome.name) return { name: outcome.name };
    return { reason: outcome.reason };
  }

  /**
   * Makes a kept (dated) build its target's current entry again, whether or not the catalog is served (see
   * Catalog.rollBack), with the retention of the options (`keep`, 3 by default as for publishes). Rejects with a
   * one-line reason when it cannot.
   */
  rollBack(relPath: string): Promise<CatalogRollBackResult> {
    const catalog = this.catalogValue;
    if (!catalog)
      return Promise.reject(new Error('no catalog folder: open a folder or set autoconnect.catalog.folder'));
    return catalog.rollBack(relPath, { keep: this.options?.keep ?? 3 });
  }

  /**
   * The publisher of one-off files while builds are not watched: it watches nothing, and its image worker starts on
   * its first file. Kept with the catalog (and made again when `keep` changes).
   */
  private oneOffPublisher(catalog: Catalog): BuildPublisher {
    const keep = this.options?.keep;
    if (this.oneOff && this.oneOff.keep === keep) return this.oneOff.publisher;
    void this.oneOff?.dispose();
    const publisher = new BuildPublisher({ roots: [], catalog, keep, logger: this.logger });
    const subscriptions = new DisposableStore();
    subscriptions.add(
      publisher.onDidPublish((event) => {
        this.inventory.recordPublish(event);
        this.published.fire(event);
      }),
    );
    // Its skips and errors are the caller's answer (PublishFileResult.reason), already in the log.
    this.oneOff = {
      publisher,
      keep,
      dispose: async () => {
        this.oneOff = undefined;
        await publisher.dispose();
        subscriptions.dispose();
      },
    };
    return publisher;
  }

  /**
   * Stops the server first, so that no device is answered by a service half gone, then the publisher, then the
   * catalog both of them used (created first, closed last), and waits for all three.
   */
  dispose(): Promise<void> {
    this.disposing ??= (async () => {
      await this.serialize(async () => {
        await this.stopServer();
        await this.stopPublisher();
        await this.closeCatalog();
      });
      await this.inventory.close();
      for (const emitter of [this.errored, this.skipped, this.published, this.serverChanged, this.catalogChanged])
        emitter.dispose();
    })();
    return this.disposing;
  }

  private async apply(next: UpdateServiceOptions): Promise<void> {
    if (this.disposing) return;
    this.options = next;
    const folder = resolve(next.catalogDir);
    // Boards are known before the server listens (and while it is stopped): no request is recorded into a registry
    // about to be restored. Opening only reads; the file is written when something changes.
    await this.inventory.open(next.stateFile ?? defaultStateFile(folder));
    const cataloging = JSON.stringify([folder, next.createFolder === true]);
    if (cataloging !== this.cataloging) {
      // Another folder: everything that reads or writes the old one goes first.
      await this.stopServer();
      this.serving = undefined;
      await this.stopPublisher();
      this.watching = undefined;
      await this.closeCatalog();
      await this.openCatalog(next);
      this.cataloging = cataloging;
    }
    const serving = next.serve ? JSON.stringify([folder, next.serve]) : undefined;
    if (serving !== this.serving) {
      await this.stopServer();
      this.serving = undefined;
      if (next.serve) {
        if (next.createFolder) await this.catalogValue!.create();
        await this.startServer(next.serve);
        this.serving = serving;
      }
    }
    const watching = next.publish ? JSON.stringify([folder, next.keep, next.createFolder, next.publish]) : undefined;
    if (watching !== this.watching) {
      await this.stopPublisher();
      this.watching = watching;
      if (next.publish) await this.startPublisher(next);
    }
  }

  /** The catalog of the configured folder: opened (listed and watched) whether or not it is served. */
  private async openCatalog(options: UpdateServiceOptions): Promise<void> {
    const catalog = new Catalog({ root: options.catalogDir, logger: this.logger, createFolder: options.createFolder });
    this.catalogValue = catalog;
    this.catalogSubscriptions = new DisposableStore();
    // What devices may run is learnt from every analysis, served or not: a device is recognised once a server runs.
    this.catalogSubscriptions.add(catalog.onDidAnalyzeImage((analysis) => this.knownImages.learn(analysis)));
    this.catalogSubscriptions.add(catalog.onDidChange((change) => this.catalogChanged.fire(change)));
    await catalog.open();
    this.catalogSubscriptions.add(this.inventory.followCatalog(catalog));
    if (catalog.isOpen) {
      this.catalogChanged.fire({ dirs: [''], changed: catalog.allEntries(), removed: [] });
    } else {
      this.logger.debug(`catalog: ${catalog.openError?.message ?? `${catalog.root} is not open`}`);
    }
  }

  private async closeCatalog(): Promise<void> {
    const catalog = this.catalogValue;
    if (!catalog) return;
    const removed = catalog.allEntries().map((entry) => entry.relPath);
    this.catalogValue = undefined;
    this.cataloging = undefined;
    await this.oneOff?.dispose();
    this.catalogSubscriptions.dispose();
    await catalog.dispose();
    if (removed.length > 0) this.catalogChanged.fire({ dirs: [''], changed: [], removed });
  }

  private async startServer(serve: ServeOptions): Promise<void> {
    const catalog = this.catalogValue!;
    const server = await UpdateServer.start({
      ...serve,
      catalogDir: catalog.root,
      catalog,
      logger: this.logger,
      knownImages: this.knownImages,
      isHeld: this.inventory.isHeld,
    });
    this.serverValue = server;
    this.serverSubscriptions = new DisposableStore();
    this.serverSubscriptions.add(this.devices.follow(server));
    this.logger.info(
      `device state ${this.inventory.stateFile}: ${plural(this.devices.list().length, 'board')}, ${plural(this.inventory.builds.size, 'build')} remembered`,
    );
    this.serverChanged.fire(server);
  }

  private async stopServer(): Promise<void> {
    const server = this.serverValue;
    if (!server) return;
    this.serverValue = undefined;
    await server.stop();
    this.serverSubscriptions.dispose();
    this.devices.abortRunning('the server stopped');
    await this.inventory.saveNow();
    this.serverChanged.fire(undefined);
  }

  private async startPublisher(options: UpdateServiceOptions): Promise<void> {
    const watch = options.publish;
    if (!watch || watch.roots.length === 0) return;
    // A workspace with no PlatformIO or Arduino project costs one bounded walk, not a watcher over the whole tree.
    // The core's walk, not an editor's file search: it sees exactly the projects the publisher would.
    if (watch.requireProject && !(await hasFirmwareProject(watch.roots, watch.maxDepth))) {
      this.logger.info('no PlatformIO project or Arduino sketch in the workspace: not watching for builds');
      return;
    }
    const publisher = new BuildPublisher({
      roots: watch.roots,
      catalog: this.catalogValue!,
      keep: options.keep,
      extraGlobs: watch.extraGlobs,
      extraOutputDirs: watch.extraOutputDirs,
      env: watch.env,
      debounceMs: watch.debounceMs,
      pollMs: watch.pollMs,
      maxDepth: watch.maxDepth,
      logger: this.logger,
    });
    this.publisherSubscriptions = new DisposableStore();
    this.publisherSubscriptions.add(
      publisher.onDidPublish((event) => {
        this.inventory.recordPublish(event);
        this.published.fire(event);
      }),
    );
    this.publisherSubscriptions.add(publisher.onDidSkip((event) => this.skipped.fire(event)));
    this.publisherSubscriptions.add(publisher.onDidError((error) => this.errored.fire(error)));
    this.publisherValue = publisher;
    try {
      await publisher.start();
    } catch (error) {
      this.logger.error(`publishing builds: ${errorMessage(error)}`);
    }
  }

  private async stopPublisher(): Promise<void> {
    const publisher = this.publisherValue;
    this.publisherValue = undefined;
    this.publisherSubscriptions.dispose();
    this.publisherSubscriptions = new DisposableStore();
    await publisher?.dispose();
  }
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}
