// The status bar item: the address devices use while running (a click copies it), an offer to start while stopped.
// Its icon is a chip, not VS Code's forwarded-ports radio tower, so the two items are told apart at a glance.

import * as vscode from 'vscode';
import { isCompleteApp, reachableAddresses } from '../core';
import type { ServerController } from './serverController';
import { CommandId } from './commandIds';
import { remoteNote } from './remoteInfo';

/** The one name of the thing, in the status bar, its tooltip and the notifications (commands: "AutoConnect: … Update Server"). */
export const PRODUCT = 'AutoConnect Update Server';
/** Not `$(radio-tower)`: that is VS Code's own forwarded-ports item, often right beside ours in a remote window. */
export const ICON = '$(chip)';

export class StatusBar implements vscode.Disposable {
  private readonly item: vscode.StatusBarItem;
  private readonly subscriptions: vscode.Disposable[] = [];
  private pending: NodeJS.Timeout | undefined;
  /** Downloads in flight as last drawn: the only device figure the item shows. */
  private shownActive = 0;

  constructor(private readonly controller: ServerController) {
    this.item = vscode.window.createStatusBarItem('autoconnect.status', vscode.StatusBarAlignment.Left, 50);
    this.item.name = PRODUCT;
    this.subscriptions.push(
      controller.onDidChangeState(() => this.update()),
      controller.onDidChangeCatalog(() => this.update()),
      // Progress events come several times a second per download and change nothing shown here.
      controller.devices.onDidChange(() => {
        if (controller.devices.activeDownloads !== this.shownActive) this.schedule();
      }),
    );
    this.update();
    this.item.show();
  }

  /** Downloads start and end in bursts; the item is redrawn at most a few times a second. */
  private schedule(): void {
    this.pending ??= setTimeout(() => {
      this.pending = undefined;
      this.update();
    }, 250);
  }

  private update(): void {
    const state = this.controller.state;
    this.shownActive = this.controller.devices.activeDownloads;
    const tooltip = new vscode.MarkdownString(undefined, true);
    this.item.backgroundColor = undefined;
    this.item.accessibilityInformation = undefined;
    switch (state.kind) {
      case 'running': {
        const active = this.controller.devices.activeDownloads;
        this.item.text = `${ICON} ${state.advertised}:${state.port}${active > 0 ? `  $(cloud-download) ${active}` : ''}`;
        this.item.command = CommandId.CopyAddress;
        this.item.accessibilityInformation = {
          label: `${PRODUCT}: devices use ${state.advertised} port ${state.port}${active > 0 ? `, ${active} downloading` : ''}`,
          role: 'button',
        };
        const entries = this.controller.catalog?.allEntries().filter(isCompleteApp).length ?? 0;
        const bound =
          state.host === '0.0.0.0'
            ? reachableAddresses(undefined)
                .map((a) => `${a.address}${a.interfaceName ? ` (${a.interfaceName})` : ''}`)
                .join(', ')
            : state.host;
        tooltip.appendMarkdown(`**${PRODUCT}** on port ${state.port}\n\n`);
        tooltip.appendMarkdown(`Devices use \`${state.advertised}:${state.port}\` (click to copy)\n\n`);
        tooltip.appendMarkdown(
          `Catalog: \`${state.catalogDir}\` (${entries} application image${entries === 1 ? '' : 's'})\n\n`,
        );
        tooltip.appendMarkdown(`Listening on: ${bound}\n\n`);
        if (state.keyed)
          tooltip.appendMarkdown(
            'Catalog key set: only requests below the key folder are served (the sketch passes the key as the third argument)\n\n',
          );
        if (active > 0) tooltip.appendMarkdown(`Downloads in flight: ${active}\n\n`);
        const note = remoteNote(`${state.advertised}:${state.port}`);
        if (note) tooltip.appendMarkdown(`$(remote) ${escapeMarkdown(note)}\n\n`);
        break;
      }
      case 'starting':
        this.item.text = '$(loading~spin) Update Server';
        this.item.command = undefined;
        tooltip.appendMarkdown(`Starting the **${PRODUCT}**…`);
        break;
      case 'failed':
        this.item.text = '$(error) Update Server';
        this.item.command = CommandId.StartServer;
        this.item.backgroundColor = new vscode.ThemeColor('statusBarItem.errorBackground');
        tooltip.appendMarkdown(
          `The **${PRODUCT}** could not start: ${escapeMarkdown(state.message)}\n\nClick to try again.`,
        );
        break;
      case 'held':
        this.item.text = '$(shield) Update Server held back';
        this.item.command = CommandId.StartServer;
        this.item.backgroundColor = new vscode.ThemeColor('statusBarItem.warningBackground');
        tooltip.appendMarkdown('**Serving is held back.** ');
        tooltip.appendMarkdown(escapeMarkdown(`${state.message.charAt(0).toUpperCase()}${state.message.slice(1)}.`));
        tooltip.appendMarkdown(
          state.refused
            ? '\n\nClick to be asked again. **AutoConnect: Forget Trusted Networks** resets every choice.'
            : '\n\nClick to decide: firmware images often hold Wi-Fi passwords, and anyone on this network could take them.',
        );
        break;
      case 'stopped': {
        this.item.text = `${ICON} Start Update Server`;
        this.item.command = CommandId.StartServer;
        tooltip.appendMarkdown(`The **${PRODUCT}** is stopped. Click to start it.`);
        // Where it will run, before it does: the address is known once it listens.
        const note = remoteNote();
        if (note) tooltip.appendMarkdown(`\n\n$(remote) ${escapeMarkdown(note)}`);
        break;
      }
    }
    this.item.tooltip = tooltip;
  }

  /** What the tooltip says (the in-host tests read it). */
  get tooltipText(): string {
    const tooltip = this.item.tooltip;
    return typeof tooltip === 'string' ? tooltip : (tooltip?.value ?? '');
  }

  /** What the item says. */
  get text(): string {
    return this.item.text;
  }

  dispose(): void {
    clearTimeout(this.pending);
    this.subscriptions.forEach((s) => s.dispose());
    this.item.dispose();
  }
}

/** A Wi-Fi name is anyone's text: keep it from turning into markup (links, emphasis, HTML) in the tooltip. */
function escapeMarkdown(text: string): string {
  return text.replace(/[\\`*_[\]<>#|$]/g, (c) => `\\${c}`);
}
