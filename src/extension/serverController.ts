// Composition root of the editor front: turns settings into core options, owns the update server and the build
// publisher, and turns their events into state the views show. Errors from the core are shown here, once.

import * as vscode from 'vscode';
import { isAbsolute, join } from 'node:path';
import {
  DisposableStore,
  Emitter,
  ServerStartError,
  UpdateService,
  advertisedAddress,
  errorMessage,
  reachableAddresses,
  type CatalogStore,
  type DeviceRegistry,
  type Disposable,
  type Logger,
  type Origin,
  type PublishEvent,
  type PublishFileResult,
  type UpdateServiceOptions,
  serialQueue,
} from '../core';
import { readSettings, type Settings } from './config';
import { ContextKey } from './commandIds';

export type ServerState =
  | { kind: 'stopped' }
  | { kind: 'starting' }
  | { kind: 'running'; port: number; host: string; advertised: string; catalogDir: string }
  | { kind: 'failed'; message: string };

/**
 * The editor front of the core's UpdateService: turns settings, workspace folders and start/stop commands into its
 * options, and its events into the state the views show. Errors from the core are shown here, once.
 */
export class ServerController implements vscode.Disposable {
  private readonly service: UpdateService;
  private readonly subscriptions = new DisposableStore();
  private stateValue: ServerState = { kind: 'stopped' };
  /** Whether the server should run (a start was asked for and has not failed or been stopped since). */
  private serving = false;
  /** Every change of what runs, one at a time: two overlapping ones would leave an orphaned server or publisher. */
  private readonly serialize = serialQueue();
  private disposed = false;
  /** A port chosen after a conflict: kept for this session only, never written into settings. */
  private portOverride: number | undefined;

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
    this.service = new UpdateService({ logger });
    this.devices = this.service.devices;
    this.subscriptions.add(this.service.onDidChangeCatalog(() => void this.refreshCatalog()));
    this.subscriptions.add(this.service.onDidPublish((event) => this.published.fire(event)));
    this.subscriptions.add(this.service.onDidError((error) => this.logger.error(`publish: ${error.message}`)));
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
  get catalogDir(): string {
    return this.service.server?.catalog.root ?? this.resolveCatalogDir();
  }

  get catalog(): CatalogStore | undefined {
    return this.service.catalog;
  }

  /** Whether builds of the workspace are being watched. */
  get publishing(): boolean {
    return this.service.publishing;
  }

  get origins(): ReadonlyMap<string, Origin> {
    return this.service.origins;
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

  /** Applies the settings and workspace folders as they are now (activation, a settings or folder change). */
  applySettings(): Promise<void> {
    return this.serialize(() => this.apply());
  }

  /** Looks at build outputs again now (after a build task ended, or a project appeared in the workspace). */
  rescanBuilds(): Promise<void> {
    return this.service.rescanBuilds();
  }

  /** Classifies a file and copies it into the catalog. Resolves with the entry name or a reason it was refused. */
  async publishFile(path: string): Promise<PublishFileResult> {
    await this.applySettings();
    return this.service.publishFile(path);
  }

  /** The core's options for the settings, workspace folders and start/stop state of now. */
  private options(): UpdateServiceOptions {
    const settings = this.settings;
    const roots = (vscode.workspace.workspaceFolders ?? [])
      .filter((f) => f.uri.scheme === 'file')
      .map((f) => f.uri.fsPath);
    const extraGlobs = settings.publishExtraGlobs;
    const extraOutputDirs = settings.publishOutputFolders.map((p) => (isAbsolute(p) ? p : join(roots[0] ?? '', p)));
    return {
      catalogDir: this.resolveCatalogDir(),
      createFolder: true,
      keep: settings.publishKeep,
      serve: this.serving
        ? {
            port: this.port,
            host: settings.bindAddress || '0.0.0.0',
            allow: settings.allow,
            answerNotModified: settings.answerNotModified,
          }
        : undefined,
      publish:
        settings.publishEnabled && roots.length > 0
          ? {
              roots,
              extraGlobs,
              extraOutputDirs,
              // Without extra folders or globs, only a workspace with a project is watched; extension.ts asks
              // again when one appears.
              requireProject: extraGlobs.length === 0 && extraOutputDirs.length === 0,
            }
          : undefined,
    };
  }

  /** Brings the service in line with options(), and the state in line with what runs then. */
  private async apply(): Promise<void> {
    if (this.disposed) return;
    const before = this.service.server;
    if (this.serving && !before) this.setState({ kind: 'starting' });
    try {
      await this.service.update(this.options());
    } catch (error) {
      this.serving = false;
      const message =
        error instanceof ServerStartError ? error.message : `cannot start the update server: ${errorMessage(error)}`;
      this.fail(message, error instanceof ServerStartError ? error : undefined);
      // The rest of the options (publishing) still applies.
      await this.service.update(this.options()).catch(() => undefined);
      return;
    }
    const server = this.service.server;
    if (server && server !== before) {
      await this.refreshCatalog();
      const settings = this.settings;
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
    } else if (!server && before) {
      this.logger.info('update server stopped');
      this.setState({ kind: 'stopped' });
      void this.setContext(ContextKey.CatalogEmpty, false);
    }
  }

  private async doStart(): Promise<void> {
    if (this.service.server) return;
    this.serving = true;
    await this.apply();
  }

  private async doStop(): Promise<void> {
    this.serving = false;
    if (!this.service.server) {
      if (this.stateValue.kind !== 'stopped') this.setState({ kind: 'stopped' });
      return;
    }
    await this.apply();
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
    const catalog = this.service.catalog;
    const empty = !catalog?.allEntries().some((e) => !e.isDirectory);
    await this.setContext(ContextKey.CatalogEmpty, catalog !== undefined && empty);
    this.catalogChanged.fire();
  }

  private setContext(key: ContextKey, value: boolean): Thenable<unknown> {
    return vscode.commands.executeCommand('setContext', key, value);
  }

  private resolveCatalogDir(): string {
    const folder = this.settings.catalogFolder;
    if (isAbsolute(folder)) return folder;
    const first = vscode.workspace.workspaceFolders?.find((f) => f.uri.scheme === 'file');
    if (first) return join(first.uri.fsPath, folder);
    // No folder open: a catalog of the user's own, in the extension's storage.
    return join(this.context.globalStorageUri.fsPath, 'catalog');
  }

  /** Stops the server and the publisher (reverse order of creation) and waits for both. */
  async dispose(): Promise<void> {
    await this.serialize(async () => {
      this.disposed = true;
      const running = this.service.server !== undefined;
      await this.service.dispose();
      if (running) this.logger.info('update server stopped');
    });
    this.subscriptions.dispose();
    for (const emitter of [this.published, this.catalogChanged, this.stateChanged] as Disposable[]) emitter.dispose();
  }
}
