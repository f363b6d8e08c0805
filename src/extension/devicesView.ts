// Devices view: the inventory. One row per board (by MAC) with its name, chip, address, the build it runs and its
// last update; under it the update history with the time of day. Addresses seen only through catalog requests (they
// carry no MAC) are grouped apart. Everything shown comes from the core's registry; this file only draws it.

import * as vscode from 'vscode';
import {
  formatAgo,
  formatBytes,
  formatDuration,
  formatRate,
  type DeviceRecord,
  type StoredRunning,
  type UpdateOutcome,
  type UpdateRecord,
} from '../core';
import type { ServerController } from './serverController';
import { chipLabel, familyLabel, formatFlash } from './format';
import { ContextKey } from './commandIds';

type Node = DeviceNode | UpdateNode | VisitorsNode | VisitorNode;

/** One icon and one word per outcome, the same in every row and tooltip. */
const OUTCOMES: Record<UpdateOutcome, { icon: string; color?: string; word: string }> = {
  refused: { icon: 'circle-slash', color: 'list.errorForeground', word: 'refused' },
  'not-modified': { icon: 'check', word: 'up to date (304)' },
  downloading: { icon: 'cloud-download', color: 'progressBar.background', word: 'downloading' },
  downloaded: {
    icon: 'watch',
    color: 'list.warningForeground',
    word: 'downloaded, waiting for the board to report it',
  },
  aborted: { icon: 'error', color: 'list.errorForeground', word: 'aborted' },
  confirmed: { icon: 'pass-filled', color: 'testing.iconPassed', word: 'confirmed' },
  'rolled-back': { icon: 'discard', color: 'list.warningForeground', word: 'rolled back' },
};

export function outcomeIcon(outcome: UpdateOutcome): vscode.ThemeIcon {
  const { icon, color } = OUTCOMES[outcome];
  return new vscode.ThemeIcon(icon, color ? new vscode.ThemeColor(color) : undefined);
}

/** "blinky · d1_mini · 1.0.3 · from 3 h ago", or what is known of an unknown build. */
export function buildLabel(running: StoredRunning | undefined, now = Date.now()): string | undefined {
  if (!running) return undefined;
  if (!running.project && !running.image)
    return `unknown build (md5 ${(running.md5 ?? running.sha256 ?? '').slice(0, 8)}…)`;
  const built = running.builtAt ? Date.parse(running.builtAt) : NaN;
  return [
    running.project ?? running.image,
    running.environment ?? boardId(running.board),
    running.version,
    Number.isFinite(built) ? `from ${formatAgo(built, now)}` : undefined,
  ]
    .filter(Boolean)
    .join(' · ');
}

function boardId(board: string | undefined): string | undefined {
  const parts = board?.split(':');
  return parts && parts.length >= 3 ? parts[2] : board;
}

function timeOfDay(at: number, now = Date.now()): string {
  const d = new Date(at);
  const time = d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
  return now - at < 20 * 3600_000 ? time : `${d.toLocaleDateString()} ${time}`;
}

/** "42% · 170 KB of 410 KB · 35 KB/s · 7 s left" while downloading; the outcome and its reason otherwise. */
export function updateSummary(update: UpdateRecord): string {
  const { word } = OUTCOMES[update.outcome];
  switch (update.outcome) {
    case 'downloading': {
      const size = update.size ?? 0;
      const sent = update.sent ?? 0;
      const percent = size > 0 ? Math.floor((sent * 100) / size) : 0;
      const parts = [`${percent}%`, `${formatBytes(sent)} of ${formatBytes(size)}`];
      if (sent >= size && size > 0) parts.push('the board is reading the rest');
      else if (update.rate === 0) parts.push('stalled: the board is not reading');
      else {
        if (update.rate !== undefined) parts.push(formatRate(update.rate));
        if (update.etaMs !== undefined) parts.push(`${formatDuration(update.etaMs)} left`);
      }
      return parts.join(' · ');
    }
    case 'downloaded':
    case 'confirmed': {
      const took =
        update.endedAt !== undefined && update.outcome === 'downloaded' ? update.endedAt - update.at : undefined;
      const size = update.size !== undefined ? formatBytes(update.size) : undefined;
      return [word, size && took !== undefined ? `${size} in ${formatDuration(took)}` : size]
        .filter(Boolean)
        .join(' · ');
    }
    case 'aborted':
      return [
        word,
        update.size ? `at ${formatBytes(update.sent ?? 0)} of ${formatBytes(update.size)}` : undefined,
        update.reason,
      ]
        .filter(Boolean)
        .join(' · ');
    case 'not-modified':
      return [
        update.reason?.includes('held') ? 'held (304)' : word,
        update.count && update.count > 1 ? `${update.count}×` : undefined,
      ]
        .filter(Boolean)
        .join(' · ');
    case 'refused':
      return [
        `${word} ${update.status ?? ''}`.trim(),
        stripEntry(update.reason ?? '', update.image),
        update.count && update.count > 1 ? `${update.count}×` : undefined,
      ]
        .filter(Boolean)
        .join(' · ');
    case 'rolled-back':
      return [word, update.reason].filter(Boolean).join(' · ');
  }
}

function stripEntry(reason: string, entry: string): string {
  return reason.startsWith(`${entry}: `) ? reason.slice(entry.length + 2) : reason;
}

class DeviceNode extends vscode.TreeItem {
  constructor(readonly device: DeviceRecord) {
    super(device.name ?? device.key, vscode.TreeItemCollapsibleState.Expanded);
    this.id = `device:${device.key}`;
    this.contextValue = device.held ? 'device.held' : 'device';
    const last = device.updates.find((u) => u.outcome !== 'not-modified') ?? device.updates[0];
    this.iconPath = device.held
      ? new vscode.ThemeIcon('debug-pause', new vscode.ThemeColor('list.warningForeground'))
      : last?.outcome === 'downloading'
        ? new vscode.ThemeIcon('sync~spin')
        : last
          ? outcomeIcon(last.outcome)
          : new vscode.ThemeIcon('circuit-board');
    const chip = chipLabel({ chip: device.chip, family: device.family }) ?? familyLabel(device.family);
    this.description = [
      device.name ? device.key : undefined,
      chip,
      device.address,
      buildLabel(device.running),
      device.held
        ? 'updates held'
        : last
          ? `${OUTCOMES[last.outcome].word.split(',')[0]} ${formatAgo(last.at)}`
          : undefined,
    ]
      .filter(Boolean)
      .join(' · ');
    this.tooltip = deviceTooltip(device, last);
  }
}

function deviceTooltip(device: DeviceRecord, last: UpdateRecord | undefined): vscode.MarkdownString {
  const md = new vscode.MarkdownString(undefined, true);
  md.appendMarkdown(
    `**${device.name ?? device.key}**${device.name ? ` (${device.key})` : ''} at ${device.address || 'an unknown address'}\n\n`,
  );
  const running = device.running;
  const lines = [
    `Chip: ${chipLabel({ chip: device.chip, family: device.family }) ?? 'unknown'}${device.chipSize !== undefined ? `, ${formatFlash(device.chipSize)}` : ''}`,
    device.freeSpace !== undefined ? `Free for a new sketch: ${formatBytes(device.freeSpace)}` : undefined,
    device.sdkVersion ? `SDK: ${device.sdkVersion}` : undefined,
    running ? `Runs: ${buildLabel(running)}` : 'Runs: not reported yet',
    running?.builtAt ? `Built ${new Date(running.builtAt).toLocaleString()}` : undefined,
    running?.md5 ? `MD5 \`${running.md5}\`` : undefined,
    running?.project
      ? running.image
        ? `In the catalog as **${running.image}**`
        : 'No longer in the catalog (retention removed it)'
      : undefined,
    last ? `Last update: ${last.image}, ${updateSummary(last)} (${new Date(last.at).toLocaleString()})` : undefined,
    device.held ? '**Updates held**: every image is answered 304 until released.' : undefined,
    `First seen ${new Date(device.firstSeen).toLocaleString()}, last seen ${new Date(device.lastSeen).toLocaleString()}`,
  ].filter(Boolean);
  md.appendMarkdown(lines.join('  \n'));
  return md;
}

class UpdateNode extends vscode.TreeItem {
  constructor(device: DeviceRecord, update: UpdateRecord, index: number) {
    super(`${timeOfDay(update.at)}  ${update.image}`, vscode.TreeItemCollapsibleState.None);
    this.id = `update:${device.key}:${update.id ?? `${update.at}-${index}`}`;
    this.contextValue = `update.${update.outcome}`;
    this.iconPath = outcomeIcon(update.outcome);
    this.description = updateSummary(update);
    const lines = [
      `${update.image}: ${OUTCOMES[update.outcome].word}`,
      this.description,
      update.md5 ? `MD5 ${update.md5}` : undefined,
      `asked ${new Date(update.at).toLocaleString()}${update.count && update.count > 1 ? ` (latest of ${update.count})` : ''}`,
      update.endedAt !== undefined ? `settled ${new Date(update.endedAt).toLocaleString()}` : undefined,
    ];
    this.tooltip = lines.filter(Boolean).join('\n');
  }
}

class VisitorsNode extends vscode.TreeItem {
  constructor(readonly visitors: DeviceRecord[]) {
    super('Catalog requests only', vscode.TreeItemCollapsibleState.Collapsed);
    this.id = 'visitors';
    this.contextValue = 'visitors';
    this.iconPath = new vscode.ThemeIcon('question');
    this.description = `${visitors.length} address${visitors.length === 1 ? '' : 'es'}`;
    this.tooltip =
      'Addresses that listed the catalog but have not asked for an image yet. Catalog requests carry no MAC, so they ' +
      'become a board once they ask for an update.';
  }
}

class VisitorNode extends vscode.TreeItem {
  constructor(visitor: DeviceRecord) {
    super(visitor.address, vscode.TreeItemCollapsibleState.None);
    this.id = `visitor:${visitor.key}`;
    this.contextValue = 'visitor';
    this.iconPath = new vscode.ThemeIcon('list-unordered');
    this.description = [
      familyLabel(visitor.family),
      `${visitor.catalogRequests} catalog request${visitor.catalogRequests === 1 ? '' : 's'}`,
      formatAgo(visitor.lastSeen),
    ]
      .filter(Boolean)
      .join(' · ');
  }
}

export class DevicesView implements vscode.TreeDataProvider<Node>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<Node | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private readonly subscriptions: vscode.Disposable[] = [];
  private pending: NodeJS.Timeout | undefined;
  private ticker: NodeJS.Timeout | undefined;
  private readonly view: vscode.TreeView<Node>;

  constructor(private readonly controller: ServerController) {
    this.view = vscode.window.createTreeView('autoconnect.devices', { treeDataProvider: this });
    this.subscriptions.push(
      this.view,
      controller.devices.onDidChange(() => this.schedule()),
    );
    // "3 min ago" moves on without events.
    this.ticker = setInterval(() => this.schedule(), 30_000);
    this.refresh();
  }

  /** Progress events come many times a second per download: redraw at most four times a second. */
  private schedule(): void {
    this.pending ??= setTimeout(() => this.refresh(), 250);
  }

  refresh(): void {
    clearTimeout(this.pending);
    this.pending = undefined;
    const registry = this.controller.devices;
    const count = registry.list().length + registry.listVisitors().length;
    void vscode.commands.executeCommand('setContext', ContextKey.NoDevices, count === 0);
    const active = registry.activeDownloads;
    const boards = registry.list().length;
    this.view.description =
      [
        boards > 0 ? `${boards} board${boards === 1 ? '' : 's'}` : undefined,
        active > 0 ? `${active} downloading` : undefined,
      ]
        .filter(Boolean)
        .join(' · ') || undefined;
    this.changed.fire(undefined);
  }

  getTreeItem(node: Node): vscode.TreeItem {
    return node;
  }

  getChildren(node?: Node): Node[] {
    const registry = this.controller.devices;
    if (!node) {
      const rows: Node[] = registry.list().map((d) => new DeviceNode(d));
      const visitors = registry.listVisitors();
      if (visitors.length > 0) rows.push(new VisitorsNode(visitors));
      return rows;
    }
    if (node instanceof DeviceNode) return node.device.updates.map((u, i) => new UpdateNode(node.device, u, i));
    if (node instanceof VisitorsNode) return node.visitors.map((v) => new VisitorNode(v));
    return [];
  }

  dispose(): void {
    clearTimeout(this.pending);
    clearInterval(this.ticker);
    this.subscriptions.forEach((s) => s.dispose());
    this.changed.dispose();
  }
}

export { DeviceNode };
