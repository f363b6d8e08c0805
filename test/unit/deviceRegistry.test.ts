// The registry's bookkeeping, fed by a real server's events.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DeviceRegistry } from '../../src/core/devices/deviceRegistry';
import { rawRequest, slowReader } from '../support/rawHttp';
import { esp32DownloadRequest, esp8266CatalogRequest, esp8266DownloadRequest } from '../support/deviceRequests';
import { md5, standardFixture, type ServerFixture } from '../support/serverFixture';
import { esp8266ArduinoApp, littlefsImage } from '../support/images';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

describe('device registry', () => {
  let f: ServerFixture;
  let registry: DeviceRegistry;
  before(async () => {
    f = await standardFixture();
    registry = new DeviceRegistry((hash) => {
      const known = f.server.knownImages.identify(hash);
      return known && { md5: known.md5, image: known.name, chip: known.chip };
    });
    registry.follow(f.server);
  });
  after(async () => {
    registry.dispose();
    await f.stop();
  });

  it('keeps a visitor seen only by catalog requests apart, and merges it into the board its download names', async () => {
    await rawRequest(f.port, esp8266CatalogRequest());
    assert.deepEqual(
      registry.listVisitors().map((d) => d.key),
      ['ip:127.0.0.1'],
    );
    assert.equal(registry.list().length, 0);
    assert.equal(registry.listVisitors()[0]!.family, 'esp8266');
    await rawRequest(f.port, esp8266DownloadRequest('/a.bin', { staMac: '18:fe:34:aa:00:01' }));
    const devices = registry.list();
    assert.deepEqual(
      devices.map((d) => d.key),
      ['18:FE:34:AA:00:01'],
    );
    assert.equal(registry.listVisitors().length, 0);
    assert.equal(devices[0]!.catalogRequests, 1);
    // the board's next catalog request is its own
    await rawRequest(f.port, esp8266CatalogRequest());
    assert.equal(registry.get('18:FE:34:AA:00:01')!.catalogRequests, 2);
  });

  it('never reads the request after a filesystem update as a rollback: the board does not report its filesystem', async () => {
    const image = littlefsImage({ blockCount: 8 });
    writeFileSync(join(f.catalog, 'site.littlefs.bin'), image);
    const mac = '18:FE:34:AA:00:77';
    let status = 0;
    for (let i = 0; i < 100 && status !== 200; i++) {
      status = (await rawRequest(f.port, esp8266DownloadRequest('/site.littlefs.bin', { staMac: mac, mode: 'spiffs' })))
        .status;
      if (status !== 200) await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(status, 200);
    // Its next request reports the same sketch as before: a rollback for an app, nothing for a filesystem.
    await rawRequest(f.port, esp8266DownloadRequest('/a.bin', { staMac: mac }));
    const update = registry.get(mac)!.updates.find((u) => u.image === 'site.littlefs.bin')!;
    assert.equal(update.outcome, 'downloaded');
    assert.equal(update.filesystem, true);
    assert.equal(
      registry
        .toState()
        .find((d) => d.mac === mac)!
        .updates.find((u) => u.image === 'site.littlefs.bin')!.filesystem,
      true,
    );
  });

  it('records a download as downloaded once the device closed after the last byte', async () => {
    const device = registry.get('18:FE:34:AA:00:01')!;
    const update = device.updates.find((u) => u.image === 'a.bin')!;
    assert.equal(update.outcome, 'downloaded');
    assert.equal(update.sent, f.files['a.bin']!.length);
    assert.equal(update.md5, md5(f.files['a.bin']!));
  });

  it('names the image a device runs and records 304 and refusals with their reasons', async () => {
    await rawRequest(
      f.port,
      esp8266DownloadRequest('/a.bin', { staMac: '18:FE:34:AA:00:01', sketchMd5: md5(f.files['a.bin']!) }),
    );
    const device = registry.get('18:FE:34:AA:00:01')!;
    assert.equal(device.running?.image, 'a.bin');
    assert.equal(device.updates[0]!.outcome, 'not-modified');
    assert.equal(device.updates[1]!.outcome, 'confirmed');
    await rawRequest(f.port, esp32DownloadRequest('/a.bin', { staMac: '24:0A:C4:00:00:07' }));
    const esp32 = registry.get('24:0A:C4:00:00:07')!;
    assert.equal(esp32.family, 'esp32');
    assert.equal(esp32.updates[0]!.outcome, 'refused');
    assert.equal(esp32.updates[0]!.status, 403);
  });

  it('ignores browsers and scanners that are not devices', async () => {
    const before = registry.list().length;
    await rawRequest(f.port, 'GET /a.bin HTTP/1.0\r\nUser-Agent: curl/8\r\n\r\n');
    assert.equal(registry.list().length, before);
  });

  it('renames, holds and forgets a board by its MAC, and says so to its listeners', () => {
    let changes = 0;
    const subscription = registry.onDidChangeRecords(() => changes++);
    assert.ok(registry.rename('18:fe:34:aa:00:01', '  shelf\u0007 left '));
    assert.equal(registry.get('18:FE:34:AA:00:01')!.name, 'shelf  left');
    assert.ok(registry.setHeld('18:FE:34:AA:00:01', true));
    assert.ok(registry.get('18:fe:34:aa:00:01')!.held);
    assert.equal(registry.rename('00:00:00:00:00:00', 'nobody'), false);
    assert.ok(registry.forget('24:0A:C4:00:00:07'));
    assert.equal(registry.get('24:0A:C4:00:00:07'), undefined);
    registry.clear();
    assert.equal(registry.list().length, 0);
    assert.equal(changes, 4);
    subscription.dispose();
  });

  it("lowers a stalled board's rate to 0 and gives no time left, though no progress arrives", async () => {
    // Larger than loopback's buffers, so the server really waits on the board once they are full.
    const big = esp8266ArduinoApp({ payloadSize: 12 << 20, seed: 90 });
    writeFileSync(join(f.catalog, 'stall.bin'), big);
    const mac = '18:FE:34:AA:00:90';
    const reader = slowReader(f.port, esp8266DownloadRequest('/stall.bin', { staMac: mac, freeSpace: 16 << 20 }), 0);
    reader.done.catch(() => undefined);
    try {
      const newest = () => registry.get(mac)?.updates[0];
      let stalled;
      for (let i = 0; i < 200 && !stalled; i++) {
        const update = newest();
        if (update?.outcome === 'downloading' && update.rate === 0) stalled = update;
        else await new Promise((r) => setTimeout(r, 50));
      }
      assert.ok(stalled, `the rate fell to 0 (last: ${JSON.stringify(newest())})`);
      assert.equal(stalled.etaMs, undefined);
      assert.ok((stalled.sent ?? 0) < big.length, 'the server still holds bytes the board has not taken');
    } finally {
      reader.release();
    }
    const response = await reader.done;
    assert.ok(response.body.equals(big));
  });
});
