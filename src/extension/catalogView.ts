// Firmware Catalog view: what the server offers, with chip, flash, version and origin; entries a device would not
// see are shown with the reason instead of silently missing. The folder is listed while the server is stopped too.

import * as vscode from 'vscode';
import { buildListing, notOfferedReason, type CatalogEntry, type KeptBuild, type Origin } from '../core';
import type { ServerController, ServerState } from './serverController';
import { chipLabel, formatAgo, formatBytes, formatFlash } from './format';

type Node = FolderNode | EntryNode;

class FolderNode extends vscode.TreeItem {
  constructor(
    readonly rel: string,
    name: string,
  ) {
    super(name, vscode.TreeItemCollapsibleState.Expanded);
    this.id = `folder:${rel}`;
    this.iconPath = vscode.ThemeIcon.Folder;
    this.contextValue = 'folder';
    this.tooltip = `Catalog folder "${rel}": AutoConnectUpdate(host, port, "${rel}") lists it`;
  }
}

export class EntryNode extends vscode.TreeItem {
  constructor(
    readonly entry: CatalogEntry,
    notOffered: string | undefined,
    origin: Origin | undefined,
    /** Set on a dated entry a roll back can make its target's current entry again. */
    readonly kept?: KeptBuild,
  ) {
    super(entry.name, vscode.TreeItemCollapsibleState.None);
    this.id = `entry:${entry.relPath}`;
    this.resourceUri = vscode.Uri.file(entry.absPath);
    const info = entry.version?.info;
    const offered = notOffered === undefined;
    // A filesystem image is never offered in the device's list, but a filesystem update (updateFS) fetches it.
    const filesystem = info?.kind === 'filesystem' && info.complete && info.filesystem;
    // `.kept` marks a kept build (Roll Back to This Build); menus match the kind with or without it.
    this.contextValue = `${offered ? 'entry.app' : filesystem ? 'entry.filesystem' : 'entry.file'}${kept ? '.kept' : ''}`;
    const parts: string[] = [];
    if (filesystem) {
      parts.push(
        `${filesystem} filesystem`,
        'for filesystem updates',
        formatBytes(entry.size),
        formatAgo(entry.mtimeMs),
      );
      this.iconPath = new vscode.ThemeIcon('database');
    } else if (offered && info) {
      parts.push(chipLabel(info) ?? '');
      if (info.signed) parts.push('signed');
      if (info.compressed) parts.push('gzip');
      const flash = formatFlash(info.flashSize);
      if (flash) parts.push(flash.replace(' flash', ''));
      if (info.app?.version) parts.push(`v${info.app.version.replace(/^v/, '')}`);
      if (info.app?.projectName) parts.push(info.app.projectName);
      parts.push(formatBytes(entry.size), formatAgo(entry.mtimeMs));
      this.iconPath = new vscode.ThemeIcon('file-binary');
    } else {
      parts.push(`not offered: ${notOffered}`);
      this.iconPath = new vscode.ThemeIcon('circle-slash', new vscode.ThemeColor('disabledForeground'));
    }
    this.description = parts.filter(Boolean).join(' · ');
    this.tooltip = tooltipFor(entry, notOffered, origin, kept);
  }
}

function tooltipFor(
  entry: CatalogEntry,
  notOffered: string | undefined,
  origin: Origin | undefined,
  kept: KeptBuild | undefined,
): vscode.MarkdownString {
  const md = new vscode.MarkdownString(undefined, true);
  const info = entry.version?.info;
  md.appendMarkdown(`**${entry.relPath}** · ${formatBytes(entry.size)}\n\n`);
  if (kept) {
    md.appendMarkdown(
      `$(history) A previous build of \`${kept.current}\`: **Roll Back to This Build** makes it current again for ` +
        `boards that ask for \`${kept.current}\`\n\n`,
    );
  }
  if (info?.kind === 'filesystem' && info.complete && info.filesystem) {
    md.appendMarkdown(
      `$(database) ${info.filesystem} filesystem image: not in the devices' list (AutoConnect flashes sketches); served to ` +
        `filesystem updates, \`ESPhttpUpdate.updateFS()\` / \`httpUpdate.updateSpiffs()\`\n\n`,
    );
  } else if (notOffered) md.appendMarkdown(`$(circle-slash) Not offered to devices: ${notOffered}\n\n`);
  if (info?.kind === 'app') {
    const lines = [
      `Chip: ${chipLabel(info) ?? 'unknown'}${info.compressed ? ' (gzip)' : ''}`,
      info.signed
        ? 'Signed (ESP8266 signature block): a device that verifies signatures installs only signed builds'
        : undefined,
      info.flashSize
        ? `Flash: ${formatFlash(info.flashSize)}${info.flashMode ? `, ${info.flashMode}` : ''}`
        : undefined,
      info.app?.version ? `Version: ${info.app.version}` : undefined,
      info.app?.projectName ? `Project: ${info.app.projectName}` : undefined,
      info.app?.idfVersion ? `ESP-IDF: ${info.app.idfVersion}` : undefined,
      info.app?.date ? `Compiled: ${info.app.date} ${info.app.time}` : undefined,
    ].filter(Boolean);
    md.appendMarkdown(`${lines.join('  \n')}\n\n`);
  }
  if (entry.version?.md5) md.appendMarkdown(`MD5: \`${entry.version.md5}\`\n\n`);
  if (entry.version?.sha256) md.appendMarkdown(`SHA-256: \`${entry.version.sha256}\`\n\n`);
  md.appendMarkdown(`Modified: ${new Date(entry.mtimeMs).toLocaleString()}\n\n`);
  if (origin) {
    const from = [origin.project, origin.environment ?? origin.board].filter(Boolean).join(' / ');
    md.appendMarkdown(
      `Published from **${from}** at ${new Date(origin.publishedAt).toLocaleString()}  \n\`${origin.source}\`\n\n`,
    );
  }
  return md;
}

/** What the view's description says about serving (short: the side bar is narrow), or undefined while it runs. */
function notServed(kind: ServerState['kind']): string | undefined {
  switch (kind) {
    case 'running':
    case 'starting':
      return undefined;
    case 'stopped':
      return 'server stopped';
    case 'held':
      return 'server held back';
    case 'failed':
      return 'server not running';
  }
}

export class CatalogView implements vscode.TreeDataProvider<Node>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<Node | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private readonly subscriptions: vscode.Disposable[] = [];
  private readonly view: vscode.TreeView<Node>;

  constructor(private readonly controller: ServerController) {
    this.view = vscode.window.createTreeView('autoconnect.catalog', { treeDataProvider: this, showCollapseAll: true });
    this.subscriptions.push(
      this.view,
      controller.onDidChangeCatalog(() => this.refresh()),
      controller.onDidChangeState(() => this.refresh()),
    );
  }

  refresh(): void {
    const catalog = this.controller.catalog;
    const count = catalog?.allEntries().filter((e) => !e.isDirectory).length ?? 0;
    const files = `${count} file${count === 1 ? '' : 's'}`;
    // The folder is listed whether or not it is served: review, remove and roll back with the server stopped.
    const served = notServed(this.controller.state.kind);
    this.view.description = catalog ? (served ? `${files} · ${served}` : files) : undefined;
    this.changed.fire(undefined);
  }

  /** What the view's title bar says beside its name (the in-host tests read it). */
  get description(): string | undefined {
    return this.view.description;
  }

  getTreeItem(node: Node): vscode.TreeItem {
    return node;
  }

  getChildren(node?: Node): Node[] {
    const catalog = this.controller.catalog;
    if (!catalog) return [];
    if (node instanceof EntryNode) return [];
    const dir = node instanceof FolderNode ? node.rel : '';
    const entries = catalog.allEntries().filter((e) => e.dir === dir);
    const excluded = new Map(buildListing(entries, 'any').excluded.map((x) => [x.name, x.reason]));
    const kept = dir === '' ? catalog.keptBuilds() : new Map<string, KeptBuild>();
    const folders = entries.filter((e) => e.isDirectory).sort((a, b) => a.name.localeCompare(b.name));
    const files = entries
      .filter((e) => !e.isDirectory)
      .sort((a, b) => b.mtimeMs - a.mtimeMs || a.name.localeCompare(b.name));
    return [
      ...folders.map((e) => new FolderNode(e.relPath, e.name)),
      ...files.map(
        (e) =>
          new EntryNode(
            e,
            notOfferedReason(e, 'any') ?? excluded.get(e.name),
            this.controller.origins.get(e.name),
            kept.get(e.name),
          ),
      ),
    ];
  }

  dispose(): void {
    this.subscriptions.forEach((s) => s.dispose());
    this.changed.dispose();
  }
}
