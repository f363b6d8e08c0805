// Devices view: every device that talked to the server, and under it each download live (progress, rate, outcome).

import * as vscode from 'vscode';
import type { DeviceRecord, DownloadRecord } from '../core';
import type { ServerController } from './serverController';
import { familyLabel, formatAgo, formatBytes, formatFlash, formatRate } from './format';
import { ContextKey } from './commandIds';

type Node = DeviceNode | DownloadNode;

class DeviceNode extends vscode.TreeItem {
  constructor(readonly device: DeviceRecord) {
    super(device.mac ?? device.remoteAddress, vscode.TreeItemCollapsibleState.Expanded);
    this.id = `device:${device.key}`;
    this.contextValue = 'device';
    const running = device.downloads.some((d) => d.state === 'running');
    this.iconPath = new vscode.ThemeIcon(running ? 'sync~spin' : 'circuit-board');
    const parts = [
      familyLabel(device.family),
      formatFlash(device.chipSize),
      device.freeSpace !== undefined ? `${formatBytes(device.freeSpace)} free` : undefined,
      device.running ? `runs ${device.running.name}` : device.sketchMd5 ? 'runs an unknown image' : undefined,
      formatAgo(device.lastSeen),
    ];
    this.description = parts.filter(Boolean).join(' · ');
    const md = new vscode.MarkdownString(undefined, true);
    md.appendMarkdown(`**${device.mac ?? 'Device'}** at ${device.remoteAddress}\n\n`);
    const lines = [
      device.family ? `Chip family: ${familyLabel(device.family)}` : undefined,
      device.chipSize !== undefined ? `Flash: ${formatFlash(device.chipSize)}` : undefined,
      device.freeSpace !== undefined ? `Free for a new sketch: ${formatBytes(device.freeSpace)}` : undefined,
      device.sdkVersion ? `SDK: ${device.sdkVersion}` : undefined,
      device.sketchMd5 ? `Running sketch MD5: \`${device.sketchMd5}\`` : undefined,
      device.running ? `Runs catalog image **${device.running.name}**` : undefined,
      `Catalog requests: ${device.catalogRequests}`,
      `First seen ${new Date(device.firstSeen).toLocaleString()}, last seen ${new Date(device.lastSeen).toLocaleString()}`,
    ].filter(Boolean);
    md.appendMarkdown(lines.join('  \n'));
    if (!device.mac) md.appendMarkdown('\n\nOnly its catalog requests were seen so far (they carry no MAC).');
    this.tooltip = md;
  }
}

class DownloadNode extends vscode.TreeItem {
  constructor(device: DeviceRecord, record: DownloadRecord, index: number) {
    super(record.entry, vscode.TreeItemCollapsibleState.None);
    this.id = `download:${device.key}:${record.id ?? `r${record.startedAt}-${index}`}`;
    this.contextValue = `download.${record.state}`;
    const elapsed = (record.endedAt ?? Date.now()) - record.startedAt;
    switch (record.state) {
      case 'running': {
        const percent = record.total > 0 ? Math.floor((record.sent * 100) / record.total) : 0;
        this.description = [
          `${percent}%`,
          `${formatBytes(record.sent)} of ${formatBytes(record.total)}`,
          formatRate(record.sent, elapsed),
        ]
          .filter(Boolean)
          .join(' · ');
        this.iconPath = new vscode.ThemeIcon('cloud-download');
        break;
      }
      case 'done':
        this.description = [
          'done',
          `${formatBytes(record.total)} in ${(elapsed / 1000).toFixed(1)} s`,
          formatRate(record.total, elapsed),
        ]
          .filter(Boolean)
          .join(' · ');
        this.iconPath = new vscode.ThemeIcon('pass', new vscode.ThemeColor('testing.iconPassed'));
        break;
      case 'aborted':
        this.description = `aborted at ${formatBytes(record.sent)} of ${formatBytes(record.total)}${record.reason ? ` · ${record.reason}` : ''}`;
        this.iconPath = new vscode.ThemeIcon('warning', new vscode.ThemeColor('list.warningForeground'));
        break;
      case 'not-modified':
        this.description = '304 · already running this image';
        this.iconPath = new vscode.ThemeIcon('check');
        break;
      case 'refused':
        this.description = `refused ${record.status}: ${stripEntry(record.reason ?? '', record.entry)}`;
        this.iconPath = new vscode.ThemeIcon('error', new vscode.ThemeColor('list.errorForeground'));
        break;
    }
    this.tooltip = `${record.entry}\n${this.description}\n${new Date(record.startedAt).toLocaleString()}`;
  }
}

function stripEntry(reason: string, entry: string): string {
  return reason.startsWith(`${entry}: `) ? reason.slice(entry.length + 2) : reason;
}

export class DevicesView implements vscode.TreeDataProvider<Node>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<Node | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private readonly subscriptions: vscode.Disposable[] = [];
  private pending: NodeJS.Timeout | undefined;
  private readonly view: vscode.TreeView<Node>;

  constructor(private readonly controller: ServerController) {
    this.view = vscode.window.createTreeView('autoconnect.devices', { treeDataProvider: this });
    this.subscriptions.push(
      this.view,
      controller.devices.onDidChange(() => this.schedule()),
    );
    void vscode.commands.executeCommand('setContext', ContextKey.NoDevices, true);
  }

  /** Progress events come many times a second per download: redraw at most four times a second. */
  private schedule(): void {
    this.pending ??= setTimeout(() => this.refresh(), 250);
  }

  refresh(): void {
    clearTimeout(this.pending);
    this.pending = undefined;
    const count = this.controller.devices.list().length;
    void vscode.commands.executeCommand('setContext', ContextKey.NoDevices, count === 0);
    const active = this.controller.devices.activeDownloads;
    this.view.description = active > 0 ? `${active} downloading` : undefined;
    this.changed.fire(undefined);
  }

  getTreeItem(node: Node): vscode.TreeItem {
    return node;
  }

  getChildren(node?: Node): Node[] {
    if (!node) return this.controller.devices.list().map((d) => new DeviceNode(d));
    if (node instanceof DeviceNode) return node.device.downloads.map((r, i) => new DownloadNode(node.device, r, i));
    return [];
  }

  dispose(): void {
    clearTimeout(this.pending);
    this.subscriptions.forEach((s) => s.dispose());
    this.changed.dispose();
  }
}
