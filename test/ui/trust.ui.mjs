// A café Wi-Fi as a user meets it, with the packaged .vsix: the machine is put on `Wi-Fi "CafeGuest"` through the
// networks file the harness points AUTOCONNECT_NETWORKS_FILE at (the core's network seam); a build in afterBuild mode
// does not start the server but asks, naming the network, with the status bar held back. Only This Time serves; a
// real window reload asks again; Not Here holds it back with the reason in the tooltip; Serve on This Network is
// remembered across a reload; Forget Trusted Networks resets it. Screenshots of the question and the status bar.
import { createRequire } from 'node:module';
import * as fs from 'node:fs';
import * as path from 'node:path';

export const fixture = 'test/ui/fixtures/cafe-workspace';
export const timeout = 180000;

const require = createRequire(import.meta.url);
const out = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..', 'out', 'test', 'support');
const { esp8266ArduinoApp } = require(path.join(out, 'images.js'));
const { rawRequest, portIsFree } = require(path.join(out, 'rawHttp.js'));
const { esp8266CatalogRequest } = require(path.join(out, 'deviceRequests.js'));

const PORT = 18272; // the fixture's setting
const CAFE = {
  interfaceName: 'wlan0',
  kind: 'wifi',
  address: '10.20.3.4',
  range: '10.20.0.0/16',
  gatewayMac: '3c:22:fb:00:00:01',
  ssid: 'CafeGuest',
  defaultRoute: true,
};
const LABEL = 'Wi-Fi "CafeGuest" · 10.20.0.0/16';

export async function run({ page, harness, workspace, artifacts, assert, log, helpers, extensionId }) {
  const { runCommand, statusBarText, waitFor, notifications, screenshot, waitForWorkbench } = helpers;
  const statusId = `${extensionId}.autoconnect.status`;
  const networksFile = harness.env.AUTOCONNECT_NETWORKS_FILE;
  assert.ok(networksFile, 'ui-test.mjs points AUTOCONNECT_NETWORKS_FILE at a file');
  fs.writeFileSync(networksFile, JSON.stringify([CAFE]));
  let seed = 700;
  const build = () => {
    const dir = path.join(workspace, 'blinky', '.pio', 'build', 'd1_mini');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'firmware.bin'), esp8266ArduinoApp({ payloadSize: 90_000, seed: seed++ }));
  };
  const question = () =>
    waitFor(async () => (await notifications(page)).find((t) => t.includes(LABEL)), {
      timeout: 30000,
      what: `the question naming ${LABEL}`,
    });
  const answer = async (label) => {
    const toast = page.locator('.notifications-toasts .notification-toast', { hasText: 'CafeGuest' }).first();
    await toast.locator('.monaco-button', { hasText: label }).first().click();
  };
  const tooltip = async () => {
    await page.locator(helpers.idSelector(statusId)).first().hover();
    const hover = page.locator('.monaco-hover, .workbench-hover').filter({ hasText: 'held back' }).first();
    await hover.waitFor({ state: 'visible', timeout: 10000 });
    return (await hover.innerText()).replace(/\s+/g, ' ');
  };
  const reload = async () => {
    await page.reload({ waitUntil: 'domcontentloaded' });
    await waitForWorkbench(page);
    await statusBarText(page, statusId, { match: /Start Update Server/, timeout: 60000 });
  };

  try {
    await statusBarText(page, statusId, { match: /Start Update Server/, timeout: 60000 });

    // 1. A build on an untrusted network: held back, and a question naming the network.
    build();
    const asked = await question();
    log('question:', asked);
    await statusBarText(page, statusId, { match: /held back/ });
    assert.ok(await portIsFree(PORT), 'nothing listens while held back');
    for (const label of ['Serve on This Network', 'Only This Time', 'Not Here']) {
      assert.equal(
        await page.locator('.notifications-toasts .notification-toast .monaco-button', { hasText: label }).count(),
        1,
        label,
      );
    }
    // The toast slides in from below: wait until its buttons are on screen for the picture.
    const viewport = page.viewportSize();
    await waitFor(
      async () => {
        const box = await page
          .locator('.notifications-toasts .notification-toast .monaco-button', { hasText: 'Not Here' })
          .first()
          .boundingBox();
        return box && box.y + box.height < viewport.height - 24;
      },
      { timeout: 10000, what: 'the question with its buttons on screen' },
    );
    await screenshot(page, path.join(artifacts, 'held-question.png'));

    // 2. Only This Time serves, for this window only.
    await answer('Only This Time');
    const running = await statusBarText(page, statusId, { match: `10.20.3.4:${PORT}` });
    log('status bar after Only This Time:', running);
    assert.equal((await rawRequest(PORT, esp8266CatalogRequest())).status, 200);

    // 3. A reload asks again; Not Here holds it back with the reason in the tooltip.
    await reload();
    build();
    await question();
    await answer('Not Here');
    await waitFor(async () => !(await notifications(page)).some((t) => t.includes(LABEL)), {
      timeout: 10000,
      what: 'the question to close',
    });
    await statusBarText(page, statusId, { match: /held back/ });
    const reason = await tooltip();
    log('tooltip after Not Here:', reason);
    assert.match(reason, /Not Here/);
    assert.ok(reason.includes('CafeGuest'), reason);
    await screenshot(page, path.join(artifacts, 'held-not-here-tooltip.png'));
    assert.ok(await portIsFree(PORT));

    // 4. Forget, then Serve on This Network: remembered across a reload.
    await runCommand(page, 'AutoConnect: Forget Trusted Networks');
    await waitFor(async () => (await notifications(page)).some((t) => /forgot 1 network choice/.test(t)), {
      timeout: 10000,
      what: 'the Forget confirmation',
    });
    await runCommand(page, 'AutoConnect: Start Update Server');
    await question();
    await answer('Serve on This Network');
    await statusBarText(page, statusId, { match: `10.20.3.4:${PORT}` });
    await reload();
    build();
    await statusBarText(page, statusId, { match: `10.20.3.4:${PORT}`, timeout: 30000 });
    assert.ok(!(await notifications(page)).some((t) => t.includes(LABEL)), 'a trusted network is not asked about');
    await runCommand(page, 'AutoConnect: Stop Update Server');
    await waitFor(() => portIsFree(PORT), { timeout: 10000, what: `port ${PORT} to be free` });
  } finally {
    fs.rmSync(networksFile, { force: true });
  }
}
