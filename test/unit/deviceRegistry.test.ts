// The Devices view's bookkeeping, fed by a real server's events.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DeviceRegistry } from '../../src/core/devices/deviceRegistry';
import { rawRequest } from '../support/rawHttp';
import { esp32DownloadRequest, esp8266CatalogRequest, esp8266DownloadRequest } from '../support/deviceRequests';
import { md5, standardFixture, type ServerFixture } from '../support/serverFixture';

describe('device registry', () => {
  let f: ServerFixture;
  let registry: DeviceRegistry;
  before(async () => {
    f = await standardFixture();
    registry = new DeviceRegistry((hash) => f.server.catalog.images.identify(hash));
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
});
