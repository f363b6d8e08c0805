// VS Code entry point: wires the controller (server + publisher) to the status bar, views, commands and build hooks.

import * as vscode from 'vscode';
import { ServerController } from './serverController';
import { StatusBar } from './statusBar';
import { CatalogView } from './catalogView';
import { DevicesView } from './devicesView';
import { registerCommands } from './commands';
import { BuildHooks } from './buildHooks';
import { channelLogger } from './logChannel';
import { presentationSettingsChanged, publishSettingsChanged, readSettings, serverSettingsChanged } from './config';
import { remoteNote } from './remoteInfo';
import { projectFilesGlob } from '../core';

let controller: ServerController | undefined;
let channel: vscode.LogOutputChannel | undefined;
const owned: vscode.Disposable[] = [];

/** What activate() returns: the extension's parts, for the in-host tests. */
export interface ExtensionApi {
  controller: ServerController;
  statusBar: StatusBar;
  buildHooks: BuildHooks;
  catalogView: CatalogView;
  devicesView: DevicesView;
}

export async function activate(context: vscode.ExtensionContext): Promise<ExtensionApi> {
  channel = vscode.window.createOutputChannel('AutoConnect Update Server', { log: true });
  const logger = channelLogger(channel);
  controller = new ServerController(context, logger);
  const active = controller;
  const devicesView = new DevicesView(active);
  const statusBar = new StatusBar(active);
  const buildHooks = new BuildHooks(active);
  const catalogView = new CatalogView(active);
  owned.push(statusBar, catalogView, devicesView, buildHooks);
  owned.push(...registerCommands(active, channel, () => devicesView.refresh()));

  let restartTimer: NodeJS.Timeout | undefined;
  let serverChanged = false;
  let publishChanged = false;
  let presentationChanged = false;
  owned.push(
    vscode.workspace.onDidChangeConfiguration((event) => {
      // Several settings often change together (settings sync, a JSON edit): restart once, for all of them.
      serverChanged ||= serverSettingsChanged(event);
      publishChanged ||= publishSettingsChanged(event);
      presentationChanged ||= presentationSettingsChanged(event);
      if (!serverChanged && !publishChanged && !presentationChanged) return;
      clearTimeout(restartTimer);
      restartTimer = setTimeout(() => {
        if (serverChanged && active.state.kind === 'running')
          logger.info('settings changed: restarting the update server');
        serverChanged = publishChanged = presentationChanged = false;
        // The core restarts exactly the parts whose options changed.
        void active.applySettings();
      }, 300);
    }),
  );
  owned.push({ dispose: () => clearTimeout(restartTimer) });
  owned.push(vscode.workspace.onDidChangeWorkspaceFolders(() => void active.applySettings()));
  // A project created or cloned into the workspace later: start (or refresh) the publisher for it.
  // The build systems' project files: a hint, the core's walk decides.
  const projects = vscode.workspace.createFileSystemWatcher(projectFilesGlob(), false, true, true);
  let projectTimer: NodeJS.Timeout | undefined;
  owned.push(
    projects,
    projects.onDidCreate(() => {
      if (active.publishing) return; // a running publisher discovers new projects by itself
      clearTimeout(projectTimer);
      projectTimer = setTimeout(() => void active.rescanBuilds(), 500);
    }),
    { dispose: () => clearTimeout(projectTimer) },
  );

  const note = remoteNote();
  if (note) logger.info(note);
  void active.applySettings();
  if (readSettings().startMode === 'onStartup') void active.start({ automatic: true });
  return { controller: active, statusBar, buildHooks, catalogView, devicesView };
}

export async function deactivate(): Promise<void> {
  // Reverse order of creation: views and listeners, then the server and the publisher, then the log channel.
  for (const item of owned.splice(0).reverse()) item.dispose();
  await controller?.dispose();
  controller = undefined;
  channel?.dispose();
  channel = undefined;
}
