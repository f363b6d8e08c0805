// Roll Back to This Build, in a real extension host: two builds published with the server stopped, the command run on
// the kept build's row of the Firmware Catalog, and then a board polling the stable name (ESP8266httpUpdate's exact
// request on a raw socket) gets the older build. The workbench's own menu is looked at in test/ui/polish.ui.mjs.
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { createHash } from 'crypto';
import type { ExtensionApi } from '../../../src/extension/extension';
import type { Notifier } from '../../../src/extension/serverController';
import type { CatalogRollBackResult } from '../../../src/core';
import { esp8266ArduinoApp } from '../../support/images';
import { rawRequest } from '../../support/rawHttp';
import { esp8266DownloadRequest } from '../../support/deviceRequests';
import { freePort, until } from '../../support/waits';

const EXTENSION_ID = 'autoconnect-ota.autoconnect-update-server';
const CURRENT = 'rollback-demo.bin';
const KEPT_1 = 'rollback-demo-20260101-120100.bin';
const KEPT_2 = 'rollback-demo-20260101-120200.bin';
const md5 = (data: Buffer) => createHash('md5').update(data).digest('hex');

/** Records what the command tells the user; answers nothing. */
class Recorder implements Notifier {
  readonly infos: string[] = [];
  readonly errors: string[] = [];
  info(message: string): Thenable<string | undefined> {
    this.infos.push(message);
    return Promise.resolve(undefined);
  }
  warning(): Thenable<string | undefined> {
    return Promise.resolve(undefined);
  }
  error(message: string): Thenable<string | undefined> {
    this.errors.push(message);
    return Promise.resolve(undefined);
  }
}

suite('Roll Back to This Build in a real extension host', () => {
  let api: ExtensionApi;
  let recorder: Recorder;
  let original: Notifier;
  const set = (key: string, value: unknown) =>
    vscode.workspace.getConfiguration('autoconnect').update(key, value, vscode.ConfigurationTarget.Workspace);
  const rows = () => api.catalogView.getChildren();

  suiteSetup(async () => {
    api = await vscode.extensions.getExtension<ExtensionApi>(EXTENSION_ID)!.activate();
    await api.controller.stop();
    original = api.controller.notifier;
    recorder = new Recorder();
    api.controller.notifier = recorder;
    await set('server.port', await freePort());
  });

  suiteTeardown(async () => {
    api.controller.notifier = original;
    await api.controller.stop();
    for (const name of [CURRENT, KEPT_1, KEPT_2]) await api.controller.removeFromCatalog(name).catch(() => undefined);
  });

  test('on a kept row while the server is stopped: boards asking for the stable name get that build', async () => {
    assert.strictEqual(api.controller.state.kind, 'stopped');
    // Two builds of one file, a minute apart (as "Publish Firmware…" twice on a rebuilt .bin).
    const dir = path.join(vscode.workspace.workspaceFolders![0]!.uri.fsPath, 'downloads');
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, CURRENT);
    const builds = [1, 2].map((seed) => esp8266ArduinoApp({ payloadSize: 60_000, seed: 970 + seed }));
    for (const [i, bytes] of builds.entries()) {
      fs.writeFileSync(file, bytes);
      const at = new Date(Date.UTC(2026, 0, 1, 12, i + 1));
      fs.utimesSync(file, at, at);
      const result = await vscode.commands.executeCommand<{ name?: string }>(
        'autoconnect.publishFirmware',
        vscode.Uri.file(file),
      );
      assert.strictEqual(result?.name, CURRENT, JSON.stringify(result));
    }
    const [build1, build2] = builds as [Buffer, Buffer];
    const kept = await until(() => rows().find((n) => n.label === KEPT_1), 'the kept build as a row');
    assert.strictEqual(kept.contextValue, 'entry.app.kept', 'the row offers Roll Back to This Build');
    assert.strictEqual(rows().find((n) => n.label === CURRENT)?.contextValue, 'entry.app', 'the current one does not');

    // Without a row it does nothing.
    assert.strictEqual(await vscode.commands.executeCommand('autoconnect.rollBack'), undefined);
    assert.ok(fs.readFileSync(path.join(api.controller.catalogDir, CURRENT)).equals(build2));

    const result = await vscode.commands.executeCommand<CatalogRollBackResult>('autoconnect.rollBack', kept);
    assert.ok(result, `rolled back: ${recorder.errors.join(' | ')}`);
    assert.deepStrictEqual([result.name, result.from, result.kept], [CURRENT, KEPT_1, KEPT_2]);
    const message = recorder.infos.at(-1) ?? '';
    assert.ok(message.startsWith(`AutoConnect: ${CURRENT} is the build of `), message);
    assert.ok(
      message.endsWith(`again; boards asking for it get this build. The build it replaced is kept as ${KEPT_2}.`),
      message,
    );
    assert.strictEqual(api.controller.state.kind, 'stopped', 'nothing was started to roll back');
    assert.ok(fs.readFileSync(path.join(api.controller.catalogDir, CURRENT)).equals(build1));
    await until(() => !rows().some((n) => n.label === KEPT_1), 'the rolled-back-to row to leave the view');
    const replaced = await until(() => rows().find((n) => n.label === KEPT_2), 'the replaced build as a kept row');
    assert.strictEqual(replaced.contextValue, 'entry.app.kept');

    // On the current row it says why not, and changes nothing.
    const current = rows().find((n) => n.label === CURRENT)!;
    assert.strictEqual(await vscode.commands.executeCommand('autoconnect.rollBack', current), undefined);
    assert.match(
      recorder.errors.at(-1) ?? '',
      new RegExp(`not rolled back to ${CURRENT}: ${CURRENT} is not a kept build`),
    );

    // Served: a board running build 2 that polls the stable name gets build 1, with build 1's digest.
    await api.controller.start();
    const state = api.controller.state as { kind: string; port?: number };
    assert.strictEqual(state.kind, 'running');
    const download = await rawRequest(
      state.port!,
      esp8266DownloadRequest(`/${CURRENT}`, { sketchMd5: md5(build2), sketchSize: build2.length }),
    );
    assert.strictEqual(download.status, 200);
    assert.strictEqual(download.headers.get('x-md5'), md5(build1));
    assert.ok(download.body.equals(build1));
    await api.controller.stop();
  });
});
