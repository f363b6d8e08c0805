// What a device asking by exact name gets, and what Hold Updates answers: a real server over raw sockets.

import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { esp8266CatalogRequest, esp8266DownloadRequest } from '../support/deviceRequests';
import { esp8266ArduinoApp } from '../support/images';
import { rawRequest } from '../support/rawHttp';
import { md5, startServer } from '../support/serverFixture';
import type { UpdateServer } from '../../src/core/updateServer';

describe('serving by exact name what the listing leaves out only for its budgets', () => {
  const base = mkdtempSync(join(tmpdir(), 'serving-'));
  const twinOld = esp8266ArduinoApp({ payloadSize: 60_000, seed: 201 });
  const twinNew = esp8266ArduinoApp({ payloadSize: 60_000, seed: 202 });
  const long = esp8266ArduinoApp({ payloadSize: 60_000, seed: 203 });
  const longName = `${'a'.repeat(140)}.bin`;
  let server: UpdateServer;
  const held = new Set<string>();
  before(async () => {
    writeFileSync(join(base, 'Blink.bin'), twinOld);
    utimesSync(join(base, 'Blink.bin'), new Date('2024-01-01'), new Date('2024-01-01'));
    writeFileSync(join(base, 'blink.bin'), twinNew);
    writeFileSync(join(base, longName), long);
    writeFileSync(join(base, 'two words.bin'), long);
    ({ server } = await startServer(base, { isHeld: (device) => held.has(device.staMac) }));
  });
  after(async () => {
    await server.stop();
    rmSync(base, { recursive: true, force: true });
  });

  it('leaves a case twin and a too-long name out of the list, and serves each when asked by its name', async () => {
    const names = JSON.parse((await rawRequest(server.port, esp8266CatalogRequest())).body.toString()).map(
      (e: { name: string }) => e.name,
    );
    assert.deepEqual(names, ['blink.bin'], 'the list keeps the newest twin and only names the device can parse');
    for (const [name, bytes] of [
      ['Blink.bin', twinOld],
      [longName, long],
    ] as const) {
      const reply = await rawRequest(server.port, esp8266DownloadRequest(`/${name}`, { freeSpace: 1 << 20 }));
      assert.equal(reply.status, 200, name);
      assert.equal(reply.headers.get('x-md5'), md5(bytes));
      assert.ok(reply.body.equals(bytes));
    }
  });

  it('still refuses a name a device cannot request or show', async () => {
    const reply = await rawRequest(server.port, esp8266DownloadRequest('/two%20words.bin', { freeSpace: 1 << 20 }));
    assert.notEqual(reply.status, 200);
  });

  it('answers a held board 304 for every image, without reading one, and serves it once released', async () => {
    const mac = '18:FE:34:00:00:77';
    held.add(mac);
    const reads = server.catalog.images.fileReads;
    for (const name of ['blink.bin', 'Blink.bin', 'nothing-here.bin']) {
      const reply = await rawRequest(server.port, esp8266DownloadRequest(`/${name}`, { staMac: mac }));
      assert.equal(reply.status, 304, name);
      assert.equal(reply.body.length, 0);
    }
    assert.equal(server.catalog.images.fileReads, reads);
    held.delete(mac);
    const reply = await rawRequest(
      server.port,
      esp8266DownloadRequest('/blink.bin', { staMac: mac, freeSpace: 1 << 20 }),
    );
    assert.equal(reply.status, 200);
    assert.ok(reply.body.equals(twinNew));
  });
});
