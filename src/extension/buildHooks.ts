// After a build: publish what it produced (the publisher's watcher usually has already) and, in `afterBuild` mode,
// start the server. New entries are announced, without a notification storm on repeated builds.

import * as vscode from 'vscode';
import type { ServerController, ServerState } from './serverController';
import { CommandId } from './commandIds';
import { chipLabel } from './format';
import { isFirmwareBuildTask, type PublishEvent } from '../core';

/** The buttons of the "published" notification. */
export const PublishAction = {
  copyAddress: 'Copy Address',
  start: 'Start Update Server',
  dontNotify: "Don't Notify",
} as const;

/**
 * Where devices get a new build, in the server's state, and the button that helps: Copy Address only while devices
 * can use it; Start (or try again) while it does not serve; nothing while it is starting.
 */
export function publishedWhere(state: ServerState): { where: string; action?: string } {
  switch (state.kind) {
    case 'running':
      return { where: ` Devices update from ${state.advertised}:${state.port}.`, action: PublishAction.copyAddress };
    case 'starting':
      return { where: ' The Update Server is starting: devices get it in a moment.' };
    case 'failed':
      return {
        where: ` The Update Server could not start (${state.message.replace(/\.$/, '')}): devices get it once it runs.`,
        action: PublishAction.start,
      };
    case 'held':
      return {
        where: ` The Update Server is held back (${state.message}): devices get it once it serves.`,
        action: PublishAction.start,
      };
    case 'stopped':
      return { where: ' The Update Server is stopped: devices get it once it runs.', action: PublishAction.start };
  }
}

export class BuildHooks implements vscode.Disposable {
  private readonly subscriptions: vscode.Disposable[] = [];
  private lastNotice = 0;
  /** At most one "published" notification per this many ms (the in-host tests lower it); status bar messages between. */
  noticeIntervalMs = 120_000;

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
    const { where, action } = publishedWhere(this.controller.state);
    const what = [
      event.info.filesystem ? `${event.info.filesystem} filesystem, for filesystem updates` : chipLabel(event.info),
      event.info.signed ? 'signed' : undefined,
      event.info.app?.version ? `v${event.info.app.version.replace(/^v/, '')}` : undefined,
    ]
      .filter(Boolean)
      .join(', ');
    const text = `AutoConnect: published ${event.name}${what ? ` (${what})` : ''}.${where}`;
    const now = Date.now();
    if (!settings.notifyOnPublish || now - this.lastNotice < this.noticeIntervalMs) {
      vscode.window.setStatusBarMessage(`$(cloud-upload) ${text.replace('AutoConnect: ', '')}`, 6000);
      return;
    }
    this.lastNotice = now;
    const items = action ? [action, PublishAction.dontNotify] : [PublishAction.dontNotify];
    const choice = await this.controller.notifier.info(text, ...items);
    if (choice === PublishAction.copyAddress) await vscode.commands.executeCommand(CommandId.CopyAddress);
    if (choice === PublishAction.start) await vscode.commands.executeCommand(CommandId.StartServer);
    if (choice === PublishAction.dontNotify)
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
