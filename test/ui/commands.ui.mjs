// The commands a user reaches for when something is in the way, driven through the workbench with the packaged
// .vsix: a port already taken (the error names it and "Use Another Port…" starts on another port for the session,
// leaving the setting alone), "Select Network Address…" (this machine's interfaces by name), and "Remove from
// Catalog" on the entry's context menu (modal confirmation, the entry and its file gone).
import { createRequire } from 'node:module';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';

export const fixture = 'test/ui/fixtures/ota-workspace';
export const timeout = 150000;

const require = createRequire(import.meta.url);
const out = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..', 'out', 'test', 'support');
const { esp8266ArduinoApp } = require(path.join(out, 'images.js'));
const { rawRequest, portIsFree } = require(path.join(out, 'rawHttp.js'));
const { esp8266CatalogRequest } = require(path.join(out, 'deviceRequests.js'));

const PORT = 18266; // the fixture's setting

async function clickButton(page, container, label, what) {
  const button = page.locator(`${container} .monaco-button`, { hasText: label }).first();
  await button.waitFor({ state: 'visible', timeout: 15000 }).catch(() => {
    throw new Error(`no "${label}" button in ${what}`);
  });
  await button.click();
}

export async function run({ page, workspace, assert, log, helpers, manifest, extensionId }) {
  const { runCommand, statusBarText, openView, treeRows, waitFor, quickPickRows, notifications } = helpers;
  const statusId = `${extensionId}.autoconnect.status`;
  await statusBarText(page, statusId, { match: /Start Update Server/, timeout: 60000 });

  // 1. Another program holds the port.
  const blocker = net.createServer();
  await new Promise((resolve) => blocker.listen(PORT, '0.0.0.0', resolve));
  try {
    await runCommand(page, 'AutoConnect: Start Update Server');
    await waitFor(async () => (await notifications(page)).some((t) => t.includes(`port ${PORT} is already in use`)), {
      timeout: 15000,
      what: 'the port-in-use error',
    });
    log(
      'error toast:',
      (await notifications(page)).find((t) => t.includes('in use')),
    );
    await statusBarText(page, statusId, { match: /^Update Server$/ });
    await clickButton(page, '.notifications-toasts', 'Use Another Port', 'the error notification');
    const input = page.locator('.quick-input-widget .quick-input-box input');
    await input.waitFor({ state: 'visible', timeout: 10000 });
    assert.equal(await input.inputValue(), String(PORT + 1), 'the next port is proposed');
    await page.keyboard.press('Enter');
    const text = await statusBarText(page, statusId, { match: new RegExp(`:${PORT + 1}$`) });
    log('status bar after choosing another port:', text);
  } finally {
    await new Promise((resolve) => blocker.close(resolve));
  }
  const settings = JSON.parse(fs.readFileSync(path.join(workspace, '.vscode', 'settings.json'), 'utf8'));
  assert.equal(settings['autoconnect.server.port'], PORT, 'the port setting is not rewritten');
  assert.equal((await rawRequest(PORT + 1, esp8266CatalogRequest())).status, 200);

  // 2. Which address should the sketch use?
  await runCommand(page, 'AutoConnect: Select Network Address…');
  // The palette's own rows may still be on screen for a moment: wait for the command's quick pick.
  await waitFor(async () => (await quickPickRows(page)).some((r) => /Automatic/.test(r.label)), {
    timeout: 10000,
    what: 'the address quick pick',
  });
  const rows = await quickPickRows(page);
  log(
    'addresses offered:',
    rows.map((r) => `${r.label} ${r.description}`.trim()),
  );
  assert.match(rows[0].label, /Automatic/);
  const iface = rows.find((r) => /^\d+\.\d+\.\d+\.\d+ \(.+\)$/.test(r.label));
  assert.ok(iface, 'interfaces are listed as "address (name)"');
  await page
    .locator('.quick-input-widget .quick-input-list .monaco-list-row', { hasText: iface.label })
    .first()
    .click();
  const address = iface.label.split(' ')[0];
  await statusBarText(page, statusId, { match: `${address}:${PORT + 1}` });

  // 3. Remove an entry.
  const catalog = path.join(workspace, '.autoconnect', 'catalog');
  fs.writeFileSync(path.join(catalog, 'old-build.bin'), esp8266ArduinoApp({ payloadSize: 120_000, seed: 31 }));
  await openView(page, 'AutoConnect', { manifest });
  await openView(page, 'Firmware Catalog', { manifest });
  await waitFor(
    async () => (await treeRows(page, 'Firmware Catalog', { manifest })).some((r) => r.label === 'old-build.bin'),
    { timeout: 20000, what: 'old-build.bin in the Firmware Catalog view' },
  );
  // A row command: on the entry's context menu, not in the Command Palette.
  await helpers.rowContextMenu(page, 'Firmware Catalog', 'old-build.bin', { choose: 'Remove from Catalog', manifest });
  await clickButton(page, '.monaco-dialog-box', 'Remove', 'the confirmation dialog');
  await waitFor(
    async () => !(await treeRows(page, 'Firmware Catalog', { manifest })).some((r) => r.label === 'old-build.bin'),
    { timeout: 15000, what: 'old-build.bin to leave the view' },
  );
  assert.equal(fs.existsSync(path.join(catalog, 'old-build.bin')), false, 'the file is deleted');

  await runCommand(page, 'AutoConnect: Stop Update Server');
  await waitFor(() => portIsFree(PORT + 1), { timeout: 10000, what: `port ${PORT + 1} to be free` });
}
