// A multi-root workspace with a PlatformIO project in each folder and the `afterBuild` start mode: builds of both
// folders land in one catalog (the first folder's), the server starts by itself after the first build, and an
// ESP8266 and an ESP32 each see only their own image.
import { createRequire } from 'node:module';
import * as fs from 'node:fs';
import * as path from 'node:path';

export const fixture = 'test/ui/fixtures/multi-root';
export const workspaceFile = 'lab.code-workspace';
export const timeout = 150000;

const require = createRequire(import.meta.url);
const out = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..', 'out', 'test', 'support');
const { esp8266ArduinoApp, esp32App } = require(path.join(out, 'images.js'));
const { rawRequest, portIsFree } = require(path.join(out, 'rawHttp.js'));
const { esp8266CatalogRequest, esp32CatalogRequest } = require(path.join(out, 'deviceRequests.js'));

const PORT = 18270; // the workspace file's setting

export async function run({ page, workspace, assert, log, helpers, manifest, extensionId }) {
  const { runCommand, statusBarText, openView, treeRows, waitFor } = helpers;
  const statusId = `${extensionId}.autoconnect.status`;
  await statusBarText(page, statusId, { match: /Start Update Server/, timeout: 60000 });
  assert.equal(await portIsFree(PORT), true, 'nothing listens before a build');

  const sensorBuild = path.join(workspace, 'sensor', '.pio', 'build', 'nodemcuv2');
  fs.mkdirSync(sensorBuild, { recursive: true });
  fs.writeFileSync(path.join(sensorBuild, 'firmware.bin'), esp8266ArduinoApp({ payloadSize: 200_000, seed: 51 }));
  const text = await statusBarText(page, statusId, { match: new RegExp(`:${PORT}$`), timeout: 30000 });
  log('started after the first build:', text);

  const displayBuild = path.join(workspace, 'display', '.pio', 'build', 'esp32-s3-devkitc-1');
  fs.mkdirSync(displayBuild, { recursive: true });
  fs.writeFileSync(
    path.join(displayBuild, 'firmware.bin'),
    esp32App({ chip: 'esp32s3', version: '0.9.0', projectName: 'display', payloadSize: 200_000, seed: 52 }),
  );

  await openView(page, 'AutoConnect', { manifest });
  await openView(page, 'Firmware Catalog', { manifest });
  await waitFor(
    async () => {
      const labels = (await treeRows(page, 'Firmware Catalog', { manifest })).map((r) => r.label);
      return labels.includes('sensor-nodemcuv2.bin') && labels.includes('display-esp32-s3-devkitc-1.bin');
    },
    { timeout: 30000, what: "both folders' builds in the Firmware Catalog view" },
  );
  log(
    'catalog rows:',
    (await treeRows(page, 'Firmware Catalog', { manifest })).map((r) => `${r.label} | ${r.description}`),
  );
  assert.ok(
    fs.existsSync(path.join(workspace, 'sensor', '.autoconnect', 'catalog', 'display-esp32-s3-devkitc-1.bin')),
    'one catalog, in the first folder',
  );

  const bins = async (request) =>
    JSON.parse((await rawRequest(PORT, request)).body.toString())
      .filter((e) => e.type === 'bin')
      .map((e) => e.name);
  assert.deepEqual(await bins(esp8266CatalogRequest()), ['sensor-nodemcuv2.bin']);
  assert.deepEqual(await bins(esp32CatalogRequest()), ['display-esp32-s3-devkitc-1.bin']);

  await runCommand(page, 'AutoConnect: Stop Update Server');
  await waitFor(() => portIsFree(PORT), { timeout: 10000, what: `port ${PORT} to be free` });
}
