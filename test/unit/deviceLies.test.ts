// A board that lies (another board's MAC with another hardware identity, a made-up MD5, headers that change from one
// request to the next) gets its normal HTTP answer and changes only its own record. Real server on a real socket,
// raw-socket requests with the exact ESP8266 and ESP32 headers of protocol.md §2, a real state file.

import { strict as assert } from 'node:assert';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DeviceInventory, defaultStateFile } from '../../src/core/devices/deviceInventory';
import { MAX_TWINS } from '../../src/core/devices/deviceState';
import { KnownImages } from '../../src/core/devices/knownImages';
import { levelLogger } from '../../src/core/log';
import { UpdateServer } from '../../src/core/updateServer';
import { esp32DownloadRequest, esp8266DownloadRequest } from '../support/deviceRequests';
import { esp8266ArduinoApp } from '../support/images';
import { rawRequest } from '../support/rawHttp';
import { md5 } from '../support/serverFixture';
import { until } from '../support/waits';

const MAC = '18:FE:34:00:00:0A';
const honest = { staMac: MAC, apMac: '1A:FE:34:00:00:0A', chipId: '10066124', chipSize: 4194304, freeSpace: 1 << 20 };

describe('device inventory: a board that lies changes only its own record', () => {
  const build1 = esp8266ArduinoApp({ payloadSize: 60_000, seed: 201 });
  const build2 = esp8266ArduinoApp({ payloadSize: 61_000, seed: 202 });
  let dir: string;
  let logs: string[];
  let inventory: DeviceInventory;
  let server: UpdateServer;

  async function start(): Promise<void> {
    const logger = levelLogger('debug', (level, message) => logs.push(`${level} ${message}`));
    const knownImages = new KnownImages();
    inventory = new DeviceInventory({ logger, knownImages });
    await inventory.open(defaultStateFile(dir));
    server = await UpdateServer.start({
      catalogDir: dir,
      port: 0,
      host: '127.0.0.1',
      logger,
      knownImages,
      isHeld: inventory.isHeld,
    });
    inventory.follow(server);
    await inventory.whenCatalogLearnt();
  }

  async function stop(): Promise<void> {
    await server.stop();
    await inventory.close();
  }

  before(async () => {
    dir = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'lies-')));
    await fs.writeFile(path.join(dir, 'blinky.bin'), build2);
    logs = [];
    await start();
  });
  after(async () => {
    await stop();
    await fs.rm(dir, { recursive: true, force: true });
  });

  const download = (values: Parameters<typeof esp8266DownloadRequest>[1]) =>
    rawRequest(server.port, esp8266DownloadRequest('/blinky.bin', values));

  it('keeps the board with the MAC as it was when another identity sends that MAC', async () => {
    const first = await download({ ...honest, sketchMd5: md5(build1) });
    assert.equal(first.status, 200);
    await until(() => inventory.registry.get(MAC)?.updates[0]?.outcome === 'downloaded', 'downloaded');
    const before = JSON.stringify(inventory.registry.get(MAC));

    // The ESP32 headers of protocol.md §2.2 with the board's MAC and a made-up MD5: an ESP8266 image is refused to
    // an ESP32, as to any ESP32.
    const esp32 = await rawRequest(
      server.port,
      esp32DownloadRequest('/blinky.bin', { staMac: MAC, sketchMd5: 'f'.repeat(32), sketchSha256: 'A'.repeat(64) }),
    );
    assert.equal(esp32.status, 403);
    // The same family, another AP MAC and chip id, a made-up MD5: served like any board that runs another build.
    const other = await download({ ...honest, apMac: '1A:FE:34:00:00:66', chipId: '999', sketchMd5: 'e'.repeat(32) });
    assert.equal(other.status, 200);
    assert.equal(other.headers.get('x-md5'), md5(build2));
    await until(() => inventory.registry.get(`${MAC}#3`)?.updates[0]?.outcome === 'downloaded', 'its own record');

    assert.equal(JSON.stringify(inventory.registry.get(MAC)), before, 'not a field of the board moved');
    assert.equal(inventory.registry.get(MAC)!.updates[0]!.outcome, 'downloaded', 'not rolled back by the liars');
    const twin = inventory.registry.get(`${MAC}#2`)!;
    assert.equal(twin.family, 'esp32');
    assert.equal(twin.mac, MAC);
    assert.equal(twin.running?.md5, 'f'.repeat(32));
    assert.equal(twin.running?.project, undefined, 'a made-up MD5 names no build');
    assert.equal(twin.updates[0]!.outcome, 'refused');
    const lines = logs.filter((l) => l.includes('recorded apart'));
    assert.equal(lines.length, 2, 'one line per identity');
    assert.match(lines[0]!, /^warn 18:FE:34:00:00:0A \(127\.0\.0\.1\) sent the MAC of 18:FE:34:00:00:0A with another/);

    // The board itself then reports the build it downloaded: confirmed on its own record.
    assert.equal((await download({ ...honest, sketchMd5: md5(build2) })).status, 304);
    assert.ok(inventory.registry.get(MAC)!.updates.some((u) => u.outcome === 'confirmed' && u.md5 === md5(build2)));
    assert.equal(inventory.registry.get(`${MAC}#3`)!.updates[0]!.outcome, 'downloaded', 'the other one is not');
  });

  it('holds the updates of a twin record and of the board apart', async () => {
    // The `#3` twin from the first test runs a made-up build: it is served build 2 unless its own record is held.
    const twin = { ...honest, apMac: '1A:FE:34:00:00:66', chipId: '999', sketchMd5: 'e'.repeat(32) };
    assert.ok(inventory.registry.get(`${MAC}#3`), 'the twin is known');
    assert.ok(inventory.registry.setHeld(`${MAC}#3`, true));
    const held = await download(twin);
    assert.equal(held.status, 304, 'the hold on the twin holds the twin');
    assert.match(inventory.registry.get(`${MAC}#3`)!.updates[0]!.reason ?? '', /held/);
    // The board with the MAC is not held by its twin's hold: asked with an older build, it gets build 2.
    const board = await download({ ...honest, sketchMd5: md5(build1) });
    assert.equal(board.status, 200);
    assert.equal(board.headers.get('x-md5'), md5(build2));

    // And the other way round: the board held, the twin released.
    assert.ok(inventory.registry.setHeld(`${MAC}#3`, false));
    assert.ok(inventory.registry.setHeld(MAC, true));
    assert.equal((await download({ ...honest, sketchMd5: md5(build1) })).status, 304, 'the board is held');
    const released = await download(twin);
    assert.equal(released.status, 200, 'its twin is not');
    assert.equal(released.headers.get('x-md5'), md5(build2));
    assert.ok(inventory.registry.setHeld(MAC, false));
  });

  it('bounds a MAC whose identity changes with every request, and logs each record once', async () => {
    const before = JSON.stringify(inventory.registry.get(MAC));
    const logged = logs.length;
    for (let i = 0; i < 10; i++) {
      const reply = await download({ ...honest, chipId: String(5000 + i), sketchMd5: md5(build2) });
      assert.equal(reply.status, 304, 'each gets its answer');
    }
    for (let i = 0; i < 3; i++) await download({ ...honest, chipId: '5009', sketchMd5: md5(build2) });
    const records = inventory.registry.list().filter((d) => d.mac === MAC);
    assert.equal(records.length, MAX_TWINS);
    assert.equal(JSON.stringify(inventory.registry.get(MAC)), before, 'the board is untouched');
    assert.equal(logs.slice(logged).filter((l) => l.includes('recorded apart')).length, 10, 'not per request');
  });

  it('keeps the records apart across a restart', async () => {
    const keys = inventory.registry
      .list()
      .filter((d) => d.mac === MAC)
      .map((d) => [d.key, d.family, d.chipId])
      .sort();
    await stop();
    await start();
    assert.deepEqual(
      inventory.registry
        .list()
        .filter((d) => d.mac === MAC)
        .map((d) => [d.key, d.family, d.chipId])
        .sort(),
      keys,
    );
    const logged = logs.length;
    assert.equal((await download({ ...honest, sketchMd5: md5(build2) })).status, 304);
    assert.equal(logs.slice(logged).filter((l) => l.includes('recorded apart')).length, 0, 'the board is itself');
  });
});
