// The extension in a real VS Code extension host: commands, the server on a real port, devices and the catalog,
// publishing a build written into the workspace, afterBuild start, port conflicts, and a clean stop.
import * as assert from 'assert';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import * as vscode from 'vscode';
import type { ServerController } from '../../../src/extension/serverController';
import { portIsFree, rawRequest } from '../../support/rawHttp';
import { esp32DownloadRequest, esp8266CatalogRequest, esp8266DownloadRequest } from '../../support/deviceRequests';
import { esp32App, esp32Bootloader, esp8266ArduinoApp } from '../../support/images';
import { createHash } from 'crypto';
import { freePort, until } from '../../support/waits';

const EXTENSION_ID = 'autoconnect-ota.autoconnect-update-server';
const md5 = (data: Buffer) => createHash('md5').update(data).digest('hex');

suite('AutoConnect Update Server in a real extension host', () => {
  let controller: ServerController;
  let port: number;
  const workspace = () => vscode.workspace.workspaceFolders![0]!.uri.fsPath;
  const config = () => vscode.workspace.getConfiguration('autoconnect');

  suiteSetup(async () => {
    const extension = vscode.extensions.getExtension<{ controller: ServerController }>(EXTENSION_ID);
    assert.ok(extension, 'extension installed');
    const api = await extension.activate();
    controller = api.controller;
    port = await freePort();
    await config().update('server.port', port, vscode.ConfigurationTarget.Workspace);
  });

  suiteTeardown(async () => {
    await controller.stop();
  });

  test('registers exactly the commands its package.json contributes', async () => {
    const extension = vscode.extensions.getExtension(EXTENSION_ID)!;
    const manifest = JSON.parse(fs.readFileSync(path.join(extension.extensionPath, 'package.json'), 'utf8')) as {
      contributes: { commands: { command: string }[]; views: Record<string, { id: string }[]> };
    };
    const contributed = manifest.contributes.commands.map((c) => c.command).sort();
    // The workbench adds commands of its own for each contributed view (`<view id>.focus`, …).
    const views = Object.values(manifest.contributes.views)
      .flat()
      .map((v) => `${v.id}.`);
    const registered = (await vscode.commands.getCommands(true))
      .filter((c) => c.startsWith('autoconnect.') && !views.some((v) => c.startsWith(v)))
      .sort();
    assert.deepStrictEqual(registered, contributed);
  });

  test('starts the update server from its command and serves a device', async () => {
    await vscode.commands.executeCommand('autoconnect.startServer');
    const state = controller.state;
    assert.strictEqual(state.kind, 'running', JSON.stringify(state));
    if (state.kind !== 'running') return;
    assert.strictEqual(state.port, port);
    assert.strictEqual(state.catalogDir, fs.realpathSync(path.join(workspace(), '.autoconnect', 'catalog')));
    assert.ok(
      fs.existsSync(path.join(workspace(), '.autoconnect', '.gitignore')),
      'the default catalog is kept out of git',
    );
    const response = await rawRequest(port, esp8266CatalogRequest());
    assert.strictEqual(response.status, 200);
    assert.strictEqual(response.headers.get('content-type'), 'application/json');
  });

  test('publishes a PlatformIO build written into the workspace, and a device downloads it', async () => {
    const build = path.join(workspace(), 'blinky', '.pio', 'build', 'd1_mini');
    fs.mkdirSync(build, { recursive: true });
    const image = esp8266ArduinoApp({ payloadSize: 200_000, seed: 101 });
    fs.writeFileSync(path.join(build, 'firmware.bin'), image);
    const entry = await until(
      () => controller.catalog?.allEntries().find((e) => e.name === 'blinky-d1_mini.bin'),
      'the catalog entry',
    );
    assert.strictEqual(entry.version?.md5, md5(image));
    assert.strictEqual(controller.origins.get('blinky-d1_mini.bin')?.environment, 'd1_mini');
    const list = JSON.parse((await rawRequest(port, esp8266CatalogRequest())).body.toString()) as {
      name: string;
      type: string;
    }[];
    assert.ok(
      list.some((e) => e.name === 'blinky-d1_mini.bin' && e.type === 'bin'),
      JSON.stringify(list),
    );
    const download = await rawRequest(
      port,
      esp8266DownloadRequest('/blinky-d1_mini.bin', { staMac: '18:FE:34:00:00:01' }),
    );
    assert.strictEqual(download.status, 200);
    assert.strictEqual(download.headers.get('x-md5'), md5(image));
    assert.ok(download.body.equals(image));
    // The build was hashed and analysed once, by the publisher, in its image worker thread (dist/imageWorker.js), not
    // in the extension host; the served catalog took that analysis in and hashed nothing.
    const work = controller.core.publisher!.workFigures;
    assert.ok(work.inWorker > 0, JSON.stringify(work));
    assert.strictEqual(controller.catalog!.images.workFigures.md5Passes, 0);
  });

  test('Export Catalog for nginx… writes the served catalog for nginx, answers equal to the server', async () => {
    const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'acus-e2e-nginx-')), 'export');
    const result = await vscode.commands.executeCommand<{ images: number; port: number } | undefined>(
      'autoconnect.exportNginx',
      vscode.Uri.file(dir),
    );
    assert.ok(result && result.images >= 1, JSON.stringify(result));
    assert.strictEqual(result.port, port, 'a first export takes the port devices use');
    const current = path.join(dir, 'current');
    assert.match(fs.readFileSync(path.join(current, 'server.conf'), 'utf8'), /location = "\/blinky-d1_mini\.bin"/);
    const manifest = JSON.parse(fs.readFileSync(path.join(current, 'manifest.json'), 'utf8')) as {
      folders: { rel: string; id: string }[];
    };
    const root = manifest.folders.find((f) => f.rel === '')!;
    const answer = fs.readFileSync(path.join(current, 'catalog', 'esp8266', `${root.id}.json`));
    assert.ok(answer.equals((await rawRequest(port, esp8266CatalogRequest())).body));
    fs.rmSync(path.dirname(dir), { recursive: true, force: true });
  });

  test('records the device, its download and a refusal with the reason', async () => {
    await rawRequest(port, esp32DownloadRequest('/blinky-d1_mini.bin', { staMac: '24:0A:C4:00:00:09' }));
    const device = await until(() => controller.devices.get('18:FE:34:00:00:01'), 'the ESP8266 device');
    await until(() => device.updates[0]?.outcome === 'downloaded', 'the finished download');
    assert.strictEqual(device.family, 'esp8266');
    assert.strictEqual(device.updates[0]!.image, 'blinky-d1_mini.bin');
    const esp32 = await until(() => controller.devices.get('24:0A:C4:00:00:09'), 'the ESP32 device');
    assert.strictEqual(esp32.updates[0]!.outcome, 'refused');
    assert.match(esp32.updates[0]!.reason ?? '', /ESP8266 image, but the device is an ESP32/);
  });

  test('keeps boards, their names, holds and histories in the state file beside the catalog', async () => {
    const mac = '18:FE:34:00:00:01';
    await until(() => controller.devices.get(mac)?.updates[0]?.outcome === 'downloaded', 'the download');
    assert.ok(controller.devices.rename(mac, 'bench left'));
    assert.ok(controller.devices.setHeld(mac, true));
    const file = path.join(controller.catalogDir!, '.autoconnect-devices.json');
    // Format 2: an update is keyed by its outcome, with the ISO time as the value.
    type Doc = { devices: { mac: string; name?: string; held?: boolean; updates: Record<string, string>[] }[] };
    const stored = await until(() => {
      if (!fs.existsSync(file)) return undefined;
      const device = (JSON.parse(fs.readFileSync(file, 'utf8')) as Doc).devices.find((d) => d.mac === mac);
      return device?.name === 'bench left' && device.held ? device : undefined;
    }, 'the board in the state file');
    assert.ok(
      stored.updates.some((u) => typeof u.downloaded === 'string'),
      JSON.stringify(stored),
    );
    const held = await rawRequest(port, esp8266DownloadRequest('/blinky-d1_mini.bin', { staMac: mac }));
    assert.strictEqual(held.status, 304, 'a held board gets 304 for every image');
    controller.devices.setHeld(mac, false);
  });

  test('Publish Firmware… classifies a file: an app goes into the catalog, a bootloader is refused with the reason', async () => {
    const downloads = path.join(workspace(), 'downloads');
    fs.mkdirSync(downloads, { recursive: true });
    const app = esp32App({ chip: 'esp32c3', version: '3.1.4', projectName: 'thermo', payloadSize: 150_000, seed: 103 });
    fs.writeFileSync(path.join(downloads, 'thermo.bin'), app);
    fs.writeFileSync(path.join(downloads, 'bootloader.bin'), esp32Bootloader());
    const published = await vscode.commands.executeCommand<{ name?: string; reason?: string }>(
      'autoconnect.publishFirmware',
      vscode.Uri.file(path.join(downloads, 'thermo.bin')),
    );
    assert.ok(published?.name, JSON.stringify(published));
    const entry = await until(
      () => controller.catalog?.allEntries().find((e) => e.name === published!.name),
      'the published entry',
    );
    assert.strictEqual(entry.version?.info.chip, 'esp32c3');
    assert.strictEqual(entry.version?.info.app?.version, '3.1.4');
    const refused = await vscode.commands.executeCommand<{ name?: string; reason?: string }>(
      'autoconnect.publishFirmware',
      vscode.Uri.file(path.join(downloads, 'bootloader.bin')),
    );
    assert.strictEqual(refused?.name, undefined);
    assert.match(refused?.reason ?? '', /bootloader/);
    assert.ok(!fs.readdirSync(path.join(workspace(), '.autoconnect', 'catalog')).some((n) => /bootloader/.test(n)));
  });

  test('copies host:port and a sketch snippet', async () => {
    await vscode.commands.executeCommand('autoconnect.copyAddress');
    const address = await vscode.env.clipboard.readText();
    assert.match(address, new RegExp(`^[0-9.]+:${port}$`));
    await vscode.commands.executeCommand('autoconnect.copySketchSnippet');
    assert.match(
      await vscode.env.clipboard.readText(),
      new RegExp(`^AutoConnectUpdate update\\("[0-9.]+", ${port}\\);$`),
    );
  });

  test('stops and frees the port', async () => {
    await vscode.commands.executeCommand('autoconnect.stopServer');
    assert.strictEqual(controller.state.kind, 'stopped');
    assert.ok(await portIsFree(port));
  });

  test('reports a port in use, naming the port, without touching the setting', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(port, '0.0.0.0', resolve));
    try {
      await controller.start();
      const state = controller.state;
      assert.strictEqual(state.kind, 'failed');
      if (state.kind === 'failed') assert.match(state.message, new RegExp(`port ${port} is already in use`));
      assert.strictEqual(config().get('server.port'), port, 'the setting is unchanged');
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
    await controller.stop();
  });

  test('afterBuild: a new build starts the server by itself', async () => {
    await config().update('server.startMode', 'afterBuild', vscode.ConfigurationTarget.Workspace);
    try {
      assert.notStrictEqual(controller.state.kind, 'running');
      const image = esp8266ArduinoApp({ payloadSize: 220_000, seed: 102 });
      fs.writeFileSync(path.join(workspace(), 'blinky', '.pio', 'build', 'd1_mini', 'firmware.bin'), image);
      await until(() => controller.state.kind === 'running', 'the server to start after the build');
      const download = await until(async () => {
        const response = await rawRequest(port, esp8266DownloadRequest('/blinky-d1_mini.bin'));
        return response.headers.get('x-md5') === md5(image) ? response : undefined;
      }, 'the new build to be served');
      assert.ok(download.body.equals(image));
    } finally {
      await config().update('server.startMode', 'manual', vscode.ConfigurationTarget.Workspace);
      await controller.stop();
    }
  });
});
