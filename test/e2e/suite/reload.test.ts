// Boards survive a real reload of the window: devices recorded by the server in this extension host, the window
// reloaded (workbench.action.reloadWindow, see windowReload.ts), and in the new extension host both boards and their
// histories are in the Devices view's data, with the server stopped.
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import type { ExtensionApi } from '../../../src/extension/extension';
import { rawRequest } from '../../support/rawHttp';
import { esp32DownloadRequest, esp8266DownloadRequest } from '../../support/deviceRequests';
import { esp8266ArduinoApp } from '../../support/images';
import { AFTER_RELOAD, afterReload, reloadFile, requestReload } from './windowReload';
import { freePort, until } from '../../support/waits';

const EXTENSION_ID = 'autoconnect-ota.autoconnect-update-server';
const ESP8266 = '18:FE:34:00:00:51';
const ESP32 = '24:0A:C4:00:00:52';

interface Notes {
  boards: Array<{ key: string; name?: string; history: Array<[string, string]> }>;
  stateFile: string;
}

async function activate(): Promise<ExtensionApi> {
  const extension = vscode.extensions.getExtension<ExtensionApi>(EXTENSION_ID);
  assert.ok(extension, 'extension installed');
  return extension.activate();
}

const history = (api: ExtensionApi, key: string) =>
  api.controller.devices.get(key)?.updates.map((u): [string, string] => [u.outcome, u.md5 ?? '']) ?? [];

suite('Boards across a window reload', () => {
  test('records two boards with their histories, then asks for a reload of the window', async function () {
    if (afterReload()) return this.skip();
    const notesFile = reloadFile('notes');
    if (!notesFile) return this.skip(); // no launcher results file: no reload either
    const api = await activate();
    await vscode.workspace
      .getConfiguration('autoconnect')
      .update('server.port', await freePort(), vscode.ConfigurationTarget.Workspace);
    await vscode.commands.executeCommand('autoconnect.startServer');
    const state = api.controller.state;
    assert.strictEqual(state.kind, 'running', JSON.stringify(state));
    if (state.kind !== 'running') return;
    const image = esp8266ArduinoApp({ payloadSize: 30_000, seed: 451 });
    const entry = path.join(state.catalogDir, 'reload-fw.bin');
    fs.writeFileSync(entry, image);
    const port = state.port;
    const download = () =>
      rawRequest(port, esp8266DownloadRequest('/reload-fw.bin', { staMac: ESP8266, freeSpace: 1 << 20 }));
    assert.strictEqual((await download()).status, 200, 'the ESP8266 board downloads the image');
    await until(() => api.controller.devices.get(ESP8266)?.updates[0]?.outcome === 'downloaded', 'downloaded');
    // It asks again still running its old build: that update rolled back, and it gets the image again.
    assert.strictEqual((await download()).status, 200);
    await until(() => api.controller.devices.get(ESP8266)?.updates[0]?.outcome === 'downloaded', 'downloaded again');
    const refused = await rawRequest(port, esp32DownloadRequest('/reload-fw.bin', { staMac: ESP32 }));
    assert.strictEqual(refused.status, 403, 'an ESP8266 image is refused to the ESP32 board');
    assert.ok(api.controller.devices.rename(ESP32, 'reload bench'));
    const notes: Notes = {
      boards: [ESP8266, ESP32].map((key) => ({
        key,
        name: api.controller.devices.get(key)?.name,
        history: history(api, key),
      })),
      stateFile: path.join(state.catalogDir, '.autoconnect-devices.json'),
    };
    assert.deepStrictEqual(
      notes.boards.map((board) => board.history.map(([outcome]) => outcome)),
      [['downloaded', 'rolled-back'], ['refused']],
    );
    // On disk before the reload (the state file is written within a second of a change).
    await until(() => {
      if (!fs.existsSync(notes.stateFile)) return false;
      const text = fs.readFileSync(notes.stateFile, 'utf8');
      return text.includes(ESP8266) && text.includes('reload bench');
    }, 'both boards in the state file');
    fs.writeFileSync(notesFile, JSON.stringify(notes));
    requestReload();
  });

  test(`${AFTER_RELOAD} both boards and their histories are in the Devices view, the server stopped`, async function () {
    if (!afterReload()) return this.skip();
    const notes = JSON.parse(fs.readFileSync(reloadFile('notes')!, 'utf8')) as Notes;
    const api = await activate();
    assert.notStrictEqual(api.controller.state.kind, 'running', 'a new extension host: the server is not started');
    await until(() => api.controller.devices.list().length >= 2, 'the boards restored');
    const rows = api.devicesView.getChildren();
    for (const board of notes.boards) {
      const row = rows.find(
        (node) => 'device' in node && (node as { device: { key: string } }).device.key === board.key,
      );
      assert.ok(row, `${board.key} is a row of the Devices view`);
      assert.deepStrictEqual(history(api, board.key), board.history, `${board.key}: its history`);
      assert.strictEqual(api.controller.devices.get(board.key)?.name, board.name);
      assert.strictEqual(api.devicesView.getChildren(row).length, board.history.length, 'one row per update');
    }
  });
});
