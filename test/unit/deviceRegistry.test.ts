// The Devices view's bookkeeping, fed by a real server's events.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DeviceRegistry } from '../../src/core/devices/deviceRegistry';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { rawRequest, slowReader } from '../support/rawHttp';
import { esp32DownloadRequest, esp8266CatalogRequest, esp8266DownloadRequest } from '../support/deviceRequests';
import { md5, standardFixture, type ServerFixture } from '../support/serverFixture';
import { esp8266ArduinoApp } from '../support/images';
import type { DeviceRecord } from '../../src/core/devices/deviceRegistry';

/** Resolves when the registry has changed and `done` holds. */
function changeUntil(registry: DeviceRegistry, done: () => boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the registry did not change as expected within 15 s')), 15_000);
    const subscription = registry.onDidChange(() => {
      if (!done()) return;
      clearTimeout(timer);
      subscription.dispose();
      resolve();
    });
  });
}

describe('device registry', () => {
  let f: ServerFixture;
  let registry: DeviceRegistry;
  before(async () => {
    f = await standardFixture();
    registry = new DeviceRegistry((hash) => f.server.knownImages.identify(hash));
    registry.follow(f.server);
  });
  after(async () => {
    registry.dispose();
    await f.stop();
  });

  it('merges a device seen first by its catalog request into its MAC once a download names it', async () => {
    await rawRequest(f.port, esp8266CatalogRequest());
    assert.deepEqual(
      registry.list().map((d) => d.key),
      ['ip:127.0.0.1'],
    );
    assert.equal(registry.list()[0]!.family, 'esp8266');
    await rawRequest(f.port, esp8266DownloadRequest('/a.bin', { staMac: '18:FE:34:AA:00:01' }));
    const devices = registry.list();
    assert.deepEqual(
      devices.map((d) => d.key),
      ['18:FE:34:AA:00:01'],
    );
    assert.equal(devices[0]!.catalogRequests, 1);
    assert.equal(devices[0]!.downloads[0]!.state, 'done');
    assert.equal(devices[0]!.downloads[0]!.sent, f.files['a.bin']!.length);
  });

  it('names the image a device runs and records 304 and refusals with their reasons', async () => {
    await rawRequest(
      f.port,
      esp8266DownloadRequest('/a.bin', { staMac: '18:FE:34:AA:00:01', sketchMd5: md5(f.files['a.bin']!) }),
    );
    const device = registry.get('18:FE:34:AA:00:01')!;
    assert.equal(device.running?.name, 'a.bin');
    assert.equal(device.downloads[0]!.state, 'not-modified');
    await rawRequest(f.port, esp32DownloadRequest('/a.bin', { staMac: '24:0A:C4:00:00:07' }));
    const esp32 = registry.get('24:0A:C4:00:00:07')!;
    assert.equal(esp32.family, 'esp32');
    assert.equal(esp32.downloads[0]!.state, 'refused');
    assert.equal(esp32.downloads[0]!.status, 403);
  });

  it('ignores browsers and scanners that are not devices', async () => {
    const before = registry.list().length;
    await rawRequest(f.port, 'GET /a.bin HTTP/1.0\r\nUser-Agent: curl/8\r\n\r\n');
    assert.equal(registry.list().length, before);
  });

  it('Clear Devices forgets the history, tells its listeners, and keeps a download still under way', async () => {
    // Larger than loopback buffers take, so the download stays in flight while this reader reads nothing.
    writeFileSync(join(f.catalog, 'big.bin'), esp8266ArduinoApp({ payloadSize: 12 << 20, seed: 60 }));
    const started = changeUntil(registry, () => registry.activeDownloads === 1);
    const slow = slowReader(
      f.port,
      esp8266DownloadRequest('/big.bin', { staMac: '18:FE:34:BB:00:02', freeSpace: 16 << 20 }),
      0,
    );
    try {
      await started;
      assert.ok(registry.list().length > 1, 'devices from the earlier requests are listed');

      const changes: (DeviceRecord | undefined)[] = [];
      const subscription = registry.onDidChange((device) => changes.push(device));
      registry.clear();
      subscription.dispose();
      assert.equal(changes.length, 1, 'listeners (the status bar, the Devices view) hear of the clear');
      assert.deepEqual(
        registry.list().map((d) => d.key),
        ['18:FE:34:BB:00:02'],
      );
      const downloading = registry.get('18:FE:34:BB:00:02')!;
      assert.deepEqual(
        downloading.downloads.map((d) => [d.entry, d.state]),
        [['big.bin', 'running']],
      );
      assert.equal(registry.activeDownloads, 1, 'the download in flight still counts');

      const ended = changeUntil(registry, () => registry.activeDownloads === 0);
      slow.release();
      await slow.done;
      await ended;
      assert.equal(downloading.downloads[0]!.state, 'done');
    } finally {
      slow.release();
      await slow.done.catch(() => undefined);
    }

    registry.clear();
    assert.deepEqual(registry.list(), []);
    assert.equal(registry.activeDownloads, 0);
    // Requests after a clear are recorded afresh.
    await rawRequest(f.port, esp8266CatalogRequest());
    assert.equal(registry.list()[0]?.catalogRequests, 1);
  });
});
