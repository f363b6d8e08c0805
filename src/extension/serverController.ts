// Composition root of the editor front: turns settings into core options, owns the update server and the build
// publisher, and turns their events into state the views show. Errors from the core are shown here, once.

import * as vscode from 'vscode';
import { mkdir, writeFile, access } from 'node:fs/promises';
import { dirname, isAbsolute, join } from 'node:path';
import { ServerStartError, UpdateServer } from '../core/updateServer';
import { BuildPublisher, type PublishEvent } from '../core/publish/buildPublisher';
import { hasFirmwareProject } from '../core/publish/discover';
import { DeviceRegistry } from '../core/devices/deviceRegistry';
import { readOrigins, type Origin } from '../core/catalog/origins';
import { advertisedAddress, reachableAddresses } from '../core/net/addresses';
import { Emitter, DisposableStore, serialQueue, type Disposable } from '../core/events';
import type { Logger } from '../core/log';
import { errorMessage } from '../core/errorMessage';
import { readSettings, type Settings } from './config';
import { ContextKey } from './commandIds';

export type ServerState =
  | { kind: 'stopped' }
  | { kind: 'starting' }
  | { kind: 'running'; port: number; host: string; advertised: string; catalogDir: string }
  | { kind: 'failed'; message: string };

export class ServerController implements vscode.Disposable {
  private server: UpdateServer | undefined;
  private serverSubscriptions = new DisposableStore();
  private publisher: BuildPublisher | undefined;
  private publisherSubscriptions = new DisposableStore();
  private stateValue: ServerState = { kind: 'stopped' };
  /** Start, stop and restart of the server, one at a time. */
  private readonly serialize = serialQueue();
  /** Publisher restarts, one at a time: two overlapping ones would leave an orphaned publisher behind. */
  private readonly serializePublisher = serialQueue();
  private disposed = false;
  /** A port chosen after a conflict: kept for this session only, never written into settings. */
  private portOverride: number | undefined;
  private originsCache = new Map<string, Origin>();

  readonly devices: DeviceRegistry;
  private readonly stateChanged = new Emitter<ServerState>('server state changed', () => this.logger);
  readonly onDidChangeState = this.stateChanged.event;
  private readonly catalogChanged = new Emitter<void>('catalog changed', () => this.logger);
  readonly onDidChangeCatalog = this.catalogChanged.event;
  private readonly published = new Emitter<PublishEvent>('build published', () => this.logger);
  readonly onDidPublish = this.published.event;

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly logger: Logger,
  ) {
    this.devices = new DeviceRegistry((hash) => this.server?.catalog.images.identify(hash), logger);
  }

  get state(): ServerState {
    return this.stateValue;
  }

  get settings(): Settings {
    return readSettings();
  }

  get port(): number {
    return this.portOverride ?? this.settings.port;
  }

  /** The catalog the server is serving, or would serve. */
  get catalogDir(): string | undefined {
    return this.server?.catalog.root ?? this.resolveCatalogDir();
  }

  get catalog(): UpdateServer['catalog'] | undefined {
    return this.server?.catalog;
  }

  /** Whether builds of the workspace are being watched. */
  get publishing(): boolean {
    return this.publisher !== undefined;
  }

  get origins(): ReadonlyMap<string, Origin> {
    return this.originsCache;
  }

  /** The address a device should use: the user's pick, the setting, or the LAN address of the default route. */
  get advertisedHost(): string {
    const picked = this.context.workspaceState.get<string>('autoconnect.advertisedAddress');
    const settings = this.settings;
    return picked || settings.advertisedAddress || advertisedAddress(settings.bindAddress || undefined);
  }

  async pickAdvertisedAddress(address: string | undefined): Promise<void> {
    await this.context.workspaceState.update('autoconnect.advertisedAddress', address);
    if (this.stateValue.kind === 'running') this.setState({ ...this.stateValue, advertised: this.advertisedHost });
  }

  start(): Promise<void> {
    return this.serialize(() => this.doStart());
  }

  stop(): Promise<void> {
    return this.serialize(() => this.doStop());
  }

  restart(): Promise<void> {
    return this.serialize(async () => {
      await this.doStop();
      await this.doStart();
    });
  }

  /** Starts with another port for this session after a conflict. */
  async useAnotherPort(port: number): Promise<void> {
    this.portOverride = port;
    await this.restart();
  }

  /** (Re)creates the build publisher from the settings and workspace folders (activation, settings, folders). */
  restartPublisher(): Promise<void> {
    return this.serializePublisher(() => this.doRestartPublisher());
  }

  private async doRestartPublisher(): Promise<void> {
    await this.disposePublisher();
    if (this.disposed) return;
    const settings = this.settings;
    const roots = (vscode.workspace.workspaceFolders ?? [])
      .filter((f) => f.uri.scheme === 'file')
      .map((f) => f.uri.fsPath);
    const catalogDir = this.resolveCatalogDir();
    if (!settings.publishEnabled || roots.length === 0 || !catalogDir) return;
    // A workspace with no PlatformIO or Arduino project costs one bounded walk, not a watcher over the whole tree;
    // extension.ts starts the publisher when such a project appears. The core's walk, not the editor's file search:
    // it sees exactly the projects the publisher would, and does not depend on a search service being ready.
    if (
      settings.publishOutputFolders.length === 0 &&
      settings.publishExtraGlobs.length === 0 &&
      !(await hasFirmwareProject(roots))
    ) {
      this.logger.info('no PlatformIO project or Arduino sketch in the workspace: not watching for builds');
      return;
    }
    const publisher = new BuildPublisher({
      roots,
      catalogDir,
      keep: settings.publishKeep,
      extraGlobs: settings.publishExtraGlobs,
      extraOutputDirs: settings.publishOutputFolders.map((p) => (isAbsolute(p) ? p : join(roots[0]!, p))),
      logger: this.logger,
    });
    this.publisherSubscriptions.add(
      publisher.onDidPublish((event) => {
        this.originsCache.set(event.name, event.origin);
        // The first publish creates the catalog folder; keep built firmware out of git from then on.
        void this.ensureCatalogFolder(catalogDir).then(() => this.published.fire(event));
      }),
    );
    this.publisherSubscriptions.add(publisher.onDidError((error) => this.logger.error(`publish: ${error.message}`)));
    this.publisher = publisher;
    try {
      await publisher.start();
    } catch (error) {
      this.logger.error(`publishing builds: ${errorMessage(error)}`);
    }
  }

  /** Looks at build outputs again now (after a build task ended). */
  async rescanBuilds(): Promise<void> {
    await this.publisher?.rescan();
  }

  /** Classifies a file and copies it into the catalog. Resolves with the entry name or a reason it was refused. */
  async publishFile(path: string): Promise<{ name?: string; reason?: string }> {
    const catalogDir = this.resolveCatalogDir();
    if (!catalogDir) return { reason: 'no catalog folder: open a folder or set autoconnect.catalog.folder' };
    await this.ensureCatalogFolder(catalogDir);
    let publisher = this.publisher;
    let temporary = false;
    if (!publisher) {
      publisher = new BuildPublisher({ roots: [], catalogDir, keep: this.settings.publishKeep, logger: this.logger });
      temporary = true;
    }
    try {
      const outcome = await publisher.publishFile(path);
      if (outcome.published) {
        this.originsCache.set(outcome.event.name, outcome.event.origin);
        if (temporary) this.published.fire(outcome.event);
        await this.server?.catalog.rescanAll();
        return { name: outcome.event.name };
      }
      if (outcome.code === 'unchanged' && outcome.name) return { name: outcome.name };
      return { reason: outcome.reason };
    } finally {
      if (temporary) await publisher.dispose();
    }
  }

  private async doStart(): Promise<void> {
    if (this.server) return;
    const settings = this.settings;
    const catalogDir = this.resolveCatalogDir();
    if (!catalogDir) {
      this.fail('no catalog folder: open a folder, or set "autoconnect.catalog.folder" to an absolute path');
      return;
    }
    this.setState({ kind: 'starting' });
    try {
      await this.ensureCatalogFolder(catalogDir);
      const server = await UpdateServer.start({
        catalogDir,
        port: this.port,
        host: settings.bindAddress || '0.0.0.0',
        allow: settings.allow,
        answerNotModified: settings.answerNotModified,
        logger: this.logger,
      });
      this.server = server;
      this.serverSubscriptions = new DisposableStore();
      this.serverSubscriptions.add(this.devices.follow(server));
      this.serverSubscriptions.add(server.onDidChangeCatalog(() => void this.refreshCatalog()));
      await this.refreshCatalog();
      const advertised = this.advertisedHost;
      this.logger.info(
        `update server listening on ${server.host}:${server.port}, catalog ${server.catalog.root}; ` +
          `devices use ${advertised}:${server.port} (${reachableAddresses(settings.bindAddress || undefined)
            .map((a) => `${a.address} ${a.interfaceName}`.trim())
            .join(', ')})`,
      );
      this.setState({
        kind: 'running',
        port: server.port,
        host: server.host,
        advertised,
        catalogDir: server.catalog.root,
      });
    } catch (error) {
      const message =
        error instanceof ServerStartError ? error.message : `cannot start the update server: ${errorMessage(error)}`;
      this.fail(message, error instanceof ServerStartError ? error : undefined);
    }
  }

  private async doStop(): Promise<void> {
    const server = this.server;
    if (!server) {
      if (this.stateValue.kind !== 'stopped') this.setState({ kind: 'stopped' });
      return;
    }
    this.server = undefined;
    await server.stop();
    this.serverSubscriptions.dispose();
    this.devices.abortRunning('server stopped');
    this.logger.info('update server stopped');
    this.setState({ kind: 'stopped' });
    void this.setContext(ContextKey.CatalogEmpty, false);
  }

  private fail(message: string, error?: ServerStartError): void {
    this.logger.error(message);
    this.setState({ kind: 'failed', message });
    void this.showStartError(message, error);
  }

  private async showStartError(message: string, error?: ServerStartError): Promise<void> {
    if (error?.code === 'EADDRINUSE') {
      const choice = await vscode.window.showErrorMessage(`AutoConnect: ${message}.`, 'Use Another Port…', 'Show Log');
      if (choice === 'Use Another Port…') {
        const value = await vscode.window.showInputBox({
          title: 'AutoConnect: port for this session',
          prompt: `Port ${error.port} is taken. Devices must use the new port too (AutoConnectUpdate's second argument).`,
          value: String((error.port ?? 8000) + 1),
          validateInput: (text) =>
            /^\d+$/.test(text) && Number(text) > 0 && Number(text) < 65536 ? undefined : 'a port from 1 to 65535',
        });
        if (value) await this.useAnotherPort(Number(value));
      } else if (choice === 'Show Log') {
        await vscode.commands.executeCommand('autoconnect.showLog');
      }
      return;
    }
    const choice = await vscode.window.showErrorMessage(`AutoConnect: ${message}`, 'Open Settings', 'Show Log');
    if (choice === 'Open Settings')
      await vscode.commands.executeCommand('workbench.action.openSettings', 'autoconnect');
    else if (choice === 'Show Log') await vscode.commands.executeCommand('autoconnect.showLog');
  }

  private setState(state: ServerState): void {
    this.stateValue = state;
    void this.setContext(ContextKey.Running, state.kind === 'running');
    this.stateChanged.fire(state);
  }

  private async refreshCatalog(): Promise<void> {
    const root = this.server?.catalog.root;
    if (root) this.originsCache = await readOrigins(root);
    const empty = !this.server?.catalog.allEntries().some((e) => !e.isDirectory);
    await this.setContext(ContextKey.CatalogEmpty, this.server !== undefined && empty);
    this.catalogChanged.fire();
  }

  private setContext(key: ContextKey, value: boolean): Thenable<unknown> {
    return vscode.commands.executeCommand('setContext', key, value);
  }

  private resolveCatalogDir(): string | undefined {
    const folder = this.settings.catalogFolder;
    if (isAbsolute(folder)) return folder;
    const first = vscode.workspace.workspaceFolders?.find((f) => f.uri.scheme === 'file');
    if (first) return join(first.uri.fsPath, folder);
    // No folder open: a catalog of the user's own, in the extension's storage.
    return join(this.context.globalStorageUri.fsPath, 'catalog');
  }

  /** Creates the default catalog folder; one under `.autoconnect/` gets a .gitignore so firmware is not committed. */
  private async ensureCatalogFolder(catalogDir: string): Promise<void> {
    await mkdir(catalogDir, { recursive: true });
    const parent = dirname(catalogDir);
    if (parent.endsWith('.autoconnect')) {
      const ignore = join(parent, '.gitignore');
      try {
        await access(ignore);
      } catch {
        await writeFile(ignore, '# AutoConnect update server catalog: firmware images are build outputs\n*\n');
      }
    }
  }

  private async disposePublisher(): Promise<void> {
    const publisher = this.publisher;
    this.publisher = undefined;
    this.publisherSubscriptions.dispose();
    this.publisherSubscriptions = new DisposableStore();
    await publisher?.dispose();
  }

  /** Stops the server and the publisher (reverse order of creation) and waits for both. */
  async dispose(): Promise<void> {
    this.disposed = true;
    await this.serialize(() => this.doStop());
    await this.serializePublisher(() => this.disposePublisher());
    this.devices.dispose();
    for (const emitter of [this.published, this.catalogChanged, this.stateChanged] as Disposable[]) emitter.dispose();
  }
}
