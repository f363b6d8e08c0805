// Command handlers: each turns a user action into a controller call and says what happened.

import * as vscode from 'vscode';
import { errorMessage, lanAddresses, type CatalogEntry, type DeviceRecord } from '../core';
import type { ServerController } from './serverController';
import { CommandId } from './commandIds';
import { EntryNode } from './catalogView';
import { downloadUrl, sketchSnippet } from './format';
import { DeviceNode } from './devicesView';
import { updateLoopSnippet } from './updateLoopSnippet';
import { exportForNginx } from './exportNginx';
import { channelLogger } from './logChannel';

export function registerCommands(
  controller: ServerController,
  channel: vscode.LogOutputChannel,
  refreshDevices: () => void,
): vscode.Disposable[] {
  const address = () =>
    `${controller.advertisedHost}:${controller.state.kind === 'running' ? controller.state.port : controller.port}`;

  const copy = async (text: string, what: string) => {
    await vscode.env.clipboard.writeText(text);
    const stopped = controller.state.kind === 'running' ? '' : ' (the server is not running)';
    void vscode.window.setStatusBarMessage(`$(check) Copied ${what}: ${text}${stopped}`, 4000);
    return text;
  };

  const pickDevice = async (
    node: unknown,
    title: string,
    filter: (device: DeviceRecord) => boolean = () => true,
  ): Promise<DeviceRecord | undefined> => {
    if (node instanceof DeviceNode) return node.device;
    const boards = controller.devices.list().filter(filter);
    if (boards.length === 0) {
      void vscode.window.showInformationMessage(
        'AutoConnect: no board fits (boards appear once they ask for an update).',
      );
      return undefined;
    }
    const picked = await vscode.window.showQuickPick(
      boards.map((device) => ({
        label: device.name ?? device.key,
        description: device.name ? device.key : device.address,
        device,
      })),
      { title: `AutoConnect: ${title}` },
    );
    return picked?.device;
  };

  const pickEntry = async (node: unknown): Promise<CatalogEntry | undefined> => {
    if (node instanceof EntryNode) return node.entry;
    const entries = controller.catalog?.allEntries().filter((e) => !e.isDirectory) ?? [];
    if (entries.length === 0) {
      void vscode.window.showInformationMessage('AutoConnect: the Firmware Catalog is empty.');
      return undefined;
    }
    const picked = await vscode.window.showQuickPick(
      entries.map((e) => ({ label: e.relPath, entry: e })),
      { title: 'AutoConnect: catalog entry' },
    );
    return picked?.entry;
  };

  /** The entry of the catalog row a row command was invoked on (see RowCommands), or a hint where it works. */
  const rowEntry = (node: unknown, title: string): CatalogEntry | undefined => {
    if (node instanceof EntryNode) return node.entry;
    void vscode.window.showInformationMessage(
      `AutoConnect: ${title} works on a Firmware Catalog entry: right-click one in the view.`,
    );
    return undefined;
  };

  const revealPath = async (uri: vscode.Uri) => {
    const inWorkspace = vscode.workspace.getWorkspaceFolder(uri) !== undefined;
    await vscode.commands.executeCommand(
      inWorkspace && vscode.env.remoteName ? 'revealInExplorer' : 'revealFileInOS',
      uri,
    );
  };

  const handlers: Record<CommandId, (...args: unknown[]) => unknown> = {
    [CommandId.StartServer]: async () => {
      await controller.start();
      const state = controller.state;
      if (state.kind === 'running') {
        // Not awaited: the command is done when the server runs, not when the toast is dismissed.
        void vscode.window
          .showInformationMessage(
            `AutoConnect Update Server is running. Devices use ${state.advertised}:${state.port}.`,
            'Copy Address',
            'Copy Sketch Snippet',
          )
          .then((choice) => {
            if (choice === 'Copy Address') return vscode.commands.executeCommand(CommandId.CopyAddress);
            if (choice === 'Copy Sketch Snippet') return vscode.commands.executeCommand(CommandId.CopySketchSnippet);
            return undefined;
          });
      }
    },
    [CommandId.StopServer]: () => controller.stop(),
    [CommandId.RestartServer]: () => controller.restart(),
    [CommandId.CopyAddress]: () => copy(address(), 'server address'),
    [CommandId.CopySketchSnippet]: () => {
      const [host, port] = address().split(':');
      return copy(sketchSnippet(host!, Number(port), controller.catalogKey), 'sketch snippet');
    },
    [CommandId.PublishFirmware]: async (arg) => {
      let path = arg instanceof vscode.Uri ? arg.fsPath : undefined;
      if (!path) {
        const picked = await vscode.window.showOpenDialog({
          title: 'AutoConnect: publish a firmware image',
          canSelectMany: false,
          openLabel: 'Publish',
          filters: { 'Firmware images': ['bin', 'gz'], 'All files': ['*'] },
          defaultUri: vscode.workspace.workspaceFolders?.[0]?.uri,
        });
        path = picked?.[0]?.fsPath;
      }
      if (!path) return undefined;
      const result = await controller.publishFile(path);
      if (result.name) void vscode.window.showInformationMessage(`AutoConnect: ${result.name} is in the catalog.`);
      else void vscode.window.showErrorMessage(`AutoConnect: not published: ${result.reason}`);
      return result;
    },
    [CommandId.RemoveFromCatalog]: async (node) => {
      const entry = rowEntry(node, 'Remove from Catalog');
      if (!entry) return;
      const answer = await vscode.window.showWarningMessage(
        `Remove ${entry.relPath} from the catalog? The file is deleted.`,
        { modal: true },
        'Remove',
      );
      if (answer !== 'Remove') return;
      try {
        await controller.removeFromCatalog(entry.relPath);
      } catch (error) {
        void vscode.window.showErrorMessage(`AutoConnect: ${entry.relPath} was not removed: ${errorMessage(error)}`);
      }
    },
    [CommandId.RollBack]: async (node) => {
      const entry = rowEntry(node, 'Roll Back to This Build');
      if (!entry) return undefined;
      try {
        // No confirmation: nothing is lost (the build it replaces is kept), and rolling back to that undoes it.
        const result = await controller.rollBack(entry.relPath);
        const built = new Date(result.origin.builtAt);
        const when = Number.isNaN(built.getTime()) ? result.from : `the build of ${built.toLocaleString()}`;
        void controller.notifier.info(
          `AutoConnect: ${result.name} is ${when} again; boards asking for it get this build.` +
            (result.kept ? ` The build it replaced is kept as ${result.kept}.` : ''),
        );
        return result;
      } catch (error) {
        void controller.notifier.error(`AutoConnect: not rolled back to ${entry.relPath}: ${errorMessage(error)}`);
        return undefined;
      }
    },
    [CommandId.OpenCatalogFolder]: async () => {
      const dir = controller.catalogDir;
      if (dir) await revealPath(vscode.Uri.file(dir));
    },
    [CommandId.SelectNetworkAddress]: async () => {
      type Item = vscode.QuickPickItem & { address?: string };
      const current = controller.advertisedHost;
      const items: Item[] = [
        { label: '$(sparkle) Automatic', description: 'the LAN address of the default route', address: undefined },
        ...lanAddresses().map((a) => ({
          label: `${a.address} (${a.interfaceName})`,
          description: a.address === current ? 'in use' : undefined,
          address: a.address,
        })),
      ];
      const picked = await vscode.window.showQuickPick(items, {
        title: 'AutoConnect: address devices use to reach this machine',
        placeHolder: 'It goes into the sketch: AutoConnectUpdate update("<address>", <port>)',
      });
      if (!picked) return;
      await controller.pickAdvertisedAddress(picked.address);
      void vscode.window.setStatusBarMessage(`$(check) Devices use ${controller.advertisedHost}`, 4000);
    },
    [CommandId.ShowLog]: () => channel.show(true),
    [CommandId.CopyDownloadUrl]: async (node) => {
      const entry = rowEntry(node, 'Copy Download URL');
      if (entry) return copy(downloadUrl(address(), entry.relPath, controller.catalogKey), 'download URL');
    },
    [CommandId.RevealEntry]: async (node) => {
      const entry = rowEntry(node, 'Reveal File');
      if (entry) await revealPath(vscode.Uri.file(entry.absPath));
    },
    [CommandId.ForgetTrustedNetworks]: async () => {
      const count = await controller.forgetTrustedNetworks();
      void vscode.window.showInformationMessage(
        count > 0
          ? `AutoConnect: forgot ${count} network choice${count === 1 ? '' : 's'}. The next start on a network not listed in autoconnect.server.trustedNetworks asks again.`
          : 'AutoConnect: no network choices were remembered.',
      );
      return count;
    },
    [CommandId.CopyUpdateLoopSnippet]: async (node) => {
      const entry = await pickEntry(node);
      if (!entry) return;
      const info = entry.version?.info;
      if (info?.kind !== 'app' || !info.family) {
        void vscode.window.showWarningMessage(
          `AutoConnect: ${entry.relPath} is not an application image a board can run.`,
        );
        return;
      }
      await copy(
        updateLoopSnippet({ entry: entry.relPath, family: info.family, address: address() }),
        'update-loop snippet',
      );
    },
    [CommandId.RenameDevice]: async (node) => {
      const device = await pickDevice(node, 'Rename which board?');
      if (!device) return;
      const name = await vscode.window.showInputBox({
        title: `AutoConnect: name for ${device.key}`,
        prompt: "Stored by the board's MAC in the device state file. Leave empty to show the MAC again.",
        value: device.name ?? '',
        validateInput: (text) => (text.length > 80 ? 'at most 80 characters' : undefined),
      });
      if (name === undefined) return;
      controller.devices.rename(device.key, name);
    },
    [CommandId.HoldUpdates]: async (node) => {
      const device = await pickDevice(node, 'Hold the updates of which board?', (d) => !d.held);
      if (device) controller.devices.setHeld(device.key, true);
    },
    [CommandId.ReleaseUpdates]: async (node) => {
      const device = await pickDevice(node, 'Release the updates of which board?', (d) => d.held);
      if (device) controller.devices.setHeld(device.key, false);
    },
    [CommandId.ForgetDevice]: async (node) => {
      const device = await pickDevice(node, 'Forget which board?');
      if (!device) return;
      const answer = await vscode.window.showWarningMessage(
        `Forget ${device.name ?? device.key} and its update history?`,
        { modal: true },
        'Forget',
      );
      if (answer === 'Forget') controller.devices.forget(device.key);
    },
    [CommandId.ClearDevices]: () => {
      controller.devices.clear();
      refreshDevices();
    },
    [CommandId.ExportNginx]: (folder) => exportForNginx(controller, channelLogger(channel), folder),
  };
  return Object.entries(handlers).map(([id, handler]) => vscode.commands.registerCommand(id, handler));
}
