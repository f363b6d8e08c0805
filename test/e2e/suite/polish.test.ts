// The editor front as a user meets it, in a real extension host: one product name in the status bar and the
// commands, an icon that is not the forwarded-ports one, the "published" notification's buttons following the
// server's state, row-only commands kept out of the Command Palette, the tooltip of a remote window naming the
// address devices reach, and the settings registered under their sections. The workbench's own rendering (the codicon,
// the palette, the context menu, the Settings editor) is looked at in test/ui/polish.ui.mjs.
import * as assert from 'assert';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import * as vscode from 'vscode';
import type { ExtensionApi } from '../../../src/extension/extension';
import type { Notifier } from '../../../src/extension/serverController';
import { RowCommands } from '../../../src/extension/commandIds';
import { reachableAddresses } from '../../../src/core';
import { esp8266ArduinoApp } from '../../support/images';
import { freePort, until } from '../../support/waits';

const EXTENSION_ID = 'autoconnect-ota.autoconnect-update-server';

interface Manifest {
  contributes: {
    commands: { command: string; title: string; category?: string; icon?: string }[];
    menus: Record<string, { command: string; when?: string }[]>;
    configuration: { id: string; title: string; order: number; properties: Record<string, Setting> }[];
  };
}
interface Setting {
  default: unknown;
  description?: string;
  markdownDescription?: string;
  enumDescriptions?: string[];
}

interface Notice {
  message: string;
  items: string[];
}

/** Records information notifications (the "published" one) with their buttons; answers none. */
class Recorder implements Notifier {
  readonly infos: Notice[] = [];
  info(message: string, ...items: string[]): Thenable<string | undefined> {
    this.infos.push({ message, items });
    return Promise.resolve(undefined);
  }
  warning(): Thenable<string | undefined> {
    return Promise.resolve(undefined);
  }
  error(): Thenable<string | undefined> {
    return Promise.resolve(undefined);
  }
}

type Running = Extract<ExtensionApi['controller']['state'], { kind: 'running' }>;

/** Markdown as the tooltip shows it: the escapes of user text (host names) taken out. */
const unescape = (markdown: string) => markdown.replace(/\\([\\`*_[\]<>#|$])/g, '$1');

suite('Editor polish in a real extension host', () => {
  let api: ExtensionApi;
  let manifest: Manifest;
  let recorder: Recorder;
  let original: Notifier;
  let port: number;
  let seed = 900;
  const config = () => vscode.workspace.getConfiguration('autoconnect');
  const set = (key: string, value: unknown) => config().update(key, value, vscode.ConfigurationTarget.Workspace);
  /** The running state (the server must run now). */
  const running = (): Running => {
    const state = api.controller.state;
    if (state.kind !== 'running') throw new Error(`not running: ${JSON.stringify(state)}`);
    return state;
  };
  const workspace = () => vscode.workspace.workspaceFolders![0]!.uri.fsPath;
  /** Publishes a new ESP8266 image by the command, as "Publish Firmware…" on a .bin in the Explorer does. */
  const publish = async (name: string) => {
    const dir = path.join(workspace(), 'downloads');
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, name);
    fs.writeFileSync(file, esp8266ArduinoApp({ payloadSize: 60_000, seed: seed++ }));
    const result = await vscode.commands.executeCommand<{ name?: string; reason?: string }>(
      'autoconnect.publishFirmware',
      vscode.Uri.file(file),
    );
    assert.ok(result?.name, JSON.stringify(result));
    return result.name;
  };

  suiteSetup(async () => {
    const extension = vscode.extensions.getExtension<ExtensionApi>(EXTENSION_ID)!;
    api = await extension.activate();
    manifest = JSON.parse(fs.readFileSync(path.join(extension.extensionPath, 'package.json'), 'utf8')) as Manifest;
    await api.controller.stop();
    original = api.controller.notifier;
    recorder = new Recorder();
    api.controller.notifier = recorder;
    port = await freePort();
    await set('server.port', port);
  });

  suiteTeardown(async () => {
    api.controller.notifier = original;
    api.buildHooks.noticeIntervalMs = 120_000;
    await set('publish.notify', undefined);
    await api.controller.stop();
  });

  test('one product name: the status bar offers the command by its title, "Update Server" everywhere', async () => {
    const commands = manifest.contributes.commands;
    assert.ok(
      commands.every((c) => c.category === 'AutoConnect'),
      'every command is in the AutoConnect category',
    );
    const start = commands.find((c) => c.command === 'autoconnect.startServer')!;
    assert.strictEqual(start.title, 'Start Update Server');
    for (const c of commands.filter((c) => /server/i.test(c.title) && !/address/i.test(c.title)))
      assert.match(c.title, /Update Server/, `${c.command}: "${c.title}"`);
    assert.ok(!commands.some((c) => /\bOTA\b/.test(c.title)));

    assert.strictEqual(api.controller.state.kind, 'stopped');
    assert.strictEqual(api.statusBar.text, `$(chip) ${start.title}`, 'the item says what a click does');
    assert.match(api.statusBar.tooltipText, /AutoConnect Update Server\*\* is stopped/);
    await api.controller.start();
    const state = running();
    assert.strictEqual(api.statusBar.text, `$(chip) ${state.advertised}:${state.port}`);
    assert.match(api.statusBar.tooltipText, /^\*\*AutoConnect Update Server\*\* on port/);
    for (const text of [api.statusBar.text, api.statusBar.tooltipText]) {
      assert.ok(!/\bOTA\b/.test(text), text);
      assert.ok(!text.includes('$(radio-tower)'), `not the forwarded-ports icon: ${text}`);
    }
    await api.controller.stop();
  });

  test('the published notification offers Copy Address only while the server runs', async () => {
    api.buildHooks.noticeIntervalMs = 0;
    await set('publish.notify', true);
    assert.notStrictEqual(api.controller.state.kind, 'running');
    const stopped = await publish('polish-stopped.bin');
    const first = await until(
      () => recorder.infos.find((n) => n.message.includes(`published ${stopped}`)),
      'the notification of a build published while stopped',
    );
    assert.deepStrictEqual(first.items, ['Start Update Server', "Don't Notify"]);
    assert.match(first.message, /The Update Server is stopped/);

    await api.controller.start();
    const state = running();
    const name = await publish('polish-running.bin');
    const second = await until(
      () => recorder.infos.find((n) => n.message.includes(`published ${name}`)),
      'the notification of a build published while running',
    );
    assert.deepStrictEqual(second.items, ['Copy Address', "Don't Notify"]);
    assert.ok(second.message.includes(`Devices update from ${state.advertised}:${state.port}.`), second.message);
    await api.controller.stop();
  });

  test('the published notification says why the server does not serve when its start failed', async () => {
    api.buildHooks.noticeIntervalMs = 0;
    await set('publish.notify', true);
    // Another program has the port: the start fails, and a build published then says so, not "stopped".
    const taken = await freePort();
    const other = net.createServer();
    await new Promise<void>((resolve) => other.listen(taken, '0.0.0.0', resolve));
    try {
      await set('server.port', taken);
      await api.controller.start().catch(() => undefined);
      assert.strictEqual(api.controller.state.kind, 'failed', JSON.stringify(api.controller.state));
      const name = await publish('polish-failed.bin');
      const notice = await until(
        () => recorder.infos.find((n) => n.message.includes(`published ${name}`)),
        'the notification of a build published after a failed start',
      );
      assert.match(notice.message, /could not start \(port \d+ is already in use/, notice.message);
      assert.doesNotMatch(notice.message, /is stopped/);
      assert.deepStrictEqual(notice.items, ['Start Update Server', "Don't Notify"], 'a start is offered again');
    } finally {
      await new Promise((resolve) => other.close(resolve));
      await set('server.port', port);
      await api.controller.stop();
    }
  });

  test('commands that act on a catalog row are offered on the row and hidden from the Command Palette', async () => {
    const { commands, menus } = manifest.contributes;
    const palette = menus.commandPalette ?? [];
    const hidden = palette.filter((m) => m.when === 'false').map((m) => m.command);
    assert.ok(RowCommands.length > 0);
    for (const id of RowCommands) {
      assert.ok(
        commands.some((c) => c.command === id),
        `${id} is contributed`,
      );
      assert.ok(hidden.includes(id), `${id} needs a row: "when": "false" in menus.commandPalette`);
      assert.ok(
        menus['view/item/context']!.some((m) => m.command === id),
        `${id} is offered on the row`,
      );
    }
    assert.deepStrictEqual(hidden.sort(), [...RowCommands].sort(), 'only row commands are hidden wholesale');
    // A command offered only on rows must be a row command (hidden) or ask for its target (listed here on purpose).
    const elsewhere = new Set(
      Object.entries(menus)
        .filter(([where]) => where !== 'view/item/context' && where !== 'commandPalette')
        .flatMap(([, items]) => items.map((m) => m.command)),
    );
    const asksForTarget = [
      'autoconnect.renameDevice',
      'autoconnect.holdUpdates',
      'autoconnect.releaseUpdates',
      'autoconnect.forgetDevice',
      'autoconnect.copyUpdateLoopSnippet',
    ];
    const rowOnly = [...new Set(menus['view/item/context']!.map((m) => m.command))].filter((c) => !elsewhere.has(c));
    for (const id of rowOnly)
      assert.ok(RowCommands.includes(id) || asksForTarget.includes(id), `${id}: a row command or one that asks`);

    // Without a row they do nothing; on the row they act on its entry.
    await api.controller.start();
    const name = await publish('polish-row.bin');
    const row = await until(
      () => api.catalogView.getChildren().find((n) => n.label === name),
      'the published entry as a row of the Firmware Catalog',
    );
    await vscode.env.clipboard.writeText('untouched');
    assert.strictEqual(await vscode.commands.executeCommand('autoconnect.copyDownloadUrl'), undefined);
    assert.strictEqual(await vscode.env.clipboard.readText(), 'untouched');
    await vscode.commands.executeCommand('autoconnect.removeFromCatalog');
    assert.ok(
      api.controller.catalog!.allEntries().some((e) => e.name === name),
      'a row command without a row removes nothing',
    );
    const state = running();
    const url = await vscode.commands.executeCommand<string>('autoconnect.copyDownloadUrl', row);
    assert.strictEqual(url, `http://${state.advertised}:${state.port}/${name}`);
    assert.strictEqual(await vscode.env.clipboard.readText(), url);
    await api.controller.stop();
  });

  test('in a remote window the tooltip names the address devices reach and the machine they connect to', async () => {
    const remote = vscode.env.remoteName;
    assert.ok(remote, 'code-server is a remote window');
    assert.strictEqual(api.controller.state.kind, 'stopped');
    const stopped = unescape(api.statusBar.tooltipText);
    assert.ok(stopped.includes(`Devices connect to ${os.hostname()}, the machine the extension runs on`), stopped);
    assert.ok(!stopped.includes(remote), stopped);
    await api.controller.start();
    const state = running();
    const tooltip = unescape(api.statusBar.tooltipText);
    const devices = `${state.advertised}:${state.port}`;
    assert.ok(
      tooltip.includes(`Devices connect to ${os.hostname()}, the machine the extension runs on, at ${devices}`),
      tooltip,
    );
    assert.ok(!tooltip.includes(remote), `the editor's own connection (${remote}) is not named: ${tooltip}`);
    // The address is one the core reports for this machine's interfaces (or the bind address).
    const reported = reachableAddresses(undefined).map((a) => a.address);
    assert.ok(reported.includes(state.advertised), `${state.advertised} in ${reported.join(', ')}`);
    await api.controller.stop();
  });

  test('settings: three AutoConnect sections in order, registered with their defaults, worded as the product', () => {
    const sections = manifest.contributes.configuration;
    assert.deepStrictEqual(
      sections.map((s) => [s.id, s.title, s.order]),
      [
        ['autoconnect.server', 'Update Server', 1],
        ['autoconnect.catalog', 'Firmware Catalog', 2],
        ['autoconnect.publish', 'Build Publishing', 3],
      ],
    );
    for (const section of sections) {
      for (const [key, setting] of Object.entries(section.properties)) {
        // The section id trims the key's category in the Settings editor ("Port", not "Autoconnect › Server: Port").
        assert.ok(key.startsWith(`${section.id}.`), `${key} in section ${section.id}`);
        const inspected = config().inspect(key.slice('autoconnect.'.length));
        assert.deepStrictEqual(inspected?.defaultValue, setting.default, `${key} is registered`);
        const text = [setting.description, setting.markdownDescription, ...(setting.enumDescriptions ?? [])].join(' ');
        assert.ok(text.trim().length > 0, `${key} is described`);
        assert.ok(!/update server|\bOTA server/.test(text), `${key} names the product "Update Server": ${text}`);
      }
    }
  });

  test('the Firmware Catalog lists the folder while the server is stopped, and says it is stopped', async () => {
    await api.controller.stop();
    assert.strictEqual(api.controller.state.kind, 'stopped');
    const names = () => api.catalogView.getChildren().map((n) => n.label);
    // Published by the tests above, some while running, one while stopped.
    for (const name of ['polish-stopped.bin', 'polish-running.bin', 'polish-row.bin'])
      assert.ok(names().includes(name), `${name} in ${names().join(', ')}`);
    assert.match(api.catalogView.description ?? '', /^\d+ files · server stopped$/);
    // A file a person drops into the folder while nothing is served shows up, as it does while serving.
    const dropped = path.join(api.controller.catalogDir, 'dropped-while-stopped.bin');
    fs.writeFileSync(dropped, esp8266ArduinoApp({ payloadSize: 50_000, seed: seed++ }));
    const row = await until(
      () => api.catalogView.getChildren().find((n) => n.label === 'dropped-while-stopped.bin'),
      'the dropped file in the Firmware Catalog view while stopped',
    );
    assert.match(String(row.description), /ESP8266/);
    // Row commands work on it while stopped; the download URL is the one devices will use once it runs.
    const url = await vscode.commands.executeCommand<string>('autoconnect.copyDownloadUrl', row);
    assert.strictEqual(url, `http://${api.controller.advertisedHost}:${port}/dropped-while-stopped.bin`);
    await api.controller.removeFromCatalog('dropped-while-stopped.bin');
    assert.ok(!fs.existsSync(dropped));
    await until(() => !names().includes('dropped-while-stopped.bin'), 'the removed entry to leave the view');
    await api.controller.start();
    assert.match(api.catalogView.description ?? '', /^\d+ files$/);
    await api.controller.stop();
  });
});
