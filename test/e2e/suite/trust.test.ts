// Trusted networks, the catalog key, networks that change under a running server and automatic starts that fail, in
// a real extension host. The machine's networks come from a probe injected at the core's seam (NetworkProbe), the
// answers to notifications from a recorder at the controller's (Notifier); the real notification, its buttons and a
// real window reload are driven in test/ui/trust.ui.mjs.
import * as assert from 'assert';
import * as fs from 'fs';
import * as net from 'net';
import * as path from 'path';
import * as vscode from 'vscode';
import type { ExtensionApi } from '../../../src/extension/extension';
import type { Notifier, ServerController } from '../../../src/extension/serverController';
import type { NetworkIdentity } from '../../../src/core';
import { portIsFree, rawRequest } from '../../support/rawHttp';
import { esp8266CatalogRequest, esp8266DownloadRequest } from '../../support/deviceRequests';
import { esp8266ArduinoApp } from '../../support/images';
import { freePort, until } from '../../support/waits';

const EXTENSION_ID = 'autoconnect-ota.autoconnect-update-server';
const CAFE: NetworkIdentity = {
  interfaceName: 'wlan0',
  kind: 'wifi',
  address: '10.20.3.4',
  range: '10.20.0.0/16',
  gatewayMac: '3c:22:fb:00:00:01',
  ssid: 'CafeGuest',
  defaultRoute: true,
};
const HOME: NetworkIdentity = {
  ...CAFE,
  address: '192.168.1.23',
  range: '192.168.1.0/24',
  gatewayMac: 'a0:b1:c2:d3:e4:f5',
  ssid: 'Home',
};
const OFFICE: NetworkIdentity = {
  ...CAFE,
  address: '172.16.5.9',
  range: '172.16.0.0/16',
  gatewayMac: '00:11:22:33:44:55',
  ssid: 'Office',
};
const LABEL = 'Wi-Fi "CafeGuest" · 10.20.0.0/16';

interface Question {
  message: string;
  items: string[];
  answer: (choice: string | undefined) => void;
}

/** Records notifications; questions wait for the test to answer them. */
class Recorder implements Notifier {
  readonly questions: Question[] = [];
  readonly errors: string[] = [];
  readonly infos: string[] = [];
  info(message: string): Thenable<string | undefined> {
    this.infos.push(message);
    return Promise.resolve(undefined);
  }
  warning(message: string, ...items: string[]): Thenable<string | undefined> {
    return new Promise((answer) => this.questions.push({ message, items, answer }));
  }
  error(message: string): Thenable<string | undefined> {
    this.errors.push(message);
    return Promise.resolve(undefined);
  }
}

suite('Trusted networks, catalog key and changing networks in a real extension host', () => {
  let api: ExtensionApi;
  let controller: ServerController;
  let recorder: Recorder;
  let port: number;
  let seed = 500;
  let networks: NetworkIdentity[] = [CAFE];
  const probe = { read: async () => networks.map((n) => ({ ...n })) };
  const config = () => vscode.workspace.getConfiguration('autoconnect');
  const workspace = () => vscode.workspace.workspaceFolders![0]!.uri.fsPath;
  const build = () => {
    const dir = path.join(workspace(), 'blinky', '.pio', 'build', 'd1_mini');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'firmware.bin'), esp8266ArduinoApp({ payloadSize: 90_000, seed: seed++ }));
  };
  /** Puts the machine on these networks and lets the controller look at once. */
  const moveTo = async (...next: NetworkIdentity[]) => {
    networks = next;
    await controller.useNetworkProbe(probe);
  };
  const set = (key: string, value: unknown) => config().update(key, value, vscode.ConfigurationTarget.Workspace);
  /** Lets the extension's debounced reaction to a settings change pass, so it cannot land in the middle of a count. */
  const settle = () => new Promise((resolve) => setTimeout(resolve, 800));

  suiteSetup(async () => {
    const extension = vscode.extensions.getExtension<ExtensionApi>(EXTENSION_ID)!;
    api = await extension.activate();
    controller = api.controller;
    await controller.stop();
    recorder = new Recorder();
    controller.notifier = recorder;
    port = await freePort();
    await set('server.port', port);
    await set('server.trustedNetworks', []);
    await set('server.startMode', 'afterBuild');
    await controller.forgetTrustedNetworks();
    await moveTo(CAFE);
  });

  suiteTeardown(async () => {
    for (const q of recorder.questions) q.answer(undefined);
    await set('server.startMode', 'manual');
    await set('server.trustedNetworks', undefined);
    await set('server.catalogKey', undefined);
    await set('server.advertisedAddress', undefined);
    await controller.stop();
    await controller.forgetTrustedNetworks();
  });

  test('on an untrusted network a build does not start the server; it asks, and Only This Time starts it', async () => {
    build();
    const state = await until(() => (controller.state.kind === 'held' ? controller.state : undefined), 'held back');
    assert.ok(await portIsFree(port), 'nothing listens');
    const question = await until(() => recorder.questions[0], 'the question');
    assert.ok(question.message.includes(LABEL), question.message);
    assert.deepStrictEqual(question.items, ['Serve on This Network', 'Only This Time', 'Not Here']);
    assert.strictEqual(state.refused, false);
    assert.match(api.statusBar.text, /held back/);
    assert.ok(api.statusBar.tooltipText.includes(LABEL), api.statusBar.tooltipText);

    // Another automatic start while the question is open: held back still, and no second question.
    await controller.start({ automatic: true });
    assert.strictEqual(controller.state.kind, 'held');
    assert.strictEqual(recorder.questions.length, 1);

    question.answer('Only This Time');
    await until(() => controller.state.kind === 'running', 'running after Only This Time');
    assert.strictEqual((await rawRequest(port, esp8266CatalogRequest())).status, 200);
    // Nothing is remembered, so the next window (a reload) asks again (the UI test reloads for real).
    assert.deepStrictEqual(controller.trust.records, []);
  });

  test('Serve on This Network is remembered: the next start on it does not ask', async () => {
    await controller.stop();
    await moveTo(HOME);
    await controller.start();
    const question = await until(() => recorder.questions[1], 'the question about Home');
    assert.ok(question.message.includes('Wi-Fi "Home" · 192.168.1.0/24'), question.message);
    question.answer('Serve on This Network');
    await until(() => controller.state.kind === 'running', 'running after Serve on This Network');
    assert.deepStrictEqual(
      controller.trust.records.map((r) => [r.label, r.decision]),
      [['Wi-Fi "Home" · 192.168.1.0/24', 'trusted']],
    );
    await controller.stop();
    await controller.start();
    assert.strictEqual(controller.state.kind, 'running');
    assert.strictEqual(recorder.questions.length, 2, 'not asked again');
  });

  test('Not Here keeps it stopped, with the reason in the status bar tooltip, also for the next builds', async () => {
    await controller.stop();
    await controller.forgetTrustedNetworks(); // and Only This Time of the first test
    await moveTo(CAFE);
    build();
    const question = await until(() => recorder.questions[2], 'the question about CafeGuest');
    question.answer('Not Here');
    await until(() => controller.state.kind === 'held' && controller.state.refused, 'held back for Not Here');
    assert.ok(await portIsFree(port));
    assert.match(api.statusBar.tooltipText, /Not Here/);
    assert.ok(api.statusBar.tooltipText.includes(LABEL), api.statusBar.tooltipText);
    await controller.start({ automatic: true }); // what the next build does
    assert.strictEqual(controller.state.kind, 'held');
    assert.strictEqual(recorder.questions.length, 3, 'an automatic start respects Not Here without asking');
    assert.strictEqual(await vscode.commands.executeCommand('autoconnect.forgetTrustedNetworks'), 1);
    assert.deepStrictEqual(controller.trust.records, []);
  });

  test('a setting lists trusted networks; bound to 127.0.0.1 no network needs trust', async () => {
    await set('server.trustedNetworks', ['wifi:CafeGuest']);
    await controller.applySettings();
    await controller.start();
    assert.strictEqual(controller.state.kind, 'running');
    await controller.stop();
    await set('server.trustedNetworks', []);
    await set('server.bindAddress', '127.0.0.1');
    try {
      await controller.applySettings();
      await controller.start();
      assert.strictEqual(controller.state.kind, 'running');
      assert.strictEqual(recorder.questions.length, 3);
    } finally {
      await controller.stop();
      await set('server.bindAddress', undefined);
      await controller.applySettings();
    }
  });

  test('networks that change while it runs: the address follows, an untrusted network holds it back as at start', async () => {
    await set('server.trustedNetworks', ['wifi:Home', 'wifi:Office']);
    await controller.applySettings();
    await moveTo(HOME);
    await controller.start();
    assert.strictEqual(controller.state.kind === 'running' && controller.state.advertised, '192.168.1.23');
    await moveTo(OFFICE);
    await until(
      () => controller.state.kind === 'running' && controller.state.advertised === '172.16.5.9',
      'the new address',
    );
    assert.match(api.statusBar.text, /172\.16\.5\.9:/);
    await vscode.commands.executeCommand('autoconnect.copyAddress');
    assert.strictEqual(await vscode.env.clipboard.readText(), `172.16.5.9:${port}`);
    await vscode.commands.executeCommand('autoconnect.copySketchSnippet');
    assert.strictEqual(await vscode.env.clipboard.readText(), `AutoConnectUpdate update("172.16.5.9", ${port});`);

    const asked = recorder.questions.length;
    await moveTo(CAFE);
    await until(() => controller.state.kind === 'held', 'held back on the cafe network');
    await until(() => portIsFree(port), 'the port freed');
    const question = await until(() => recorder.questions[asked], 'the question about CafeGuest');
    assert.ok(question.message.includes(LABEL));
    question.answer(undefined); // dismissed
    await moveTo(HOME);
    await until(() => controller.state.kind === 'running', 'serving again at home');
    await controller.stop();
  });

  test('autoconnect.server.advertisedAddress changed while running is shown and copied at once', async () => {
    await controller.start();
    assert.strictEqual(controller.state.kind, 'running');
    await set('server.advertisedAddress', '192.0.2.77');
    await until(
      () => controller.state.kind === 'running' && controller.state.advertised === '192.0.2.77',
      'the new address',
    );
    await vscode.commands.executeCommand('autoconnect.copyAddress');
    assert.strictEqual(await vscode.env.clipboard.readText(), `192.0.2.77:${port}`);
    await set('server.advertisedAddress', undefined);
    await until(() => controller.state.kind === 'running' && controller.state.advertised === '192.168.1.23', 'back');
    await controller.stop();
  });

  test('with a catalog key, devices are served only below it and the snippet and download URL carry it', async () => {
    const key = 'kitchen-door-42';
    await set('server.catalogKey', key);
    await controller.applySettings();
    await controller.start();
    assert.strictEqual(controller.state.kind, 'running');
    assert.strictEqual((await rawRequest(port, esp8266CatalogRequest())).status, 404);
    const list = await rawRequest(port, esp8266CatalogRequest(key));
    assert.strictEqual(list.status, 200);
    const entry = await until(
      () => controller.catalog?.allEntries().find((e) => e.name === 'blinky-d1_mini.bin'),
      'entry',
    );
    assert.strictEqual((await rawRequest(port, esp8266DownloadRequest(`${key}/${entry.relPath}`))).status, 200);
    await vscode.commands.executeCommand('autoconnect.copySketchSnippet');
    assert.strictEqual(
      await vscode.env.clipboard.readText(),
      `AutoConnectUpdate update("192.168.1.23", ${port}, "${key}");`,
    );
    await set('server.catalogKey', undefined);
    await controller.applySettings();
    await controller.stop();
  });

  test('a failed automatic start shows its error once, until something changes', async () => {
    await set('server.trustedNetworks', ['*']);
    await settle();
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(port, '0.0.0.0', resolve));
    try {
      const before = recorder.errors.length;
      build();
      await until(() => controller.state.kind === 'failed', 'the failed automatic start');
      await until(() => recorder.errors.length === before + 1, 'one error');
      await controller.start({ automatic: true });
      await controller.start({ automatic: true });
      assert.strictEqual(recorder.errors.length, before + 1, 'the same cause is not shown again');
      await controller.start();
      assert.strictEqual(recorder.errors.length, before + 2, 'the user asking sees it');
      await controller.start({ automatic: true });
      assert.strictEqual(recorder.errors.length, before + 2);
      await set('server.answerNotModified', false);
      await settle();
      await controller.start({ automatic: true });
      assert.strictEqual(recorder.errors.length, before + 3, 'after a settings change the cause is news again');
      assert.match(recorder.errors.at(-1)!, new RegExp(`port ${port} is already in use`));
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
    await set('server.answerNotModified', undefined);
    await settle();
    await controller.start({ automatic: true });
    assert.strictEqual(controller.state.kind, 'running', 'the port is free: it starts');
    await controller.stop();
  });
});
