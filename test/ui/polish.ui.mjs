// The editor front as a user first meets it, with the packaged .vsix: the status bar item's name and its chip icon
// (a real glyph of this VS Code's codicon font, not the forwarded-ports radio tower), the "published" notification of
// a build made while the server is stopped (Start Update Server, no Copy Address) and its button starting the server,
// the remote window's tooltip naming the address devices reach, the row-only commands missing from the Command
// Palette but on the row's context menu, the settings in the Settings editor under AutoConnect's sections, and the
// Firmware Catalog listing the folder while the server is stopped, with a roll back to a kept build and an entry
// removed from it then.
import { createRequire } from 'node:module';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const fixture = 'test/ui/fixtures/ota-workspace';
export const timeout = 150000;

const require = createRequire(import.meta.url);
const out = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..', 'out', 'test', 'support');
const { esp8266ArduinoApp } = require(path.join(out, 'images.js'));
const { portIsFree } = require(path.join(out, 'rawHttp.js'));

const PORT = 18266; // the fixture's setting
const ROW_COMMANDS = ['Copy Download URL', 'Reveal File', 'Remove from Catalog'];

/** The glyph a codicon class draws (its ::before content), '' when this VS Code's font has no such icon. */
async function glyph(page, className) {
  return page.evaluate((name) => {
    const probe = document.createElement('span');
    probe.className = `codicon codicon-${name}`;
    document.body.appendChild(probe);
    const content = window.getComputedStyle(probe, '::before').content;
    probe.remove();
    return content === 'none' || content === 'normal' ? '' : content;
  }, className);
}

async function clickButton(page, container, label, what) {
  const button = page.locator(`${container} .monaco-button`, { hasText: label }).first();
  await button.waitFor({ state: 'visible', timeout: 15000 }).catch(() => {
    throw new Error(`no "${label}" button in ${what}`);
  });
  await button.click();
}

export async function run({ page, workspace, artifacts, assert, log, helpers, manifest, extensionId }) {
  const {
    runCommand,
    statusBarText,
    openView,
    treeRows,
    screenshot,
    waitFor,
    quickPickRows,
    notifications,
    idSelector,
  } = helpers;
  const statusId = `${extensionId}.autoconnect.status`;
  const item = page.locator(idSelector(statusId));

  // 1. Stopped: the item says what a click does, in the commands' words, with the chip icon.
  await statusBarText(page, statusId, { match: /^Start Update Server$/, timeout: 60000 });
  const icons = await item.locator('.codicon').evaluateAll((els) => els.map((e) => e.className));
  log('status item icons:', icons);
  assert.ok(
    icons.some((c) => /\bcodicon-chip\b/.test(c)),
    `a chip icon: ${icons}`,
  );
  assert.ok(!icons.some((c) => /radio-tower/.test(c)), 'not the forwarded-ports icon');
  const chip = await glyph(page, 'chip');
  const tower = await glyph(page, 'radio-tower');
  const code = (g) => [...g].map((c) => c.codePointAt(0).toString(16)).join(' ');
  log('glyphs: chip', code(chip), 'radio-tower', code(tower));
  assert.ok(chip, 'this VS Code draws $(chip)');
  assert.notEqual(chip, tower);
  const others = await page
    .locator('#workbench\\.parts\\.statusbar .statusbar-item')
    .evaluateAll((els) =>
      els.filter((e) => e.querySelector('.codicon-radio-tower')).map((e) => `${e.id}: ${(e.textContent || '').trim()}`),
    );
  log('status bar items with the radio tower:', others.length ? others : '(none)');
  await screenshot(page, `${artifacts}/1-stopped-status-item.png`);

  // 2. A build while the server is stopped: its notification offers to start, not to copy an address.
  const settingsFile = path.join(workspace, '.vscode', 'settings.json');
  const settings = JSON.parse(fs.readFileSync(settingsFile, 'utf8'));
  fs.writeFileSync(settingsFile, JSON.stringify({ ...settings, 'autoconnect.publish.notify': true }, null, 2));
  await new Promise((r) => setTimeout(r, 1000)); // the settings change reaches the extension
  const build = path.join(workspace, 'ota-demo', '.pio', 'build', 'd1_mini');
  fs.mkdirSync(build, { recursive: true });
  fs.writeFileSync(path.join(build, 'firmware.bin'), esp8266ArduinoApp({ payloadSize: 300_000, seed: 77 }));
  await waitFor(async () => (await notifications(page)).some((t) => t.includes('published ota-demo-d1_mini.bin')), {
    timeout: 30000,
    what: 'the "published" notification',
  });
  const toast = page.locator('.notifications-toasts .notification-toast', {
    hasText: 'published ota-demo-d1_mini.bin',
  });
  const buttons = await toast.locator('.monaco-button').allInnerTexts();
  log(
    'published toast:',
    (await notifications(page)).find((t) => t.includes('published')),
    'buttons:',
    buttons,
  );
  assert.deepEqual(
    buttons.map((b) => b.trim()),
    ['Start Update Server', "Don't Notify"],
  );
  await new Promise((r) => setTimeout(r, 500)); // the toast's fade-in
  await screenshot(page, `${artifacts}/2-published-while-stopped.png`);
  await clickButton(page, '.notifications-toasts', 'Start Update Server', 'the published notification');
  const text = await statusBarText(page, statusId, { match: new RegExp(`\\d+\\.\\d+\\.\\d+\\.\\d+:${PORT}$`) });
  const devices = text.trim();
  const running = await helpers.statusBarItem(page, statusId);
  log('status bar running:', devices, '| screen readers hear:', running.ariaLabel);
  assert.ok(running.ariaLabel.startsWith('AutoConnect Update Server: devices use'), running.ariaLabel);

  // 3. The tooltip of this remote (browser) window: the address devices reach, on the machine the extension runs on,
  // never the address the browser uses to reach code-server.
  const editorConnection = new URL(page.url()).host;
  await item.hover();
  const hover = page
    .locator('.monaco-hover, .workbench-hover')
    .filter({ hasText: 'AutoConnect Update Server' })
    .first();
  await hover.waitFor({ state: 'visible', timeout: 10000 });
  const tip = (await hover.innerText()).replace(/\s+/g, ' ');
  log('tooltip:', tip);
  assert.ok(tip.includes(`Devices use ${devices}`), tip);
  assert.ok(tip.includes(`Devices connect to ${os.hostname()}, the machine the extension runs on, at ${devices}`), tip);
  assert.ok(!tip.includes(editorConnection), `the editor's connection ${editorConnection} is not named`);
  await screenshot(page, `${artifacts}/3-remote-tooltip.png`);
  await page.mouse.move(700, 400);

  // 4. The Command Palette: the server commands are there, the row-only ones are not (nor Start while running).
  await runCommand(page, 'AutoConnect: Copy Server Address');
  for (const title of [...ROW_COMMANDS, 'Roll Back to This Build', 'Start Update Server']) {
    await page.keyboard.press('F1');
    const input = page.locator('.quick-input-widget .quick-input-box input');
    await input.waitFor({ state: 'visible', timeout: 5000 });
    await input.fill(`>AutoConnect: ${title}`);
    await new Promise((r) => setTimeout(r, 600));
    const rows = await quickPickRows(page);
    log(
      `palette for "${title}":`,
      rows.map((r) => r.label),
    );
    assert.ok(!rows.some((r) => r.label === `AutoConnect: ${title}`), `${title} is not in the palette`);
    if (title === ROW_COMMANDS[0]) await screenshot(page, `${artifacts}/4-palette-without-row-commands.png`);
    await page.keyboard.press('Escape');
  }

  // 5. … but on the row's context menu, where they act on that entry.
  await openView(page, 'AutoConnect', { manifest });
  await openView(page, 'Firmware Catalog', { manifest });
  await waitFor(
    async () =>
      (await treeRows(page, 'Firmware Catalog', { manifest })).some((r) => r.label === 'ota-demo-d1_mini.bin'),
    { timeout: 20000, what: 'the build in the Firmware Catalog view' },
  );
  const entries = await helpers.rowContextMenu(page, 'Firmware Catalog', 'ota-demo-d1_mini.bin', { manifest });
  log('row context menu:', entries);
  for (const title of ROW_COMMANDS) assert.ok(entries.includes(title), `${title} on the row's menu`);
  await screenshot(page, `${artifacts}/5-row-context-menu.png`);
  await page.keyboard.press('Escape');
  await helpers.rowContextMenu(page, 'Firmware Catalog', 'ota-demo-d1_mini.bin', {
    choose: 'Copy Download URL',
    manifest,
  });
  await waitFor(
    async () =>
      (await page.locator('#workbench\\.parts\\.statusbar').innerText()).includes(
        `http://${devices}/ota-demo-d1_mini.bin`,
      ),
    { timeout: 10000, what: 'the copied download URL in the status bar message' },
  );

  // 6. The Settings editor: AutoConnect's settings in three sections, labelled without the key's "Autoconnect ›".
  await runCommand(page, 'Preferences: Open Settings (UI)');
  const search = page
    .locator('.settings-editor .suggest-input-container .monaco-editor textarea, .settings-editor textarea')
    .first();
  await search.waitFor({ state: 'visible', timeout: 15000 });
  await search.fill(`@ext:${extensionId}`);
  await page.waitForSelector('.settings-editor .setting-item-label', { timeout: 15000 });
  await new Promise((r) => setTimeout(r, 800));
  const titles = () =>
    page
      .locator('.settings-editor .settings-tree-container .setting-item-title')
      .evaluateAll((els) =>
        els.filter((e) => e.offsetHeight).map((e) => (e.textContent || '').replace(/\s+/g, ' ').trim()),
      );
  const labels = await page
    .locator('.settings-editor .settings-tree-container .setting-item-title')
    .evaluateAll((els) =>
      els.filter((e) => e.offsetHeight).map((e) => (e.textContent || '').replace(/\s+/g, ' ').trim()),
    );
  const toc = await page
    .locator('.settings-editor .settings-toc-container .monaco-list-row')
    .evaluateAll((els) =>
      els.filter((e) => e.offsetHeight).map((e) => (e.textContent || '').replace(/\s+/g, ' ').trim()),
    );
  log('settings toc (search):', toc);
  log('settings labels (search):', labels);
  await screenshot(page, `${artifacts}/6-settings-search.png`);
  for (const section of ['AutoConnect Update Server', 'Update Server', 'Firmware Catalog', 'Build Publishing'])
    assert.ok(
      toc.some((t) => t.startsWith(`${section} (`)),
      `"${section}" in the table of contents: ${toc}`,
    );
  // A search result keeps VS Code's category from the key ("Autoconnect › Server: Port"); browsing the sections, the
  // section id trims it.
  await search.fill('');
  await page.keyboard.press('Escape');
  // On a busy machine the Settings editor can miss the cleared query (it filters after a debounce): clear it again
  // while waiting, and give the unfiltered tree time to render.
  await waitFor(
    async () => {
      if ((await page.locator('.settings-editor .setting-item-title', { hasText: 'Auto Save' }).count()) > 0)
        return true;
      if ((await search.inputValue().catch(() => '')) !== '') await search.fill('');
      return false;
    },
    {
      timeout: 30000,
      what: 'the unfiltered settings',
    },
  );
  /** Clicks the table-of-contents row with this label (clicking a group shows it and expands it). */
  const clickToc = async (label) => {
    const rows = page.locator('.settings-editor .settings-toc-container .monaco-list-row');
    let index = -1;
    await waitFor(
      async () => {
        const texts = await rows.evaluateAll((els) =>
          els.map((e) => (e.offsetHeight ? (e.textContent || '').replace(/\s+/g, ' ').trim() : '')),
        );
        // The last match: the top-level "Extensions", not Features › Extensions.
        index = texts.findLastIndex((t) => t === label || t.startsWith(`${label} (`));
        return index >= 0;
      },
      { timeout: 10000, what: `"${label}" in the settings' table of contents` },
    );
    await rows.nth(index).click();
    await new Promise((r) => setTimeout(r, 400)); // the tree re-renders with the group expanded
  };
  await clickToc('Extensions');
  await clickToc('AutoConnect Update Server');
  await clickToc('Update Server');
  let browsed = [];
  await waitFor(async () => (browsed = await titles()).some((l) => /^Port\b/.test(l)), {
    timeout: 10000,
    what: 'the Port setting under its section',
  });
  log('settings labels (section):', browsed);
  await screenshot(page, `${artifacts}/7-settings-section.png`);
  assert.ok(!browsed.some((l) => /Autoconnect/.test(l)), `no "Autoconnect" (the key's spelling) in: ${browsed}`);

  // 7. Stopped, the Firmware Catalog still lists the folder and says nothing is served; an entry is removed from it.
  await runCommand(page, 'AutoConnect: Stop Update Server');
  await waitFor(() => portIsFree(PORT), { timeout: 10000, what: `port ${PORT} to be free` });
  await statusBarText(page, statusId, { match: /^Start Update Server$/ });
  await runCommand(page, 'View: Close All Editors');
  await openView(page, 'Firmware Catalog', { manifest });
  const pane = await helpers.findViewPane(page, 'Firmware Catalog', { manifest });
  const description = () => pane.locator('.pane-header .description').first().innerText();
  await waitFor(async () => /server stopped/.test(await description()), {
    timeout: 10000,
    what: 'the view saying the server is stopped',
  });
  const stoppedRows = await treeRows(page, 'Firmware Catalog', { manifest });
  log(
    'catalog while stopped:',
    await description(),
    stoppedRows.map((r) => `${r.label} | ${r.description}`),
  );
  const entry = stoppedRows.find((r) => r.label === 'ota-demo-d1_mini.bin');
  assert.ok(entry, 'the entry is listed while stopped');
  assert.match(entry.description, /ESP8266/);
  await screenshot(page, `${artifacts}/8-catalog-while-stopped.png`);

  // 8. A new build that misbehaves, then Roll Back to This Build on the kept row: still stopped, nothing asked.
  const catalogDir = path.join(workspace, '.autoconnect', 'catalog');
  const firstBuild = fs.readFileSync(path.join(catalogDir, 'ota-demo-d1_mini.bin'));
  const later = new Date(Date.now() + 60_000); // a dated name of its own (they have a resolution of one second)
  fs.writeFileSync(path.join(build, '.firmware.tmp'), esp8266ArduinoApp({ payloadSize: 300_000, seed: 78 }));
  fs.utimesSync(path.join(build, '.firmware.tmp'), later, later);
  fs.renameSync(path.join(build, '.firmware.tmp'), path.join(build, 'firmware.bin'));
  const dated = /^ota-demo-d1_mini-\d{8}-\d{6}\.bin$/;
  const keptRow = async () => (await treeRows(page, 'Firmware Catalog', { manifest })).find((r) => dated.test(r.label));
  await waitFor(async () => !!(await keptRow()), { timeout: 30000, what: 'the first build kept as a dated row' });
  const keptName = (await keptRow()).label;
  const keptMenu = await helpers.rowContextMenu(page, 'Firmware Catalog', keptName, { manifest });
  log(`menu of the kept row ${keptName}:`, keptMenu);
  assert.ok(keptMenu.includes('Roll Back to This Build'), 'Roll Back to This Build on the kept row');
  await screenshot(page, `${artifacts}/8a-kept-row-menu.png`);
  await page.keyboard.press('Escape');
  const currentMenu = await helpers.rowContextMenu(page, 'Firmware Catalog', 'ota-demo-d1_mini.bin', { manifest });
  assert.ok(!currentMenu.includes('Roll Back to This Build'), 'not on the current row');
  await page.keyboard.press('Escape');
  await helpers.rowContextMenu(page, 'Firmware Catalog', keptName, { choose: 'Roll Back to This Build', manifest });
  await waitFor(async () => (await notifications(page)).some((t) => t.includes('is the build of')), {
    timeout: 15000,
    what: 'the roll back message',
  });
  log(
    'roll back message:',
    (await notifications(page)).find((t) => t.includes('is the build of')),
  );
  assert.ok(fs.readFileSync(path.join(catalogDir, 'ota-demo-d1_mini.bin')).equals(firstBuild), 'build 1 is current');
  await waitFor(async () => (await keptRow())?.label !== keptName, {
    timeout: 15000,
    what: 'the replaced build as the kept row',
  });
  log(
    'catalog after the roll back:',
    (await treeRows(page, 'Firmware Catalog', { manifest })).map((r) => `${r.label} | ${r.description}`),
  );
  await new Promise((r) => setTimeout(r, 500)); // the toast's fade-in
  await screenshot(page, `${artifacts}/8b-rolled-back-while-stopped.png`);
  await helpers.rowContextMenu(page, 'Firmware Catalog', 'ota-demo-d1_mini.bin', {
    choose: 'Remove from Catalog',
    manifest,
  });
  await clickButton(page, '.monaco-dialog-box', 'Remove', 'the confirmation dialog');
  await waitFor(
    async () =>
      !(await treeRows(page, 'Firmware Catalog', { manifest })).some((r) => r.label === 'ota-demo-d1_mini.bin'),
    { timeout: 15000, what: 'the removed entry to leave the view while stopped' },
  );
  assert.equal(
    fs.existsSync(path.join(workspace, '.autoconnect', 'catalog', 'ota-demo-d1_mini.bin')),
    false,
    'the file is deleted',
  );
  await screenshot(page, `${artifacts}/9-removed-while-stopped.png`);
}
