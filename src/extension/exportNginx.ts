// AutoConnect: Export Catalog for nginx…: the catalog being served (or the one that would be) written into a folder
// for nginx, with the core's exporter. A folder given as the argument skips the dialog (for keybindings and tests).

import * as vscode from 'vscode';
import { NginxExporter, errorMessage, exportCatalogForNginx, type Logger, type NginxExportResult } from '../core';
import type { ServerController } from './serverController';

declare const PACKAGE_VERSION: string | undefined;
const version = typeof PACKAGE_VERSION === 'string' ? PACKAGE_VERSION : 'dev';

export async function exportForNginx(
  controller: ServerController,
  logger: Logger,
  arg: unknown,
): Promise<NginxExportResult | undefined> {
  if (controller.catalogKey) {
    // The export serves the catalog folder as it is: it would hand out what the key protects.
    void vscode.window.showWarningMessage(
      'AutoConnect: the nginx export has no catalog key folder yet; clear autoconnect.server.catalogKey to export.',
    );
    return undefined;
  }
  let dir = arg instanceof vscode.Uri ? arg.fsPath : undefined;
  if (!dir) {
    const picked = await vscode.window.showOpenDialog({
      title: 'AutoConnect: export the catalog for nginx (an empty folder, or an earlier export)',
      canSelectFiles: false,
      canSelectFolders: true,
      canSelectMany: false,
      openLabel: 'Export Here',
    });
    dir = picked?.[0]?.fsPath;
  }
  if (!dir) return undefined;
  const options = {
    dir,
    // An earlier export keeps its port; a first one takes the port devices use now.
    defaultPort: controller.port,
    answerNotModified: controller.settings.answerNotModified,
    generator: `AutoConnect Update Server ${version} (VS Code)`,
    logger,
  };
  try {
    const result = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: 'AutoConnect: exporting the catalog for nginx…' },
      async () => {
        const catalog = controller.catalog;
        if (catalog) {
          const exporter = new NginxExporter({ ...options, catalog });
          try {
            return await exporter.export();
          } finally {
            await exporter.dispose();
          }
        }
        return exportCatalogForNginx({ ...options, catalogDir: controller.catalogDir });
      },
    );
    const warned = result.warnings.length ? ` ${result.warnings.length} warning(s) in the log.` : '';
    void vscode.window
      .showInformationMessage(
        `AutoConnect: ${result.images} image(s) exported for nginx (port ${result.port}). Run it: nginx -p ${result.dir} -c nginx.conf.${warned}`,
        'Open README.txt',
      )
      .then((choice) =>
        choice ? vscode.window.showTextDocument(vscode.Uri.file(`${result.dir}/README.txt`)) : undefined,
      );
    return result;
  } catch (error) {
    void vscode.window.showErrorMessage(`AutoConnect: not exported: ${errorMessage(error)}`);
    return undefined;
  }
}
