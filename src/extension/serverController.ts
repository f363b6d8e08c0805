// Composition root of the editor front: turns settings into core options, owns the update server and the build
// publisher, and turns their events into state the views show. Errors from the core are shown here, once.

import * as vscode from 'vscode';
import { isAbsolute, join } from 'node:path';
import {
  ClientFilter,
  DisposableStore,
  Emitter,
  NetworkMonitor,
  NetworkTrust,
  ServerStartError,
  UpdateService,
  advertisedAddress,
  defaultNetworkProbe,
  errorMessage,
  networkLabel,
  preferredAddress,
  reachableAddresses,
  servedNetworks,
  type NetworkIdentity,
  type NetworkProbe,
  type TrustChoice,
  type Catalog,
  type CatalogRollBackResult,
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
  | { kind: 'running'; port: number; host: string; advertised: string; catalogDir: string; keyed: boolean }
  | { kind: 'failed'; message: string }
  /** Serving held back: the networks it would serve are not trusted (refused: the user said Not Here). */
  | { kind: 'held'; networks: NetworkIdentity[]; refused: boolean; message: string };

/** Where the controller's notifications go: VS Code's by default, a recorder in the in-host tests (a seam we own). */
export interface Notifier {
  error(message: string, ...items: string[]): Thenable<string | undefined>;
  warning(message: string, ...items: string[]): Thenable<string | undefined>;
  info(message: string, ...items: string[]): Thenable<string | undefined>;
}

const windowNotifier: Notifier = {
  info: (message, ...items) => vscode.window.showInformationMessage(message, ...items),
  error: (message, ...items) => vscode.window.showErrorMessage(message, ...items),
  warning: (message, ...items) => vscode.window.showWarningMessage(message, ...items),
};

export const TrustAnswer = {
  trust: 'Serve on This Network',
  once: 'Only This Time',
  refuse: 'Not Here',
} as const satisfies Record<TrustChoice, string>;

export interface StartOptions {
  /** A start the user did not ask for now (afterBuild, onStartup): a failure it already reported is not shown again. */
  automatic?: boolean;
}

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
  /** The machine's networks, looked at every few seconds. */
  private readonly networks: NetworkMonitor;
  /** Which networks the user lets the server serve (choices kept in global state: they stay on this machine). */
  readonly trust: NetworkTrust;
  /** The cause last shown in a notification for an automatic start; the same cause is not shown again. */
  private shownCause: string | undefined;
  /** The trust question on screen, if any: one at a time. */
  private asking: Thenable<unknown> | undefined;
  notifier: Notifier = windowNotifier;

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
    this.trust = new NetworkTrust(context.globalState);
    this.networks = new NetworkMonitor(defaultNetworkProbe(), 5_000, logger);
    this.subscriptions.add(this.networks);
    this.subscriptions.add(this.networks.onDidChange((change) => void this.onNetworksChanged(change.current)));
    void this.networks.start();
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
    return this.service.catalogDir ?? this.resolveCatalogDir();
  }

  /** The catalog of the configured folder, served or not (undefined before the settings were first applied). */
  get catalog(): Catalog | undefined {
    return this.service.catalog;
  }

  /** Deletes a file of the catalog through its owner; the index drops it at once. */
  removeFromCatalog(relPath: string): Promise<void> {
    const catalog = this.service.catalog;
    if (!catalog) return Promise.reject(new Error('no catalog folder is configured'));
    return catalog.remove(relPath);
  }

  /** Makes a kept (dated) build its target's current entry again, served or not (see UpdateService.rollBack). */
  rollBack(relPath: string): Promise<CatalogRollBackResult> {
    return this.service.rollBack(relPath);
  }

  /** The core's composition (tests and diagnostics). */
  get core(): UpdateService {
    return this.service;
  }

  /** Whether builds of the workspace are being watched. */
  get publishing(): boolean {
    return this.service.publishing;
  }

  get origins(): ReadonlyMap<string, Origin> {
    return this.service.origins;
  }

  /**
   * The address a device should use: the user's pick, the setting, the bind address, or the address of the network
   * the default route leaves by (as the last look at the interfaces saw it).
   */
  get advertisedHost(): string {
    const picked = this.context.workspaceState.get<string>('autoconnect.advertisedAddress');
    const settings = this.settings;
    const bind = settings.bindAddress;
    const wildcard = !bind || bind === '0.0.0.0' || bind === '::';
    return (
      picked ||
      settings.advertisedAddress ||
      (wildcard ? preferredAddress(this.networks.current) : undefined) ||
      advertisedAddress(bind || undefined)
    );
  }

  /** The catalog key devices pass as AutoConnectUpdate's third argument, if one is set. */
  get catalogKey(): string | undefined {
    return this.settings.catalogKey || undefined;
  }

  async pickAdvertisedAddress(address: string | undefined): Promise<void> {
    await this.context.workspaceState.update('autoconnect.advertisedAddress', address);
    this.refreshAddress();
  }

  /** Shows the address of now wherever it is shown (after a setting, a pick or the networks changed). */
  refreshAddress(): void {
    const state = this.stateValue;
    if (state.kind !== 'running') return;
    const advertised = this.advertisedHost;
    if (advertised === state.advertised) return;
    this.logger.info(`devices now use ${advertised}:${state.port} (was ${state.advertised}:${state.port})`);
    this.setState({ ...state, advertised });
  }

  /** Starts serving: asked by the user, or automatic (afterBuild, onStartup). */
  start(options: StartOptions = {}): Promise<void> {
    if (!options.automatic) this.shownCause = undefined; // the user asks: show whatever happens
    return this.serialize(() => this.doStart(options));
  }

  /** Replaces where the machine's networks come from (the in-host tests) and looks at them at once. */
  async useNetworkProbe(probe: NetworkProbe): Promise<void> {
    await this.networks.useProbe(probe);
  }

  /** Forgets every network choice; the next start on a network that is not in the setting asks again. */
  async forgetTrustedNetworks(): Promise<number> {
    const count = await this.trust.forget();
    this.logger.info(`forgot ${count} network choice(s): the next start on a network not in the setting asks again`);
    this.shownCause = undefined;
    return count;
  }

  stop(): Promise<void> {
    return this.serialize(() => this.doStop());
  }

  restart(): Promise<void> {
    return this.serialize(async () => {
      await this.doStop();
      await this.doStart({});
    });
  }

  /** Starts with another port for this session after a conflict. */
  async useAnotherPort(port: number): Promise<void> {
    this.portOverride = port;
    await this.restart();
  }

  /** Applies the settings and workspace folders as they are now (activation, a settings or folder change). */
  applySettings(): Promise<void> {
    this.shownCause = undefined; // something changed: a failure that follows is news
    return this.serialize(async () => {
      const problems = this.trust.setRules(this.settings.trustedNetworks);
      for (const problem of problems) this.logger.warn(`autoconnect.server.trustedNetworks: ${problem}`);
      await this.apply();
      this.refreshAddress();
    });
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
            ...(settings.catalogKey ? { catalogKey: settings.catalogKey } : {}),
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
  private async apply(start: StartOptions = {}): Promise<void> {
    if (this.disposed) return;
    const before = this.service.server;
    if (this.serving && !before) this.setState({ kind: 'starting' });
    try {
      await this.service.update(this.options());
    } catch (error) {
      this.serving = false;
      const message =
        error instanceof ServerStartError ? error.message : `cannot start the Update Server: ${errorMessage(error)}`;
      this.fail(message, error instanceof ServerStartError ? error : undefined, start);
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
      this.shownCause = undefined;
      this.setState({
        kind: 'running',
        port: server.port,
        host: server.host,
        advertised,
        catalogDir: server.catalog.root,
        keyed: server.keyed,
      });
    } else if (!server && before) {
      this.logger.info('update server stopped');
      this.setState({ kind: 'stopped' });
      void this.setContext(ContextKey.CatalogEmpty, false);
    }
  }

  private async doStart(options: StartOptions): Promise<void> {
    if (this.service.server || this.disposed) return;
    await this.networks.look();
    if (this.holdBack(options)) return;
    this.serving = true;
    await this.apply(options);
  }

  /**
   * Whether serving must wait for the user: the server would answer clients on a network nobody trusted. Sets the
   * held state, says why in the log, and asks (an automatic start asks once per network until something changes).
   */
  private holdBack(options: StartOptions): boolean {
    const settings = this.settings;
    let filter: ClientFilter;
    try {
      filter = new ClientFilter(settings.allow);
    } catch {
      return false; // a bad allow range: the start reports it
    }
    // The setting as it is now, not as the last (debounced) settings change left it: a build may come first.
    this.trust.setRules(settings.trustedNetworks);
    const served = servedNetworks(this.networks.current, settings.bindAddress || '0.0.0.0', filter);
    const verdict = this.trust.judge(served);
    const untrusted = [...verdict.unknown, ...verdict.refused];
    if (untrusted.length === 0) return false;
    const labels = untrusted.map(networkLabel).join(', ');
    const refused = verdict.unknown.length === 0;
    const message = refused
      ? `not serving on ${labels}: you chose Not Here for it`
      : `not serving on ${labels}: it is not a network you trust yet`;
    const cause = `trust|${untrusted.map(networkLabel).join(',')}|${refused}`;
    if (this.stateValue.kind !== 'held' || this.stateValue.message !== message) this.logger.warn(message);
    this.setState({ kind: 'held', networks: untrusted, refused, message });
    // Not Here is an answer: automatic starts respect it silently; the user starting by hand is asked again.
    const ask = options.automatic ? !refused && this.shownCause !== cause : true;
    if (ask && !this.asking) {
      this.shownCause = cause;
      this.asking = this.askTrust(untrusted).finally(() => (this.asking = undefined));
    }
    return true;
  }

  private async askTrust(networks: NetworkIdentity[]): Promise<void> {
    const labels = networks.map(networkLabel).join(', ');
    const answer = await this.notifier.warning(
      `AutoConnect: serve firmware on ${labels}? Anyone on this network could download the images, which often hold Wi-Fi passwords.`,
      TrustAnswer.trust,
      TrustAnswer.once,
      TrustAnswer.refuse,
    );
    const choice = (Object.keys(TrustAnswer) as TrustChoice[]).find((c) => TrustAnswer[c] === answer);
    if (!choice || this.disposed) return;
    await this.trust.decide(networks, choice);
    this.logger.info(`${labels}: ${answer}`);
    if (choice === 'refuse') {
      const state = this.stateValue;
      if (state.kind === 'held') this.holdBack({ automatic: true });
      return;
    }
    await this.start({ automatic: true });
  }

  /** A look at the interfaces saw other networks: new address to show, and trust decided again, as at start. */
  private async onNetworksChanged(current: readonly NetworkIdentity[]): Promise<void> {
    this.logger.info(`networks changed: ${current.map(networkLabel).join(', ') || 'none'}`);
    this.shownCause = undefined;
    await this.serialize(async () => {
      if (this.disposed) return;
      if (this.stateValue.kind === 'held') {
        // Held back before: the user wanted to serve, so serve now if this network is trusted (or ask about it).
        await this.doStart({ automatic: true });
        return;
      }
      if (!this.service.server) return;
      if (this.holdBack({ automatic: true })) {
        const held = this.stateValue;
        this.serving = false;
        await this.service.update(this.options()).catch(() => undefined);
        this.logger.info('update server stopped: the network changed');
        this.setState(held);
        return;
      }
      this.refreshAddress();
    });
  }

  private async doStop(): Promise<void> {
    this.serving = false;
    if (!this.service.server) {
      if (this.stateValue.kind !== 'stopped') this.setState({ kind: 'stopped' });
      return;
    }
    await this.apply();
  }

  private fail(message: string, error: ServerStartError | undefined, start: StartOptions): void {
    this.logger.error(message);
    this.setState({ kind: 'failed', message });
    // An automatic start (every build in afterBuild mode) shows a cause once, until something changes.
    const cause = `start|${error?.code ?? ''}|${message}`;
    if (start.automatic && this.shownCause === cause) return;
    this.shownCause = cause;
    void this.showStartError(message, error);
  }

  private async showStartError(message: string, error?: ServerStartError): Promise<void> {
    if (error?.code === 'EADDRINUSE') {
      const choice = await this.notifier.error(`AutoConnect: ${message}.`, 'Use Another Port…', 'Show Log');
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
    const choice = await this.notifier.error(`AutoConnect: ${message}`, 'Open Settings', 'Show Log');
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
