// A board whose next update request arrives before the server has seen the close of its previous download (it
// flashed and restarted, and its FIN came late or never): the download is still confirmed or rolled back. Real
// server on a real socket; the downloads are read whole by raw sockets that keep their side open.

import { strict as assert } from 'node:assert';
import { promises as fs } from 'node:fs';
import { connect, type Socket } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DeviceInventory, defaultStateFile } from '../../src/core/devices/deviceInventory';
import { KnownImages } from '../../src/core/devices/knownImages';
import { levelLogger } from '../../src/core/log';
import { UpdateServer } from '../../src/core/updateServer';
import { esp8266DownloadRequest } from '../support/deviceRequests';
import { esp8266ArduinoApp } from '../support/images';
import { rawRequest } from '../support/rawHttp';
import { md5 } from '../support/serverFixture';
import { until } from '../support/waits';

/** Sends the request and reads the whole response, but neither ends nor closes its side. */
function readAndHoldOpen(port: number, request: string): { socket: Socket; whole: Promise<Buffer> } {
  const socket = connect({ port, host: '127.0.0.1' });
  const chunks: Buffer[] = [];
  socket.allowHalfOpen = true; // the server's FIN does not end our side: we keep it open, like a board that restarts
  const whole = new Promise<Buffer>((resolve, reject) => {
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      const raw = Buffer.concat(chunks);
      const headEnd = raw.indexOf('\r\n\r\n');
      if (headEnd < 0) return;
      const length = Number(/content-length: *(\d+)/i.exec(raw.subarray(0, headEnd).toString('latin1'))?.[1]);
      if (raw.length - headEnd - 4 >= length) resolve(raw.subarray(headEnd + 4));
    });
    socket.on('error', reject);
  });
  socket.write(request);
  return { socket, whole };
}

describe('device inventory: the next request comes before the close of the download', () => {
  const build1 = esp8266ArduinoApp({ payloadSize: 50_000, seed: 301 });
  const build2 = esp8266ArduinoApp({ payloadSize: 51_000, seed: 302 });
  let dir: string;
  let inventory: DeviceInventory;
  let server: UpdateServer;
  const logs: string[] = [];
  const request = (mac: string, running: Buffer) =>
    esp8266DownloadRequest('/blinky.bin', { staMac: mac, sketchMd5: md5(running), freeSpace: 1 << 20 });

  before(async () => {
    dir = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'late-close-')));
    await fs.writeFile(path.join(dir, 'blinky.bin'), build2);
    const knownImages = new KnownImages();
    const logger = levelLogger('info', (level, message) => logs.push(`${level} ${message}`));
    inventory = new DeviceInventory({ logger, knownImages });
    await inventory.open(defaultStateFile(dir));
    server = await UpdateServer.start({ catalogDir: dir, port: 0, host: '127.0.0.1', knownImages, logger });
    inventory.follow(server);
  });
  after(async () => {
    await server.stop();
    await inventory.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('confirms a download at the next request that reports the new image, before its close is seen', async () => {
    const mac = '18:FE:34:00:01:01';
    const download = readAndHoldOpen(server.port, request(mac, build1));
    const closed = new Promise((resolve) => download.socket.once('close', resolve));
    assert.ok((await download.whole).equals(build2));
    assert.equal(inventory.registry.get(mac)!.updates[0]!.outcome, 'downloading', 'no close, no verdict');
    assert.equal(server.activeDownloads.length, 1, 'nor for the server');
    const logged = logs.length;

    const next = await rawRequest(server.port, request(mac, build2));
    assert.equal(next.status, 304);
    const device = inventory.registry.get(mac)!;
    const record = device.updates.find((u) => u.md5 === md5(build2) && u.outcome !== 'not-modified');
    assert.equal(record?.outcome, 'confirmed');
    assert.equal(inventory.registry.activeDownloads, 0, 'it is not downloading any more');
    assert.equal(server.activeDownloads.length, 0, 'the server ended the download too');
    // The log tells what the view shows: downloaded (known by the next request), then confirmed; never aborted.
    const lines = logs.slice(logged).filter((l) => l.includes(mac));
    const downloaded = lines.findIndex((l) =>
      /download #\d+ blinky\.bin to .* downloaded: .*asked again, running it/.test(l),
    );
    const confirmed = lines.findIndex((l) => /confirmed blinky\.bin/.test(l));
    assert.ok(downloaded >= 0 && confirmed > downloaded, lines.join('\n'));

    // Whenever the board's close comes at last, the verdict stays, and no abort is logged.
    download.socket.end();
    await closed;
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(record?.outcome, 'confirmed');
    assert.deepEqual(
      logs.filter((l) => l.includes(mac) && /aborted/.test(l)),
      [],
    );
  });

  it('rolls a download back when its close comes after a request that still reports the old image', async () => {
    const mac = '18:FE:34:00:01:02';
    const download = readAndHoldOpen(server.port, request(mac, build1));
    await download.whole;
    const first = inventory.registry.get(mac)!.updates[0]!;
    assert.equal(first.outcome, 'downloading');

    // It restarted into the old build and asks again: served again (it does not run build 2).
    const again = await rawRequest(server.port, request(mac, build1));
    assert.equal(again.status, 200);
    assert.equal(first.outcome, 'downloading', 'undecided until its own end');

    download.socket.end();
    await until(() => first.outcome !== 'downloading', 'the first download settled');
    assert.equal(first.outcome, 'rolled-back');
    assert.match(first.reason ?? '', /still runs the build it had before/);
  });
});
