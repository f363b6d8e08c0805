// Typed view of the `autoconnect.*` settings (mirrors package.json contributes.configuration).

import * as vscode from 'vscode';

export type StartMode = 'manual' | 'onStartup' | 'afterBuild';

export interface Settings {
  port: number;
  bindAddress: string;
  advertisedAddress: string;
  allow: string[];
  answerNotModified: boolean;
  startMode: StartMode;
  catalogFolder: string;
  publishEnabled: boolean;
  publishKeep: number;
  publishExtraGlobs: string[];
  publishOutputFolders: string[];
  notifyOnPublish: boolean;
  /** Serve the catalog only below /<key>/ ('' = off). */
  catalogKey: string;
  /** Networks trusted without asking: `*`, CIDR ranges, `wifi:<name>`, `gateway:<MAC>`. */
  trustedNetworks: string[];
}

export const SECTION = 'autoconnect';

export function readSettings(): Settings {
  const c = vscode.workspace.getConfiguration(SECTION);
  return {
    port: c.get<number>('server.port', 8000),
    bindAddress: c.get<string>('server.bindAddress', '').trim(),
    advertisedAddress: c.get<string>('server.advertisedAddress', '').trim(),
    allow: c.get<string[]>('server.allow', []),
    answerNotModified: c.get<boolean>('server.answerNotModified', true),
    startMode: c.get<StartMode>('server.startMode', 'afterBuild'),
    catalogFolder: c.get<string>('catalog.folder', '.autoconnect/catalog').trim() || '.autoconnect/catalog',
    publishEnabled: c.get<boolean>('publish.enabled', true),
    publishKeep: c.get<number>('publish.keep', 3),
    publishExtraGlobs: c.get<string[]>('publish.extraGlobs', []),
    publishOutputFolders: c.get<string[]>('publish.outputFolders', []),
    notifyOnPublish: c.get<boolean>('publish.notify', true),
    catalogKey: c.get<string>('server.catalogKey', '').trim(),
    trustedNetworks: c.get<string[]>('server.trustedNetworks', []),
  };
}

/** Settings whose change needs the server restarted. */
export function serverSettingsChanged(event: vscode.ConfigurationChangeEvent): boolean {
  return [
    'server.port',
    'server.bindAddress',
    'server.allow',
    'server.answerNotModified',
    'server.catalogKey',
    'catalog.folder',
  ].some((key) => event.affectsConfiguration(`${SECTION}.${key}`));
}

/** Settings that change what is shown or decided, not what runs: applied without a restart. */
export function presentationSettingsChanged(event: vscode.ConfigurationChangeEvent): boolean {
  return ['server.advertisedAddress', 'server.trustedNetworks'].some((key) =>
    event.affectsConfiguration(`${SECTION}.${key}`),
  );
}

/** Settings whose change needs the build publisher recreated. */
export function publishSettingsChanged(event: vscode.ConfigurationChangeEvent): boolean {
  return ['publish.enabled', 'publish.keep', 'publish.extraGlobs', 'publish.outputFolders', 'catalog.folder'].some(
    (key) => event.affectsConfiguration(`${SECTION}.${key}`),
  );
}
