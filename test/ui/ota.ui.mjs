// The whole loop as a user sees it, with the packaged .vsix: "AutoConnect: Start Update Server" from the palette,
// the address read from the status bar, a PlatformIO build written into the workspace appearing in the Firmware
// Catalog, a device's catalog request and download (raw sockets, byte-exact device headers) appearing in Devices
// with its outcome, a refusal with its reason, a screenshot of both views, then a stop that frees the port.
import { createRequire } from 'node:module';
import * as fs from 'node:fs';
import * as path from 'node:path';

export const fixture = 'test/ui/fixtures/ota-workspace';
export const timeout = 150000;

const require = createRequire(import.meta.url);
const out = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..', 'out', 'test', 'support');
const { esp8266ArduinoApp, esp32App, littlefsImage, signedOf } = require(path.join(out, 'images.js'));
const { rawRequest, slowReader, portIsFree } = require(path.join(out, 'rawHttp.js'));
const { esp8266CatalogRequest, esp8266DownloadRequest, esp32DownloadRequest } = require(
  path.join(out, 'deviceRequests.js'),
);

const PORT = 18266; // from the fixture's .vscode/settings.json

/** Drags the side bar's edge so the views' descriptions are readable in the screenshot. */
async function widenSideBar(page, width) {
  const box = await page.locator('#workbench\\.parts\\.sidebar').boundingBox();
  if (!box) return;
  const x = box.x + box.width;
  const y = box.y + box.height / 2;
  await page.mouse.move(x - 1, y);
  await page.mouse.down();
  await page.mouse.move(x + 200, y, { steps: 5 });
  await page.mouse.move(box.x + width, y, { steps: 5 });
  await page.mouse.up();
}

export async function run({ page, workspace, artifacts, assert, log, helpers, manifest, extensionId }) {
  const { runCommand, statusBarText, openView, treeRows, screenshot, waitFor } = helpers;
  const statusId = `${extensionId}.autoconnect.status`;

  // Stopped: the item offers to start.
  await statusBarText(page, statusId, { match: /Start Update Server/, timeout: 60000 });

  await runCommand(page, 'AutoConnect: Start Update Server');
  const text = await statusBarText(page, statusId, { match: new RegExp(`\\d+\\.\\d+\\.\\d+\\.\\d+:${PORT}`) });
  log('status bar:', text);
  const [host, port] = text.match(/(\d+\.\d+\.\d+\.\d+):(\d+)/).slice(1);
  assert.equal(Number(port), PORT);
  assert.notEqual(host, '0.0.0.0');

  // A build lands where PlatformIO puts it; the catalog gets it.
  const build = path.join(workspace, 'ota-demo', '.pio', 'build', 'd1_mini');
  fs.mkdirSync(build, { recursive: true });
  fs.writeFileSync(path.join(build, 'bootloader.bin'), Buffer.alloc(4096, 0xff));
  const image = esp8266ArduinoApp({ payloadSize: 380_000, seed: 7 });
  fs.writeFileSync(path.join(build, 'firmware.bin'), image);
  await openView(page, 'AutoConnect', { manifest });
  await openView(page, 'Firmware Catalog', { manifest });
  await waitFor(
    async () =>
      (await treeRows(page, 'Firmware Catalog', { manifest })).some((r) => r.label === 'ota-demo-d1_mini.bin'),
    { timeout: 30000, what: 'the published build in the Firmware Catalog view' },
  );
  const catalogRows = await treeRows(page, 'Firmware Catalog', { manifest });
  log(
    'catalog rows:',
    catalogRows.map((r) => `${r.label} | ${r.description}`),
  );
  const row = catalogRows.find((r) => r.label === 'ota-demo-d1_mini.bin');
  assert.match(row.description, /ESP8266/);
  assert.ok(!catalogRows.some((r) => /bootloader/.test(r.label)), 'the bootloader is never published');

  // A buildfs image of the same env is published for filesystem updates, and a signed build is marked signed.
  fs.writeFileSync(path.join(build, 'littlefs.bin'), littlefsImage({ blockCount: 32 }));
  fs.writeFileSync(
    path.join(workspace, '.autoconnect', 'catalog', 'signed-node.bin'),
    signedOf(esp8266ArduinoApp({ payloadSize: 200_000, seed: 9 })),
  );
  await waitFor(
    async () => {
      const rows = await treeRows(page, 'Firmware Catalog', { manifest });
      return (
        rows.some((r) => r.label === 'ota-demo-d1_mini.littlefs.bin' && /littlefs filesystem/.test(r.description)) &&
        rows.some((r) => r.label === 'signed-node.bin' && /signed/.test(r.description))
      );
    },
    { timeout: 30000, what: 'the littlefs image and the signed build in the Firmware Catalog view' },
  );

  // A device talks to the address from the status bar (on loopback here).
  const list = await rawRequest(PORT, esp8266CatalogRequest('.', `${host}:${PORT}`));
  assert.equal(list.status, 200);
  assert.ok(JSON.parse(list.body.toString()).some((e) => e.name === 'ota-demo-d1_mini.bin' && e.type === 'bin'));
  const download = await rawRequest(
    PORT,
    esp8266DownloadRequest('/ota-demo-d1_mini.bin', { host: `${host}:${PORT}`, staMac: '5C:CF:7F:12:34:56' }),
  );
  assert.equal(download.status, 200);
  assert.ok(download.body.equals(image));
  const refused = await rawRequest(
    PORT,
    esp32DownloadRequest('/ota-demo-d1_mini.bin', { host: `${host}:${PORT}`, staMac: '24:6F:28:AB:CD:EF' }),
  );
  assert.equal(refused.status, 403);

  await openView(page, 'Devices', { manifest });
  await waitFor(
    async () => {
      const rows = await treeRows(page, 'Devices', { manifest });
      return (
        rows.some((r) => r.label === '5C:CF:7F:12:34:56') &&
        rows.some((r) => /^downloaded/.test(r.description)) &&
        rows.some((r) => /refused 403/.test(r.description))
      );
    },
    { timeout: 20000, what: 'the device, its finished download and the refusal in the Devices view' },
  );
  const deviceRows = await treeRows(page, 'Devices', { manifest });
  log(
    'device rows:',
    deviceRows.map((r) => `${r.label} | ${r.description}`),
  );
  assert.ok(deviceRows.some((r) => /ESP8266 · 127\.0\.0\.1/.test(r.description)));
  assert.ok(deviceRows.some((r) => /ESP8266 image, but the device is an ESP32/.test(r.description)));

  // A download in flight shows its progress live. The image is larger than what loopback buffers absorb, so the
  // server really waits on this device (it reads nothing until released).
  const big = esp32App({
    chip: 'esp32s3',
    version: '2.1.0',
    projectName: 'camera-node',
    payloadSize: 12 << 20,
    seed: 8,
  });
  fs.writeFileSync(path.join(workspace, '.autoconnect', 'catalog', 'camera-node-s3.bin'), big);
  const slow = slowReader(
    PORT,
    esp32DownloadRequest('/camera-node-s3.bin', {
      host: `${host}:${PORT}`,
      staMac: '34:85:18:00:AB:01',
      freeSpace: 16 << 20,
      chipSize: 16 << 20,
    }),
    0,
  );
  await waitFor(
    async () => (await treeRows(page, 'Devices', { manifest })).some((r) => /^\d+% · /.test(r.description)),
    { timeout: 20000, what: 'a download in progress in the Devices view' },
  );
  await statusBarText(page, statusId, { match: new RegExp(`${PORT}\\s+1$`) });

  await page.keyboard.press('Escape');
  await widenSideBar(page, 760);
  await page.mouse.move(1100, 700); // off the sash, so it is not highlighted
  await screenshot(page, path.join(artifacts, 'workbench-views.png'));
  slow.release();
  const slowResponse = await slow.done;
  assert.equal(slowResponse.headers.get('x-md5').length, 32);
  assert.ok(slowResponse.body.equals(big));
  await waitFor(
    async () =>
      (await treeRows(page, 'Devices', { manifest })).filter((r) => /^downloaded/.test(r.description)).length >= 2,
    { timeout: 20000, what: 'the second download to show as downloaded' },
  );

  await runCommand(page, 'AutoConnect: Stop Update Server');
  await statusBarText(page, statusId, { match: /Start Update Server/ });
  await waitFor(() => portIsFree(PORT), { timeout: 10000, what: `port ${PORT} to be free` });
}
