// After a build: publish what it produced (the publisher's watcher usually has already) and, in `afterBuild` mode,
// start the server. New entries are announced, without a notification storm on repeated builds.

import * as vscode from 'vscode';
import type { ServerController } from './serverController';
import { CommandId } from './commandIds';
import { chipLabel } from './format';
import { isFirmwareBuildTask, type PublishEvent } from '../core';

const NOTIFY_INTERVAL_MS = 120_000;

export class BuildHooks implements vscode.Disposable {
  private readonly subscriptions: vscode.Disposable[] = [];
  private lastNotice = 0;

  constructor(private readonly controller: ServerController) {
    this.subscriptions.push(
      vscode.tasks.onDidEndTaskProcess((event) => void this.onTaskEnded(event)),
      controller.onDidPublish((event) => void this.onPublished(event)),
    );
  }

  private async onTaskEnded(event: vscode.TaskProcessEndEvent): Promise<void> {
    const task = event.execution.task;
    if (
      event.exitCode !== 0 ||
      !isFirmwareBuildTask({ source: task.source, name: task.name, definition: task.definition })
    )
      return;
    await this.controller.rescanBuilds();
    await this.startIfAfterBuild();
  }

  private async onPublished(event: PublishEvent): Promise<void> {
    await this.startIfAfterBuild();
    const settings = this.controller.settings;
    const state = this.controller.state;
    const where = state.kind === 'running' ? ` Devices update from ${state.advertised}:${state.port}.` : '';
    const what = [
      event.info.filesystem ? `${event.info.filesystem} filesystem, for filesystem updates` : chipLabel(event.info),
      event.info.signed ? 'signed' : undefined,
      event.info.app?.version ? `v${event.info.app.version.replace(/^v/, '')}` : undefined,
    ]
      .filter(Boolean)
      .join(', ');
    const text = `AutoConnect: published ${event.name}${what ? ` (${what})` : ''}.${where}`;
    const now = Date.now();
    if (!settings.notifyOnPublish || now - this.lastNotice < NOTIFY_INTERVAL_MS) {
      vscode.window.setStatusBarMessage(`$(cloud-upload) ${text.replace('AutoConnect: ', '')}`, 6000);
      return;
    }
    this.lastNotice = now;
    const choice = await vscode.window.showInformationMessage(text, 'Copy Address', "Don't Notify");
    if (choice === 'Copy Address') await vscode.commands.executeCommand(CommandId.CopyAddress);
    if (choice === "Don't Notify")
      await vscode.workspace
        .getConfiguration('autoconnect')
        .update('publish.notify', false, vscode.ConfigurationTarget.Global);
  }

  private async startIfAfterBuild(): Promise<void> {
    const kind = this.controller.state.kind;
    if (
      this.controller.settings.startMode === 'afterBuild' &&
      (kind === 'stopped' || kind === 'failed' || kind === 'held')
    )
      await this.controller.start({ automatic: true });
  }

  dispose(): void {
    this.subscriptions.forEach((s) => s.dispose());
  }
}
