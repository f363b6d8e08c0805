// Every OTA client's dialect over raw sockets, with the request heads each one sends byte for byte: ESP8266 core 3.1
// updateFS, arduino-esp32 3.x update (with a version) and updateSpiffs, ESP-IDF esp_https_ota with and without
// partial download. The server must answer each with only what that client can install.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rawConversation, rawRequest, type RawResponse } from '../support/rawHttp';
import { esp32v3DownloadRequest, esp8266DownloadRequest, espIdfOtaRequest } from '../support/deviceRequests';
import { esp32App, esp8266ArduinoApp, littlefsImage, signedOf, spiffsImage } from '../support/images';
import { BuildPublisher } from '../../src/core/publish/buildPublisher';
import { levelLogger } from '../../src/core/log';
import { md5, startServer, type LogLine } from '../support/serverFixture';
import type { UpdateServer } from '../../src/core/updateServer';

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/** A FAT boot sector as mkfatfs writes it: jump, OEM name, "FAT16" type string at 54, 0x55AA at 510. */
function fatImage(): Buffer {
  const image = Buffer.alloc(64 * 1024, 0);
  Buffer.from([0xeb, 0x3c, 0x90]).copy(image, 0);
  image.write('MSDOS5.0', 3, 'latin1');
  image.writeUInt16LE(4096, 11);
  image.write('FAT16   ', 54, 'latin1');
  image[510] = 0x55;
  image[511] = 0xaa;
  return image;
}

function assertFullImage(response: RawResponse, data: Buffer): void {
  assert.equal(response.status, 200, response.body.subarray(0, 200).toString());
  assert.equal(response.headers.get('content-length'), String(data.length));
  assert.equal(response.headers.get('x-md5'), md5(data));
  assert.match(response.headers.get('x-sha256') ?? '', /^[0-9a-f]{64}$/);
  assert.equal(response.headers.get('x-sha256'), sha256(response.body), 'x-SHA256 is the SHA-256 of the body sent');
  assert.ok(response.body.equals(data), 'body byte-exact');
}

function assertRefused(response: RawResponse, status: number, reason: RegExp): void {
  assert.equal(response.status, status, response.body.toString());
  assert.match(response.body.toString(), reason);
  assert.equal(response.headers.get('x-md5'), undefined);
  assert.equal(response.headers.get('x-sha256'), undefined);
}

describe('OTA client dialects (x-SHA256, filesystem updates, versions, ESP-IDF ranges)', () => {
  let base: string;
  let server: UpdateServer;
  let logs: LogLine[];
  let port: number;
  const files = {
    'app8266.bin': esp8266ArduinoApp({ payloadSize: 90_000, seed: 81 }),
    'app32.bin': esp32App({ version: '2.1.0', payloadSize: 200 * 1024, seed: 82 }),
    'site-d1_mini.littlefs.bin': littlefsImage({ blockCount: 24 }),
    'site-esp32dev.spiffs.bin': spiffsImage(),
    'site-esp32dev.fatfs.bin': fatImage(),
    'data.bin': littlefsImage({ blockCount: 8 }),
  };

  before(async () => {
    base = mkdtempSync(join(tmpdir(), 'acus-dialects-'));
    for (const [name, data] of Object.entries(files)) writeFileSync(join(base, name), data);
    ({ server, logs } = await startServer(base));
    port = server.port;
  });
  after(async () => {
    await server.stop();
    rmSync(base, { recursive: true, force: true });
  });

  it('sends x-SHA256 (64 lower-case hex, over exactly the body) next to x-MD5 on every 200, both families', async () => {
    assertFullImage(await rawRequest(port, esp8266DownloadRequest('/app8266.bin')), files['app8266.bin']);
    assertFullImage(await rawRequest(port, esp32v3DownloadRequest('/app32.bin')), files['app32.bin']);
    assertFullImage(
      await rawRequest(port, esp8266DownloadRequest('/site-d1_mini.littlefs.bin', { mode: 'spiffs' })),
      files['site-d1_mini.littlefs.bin'],
    );
  });

  it('ESP8266 core 3.1 updateFS (mode spiffs) gets a filesystem image and never an app', async () => {
    const fs = (target: string, values = {}) => esp8266DownloadRequest(target, { mode: 'spiffs', ...values });
    // x-ESP8266-free-space is the sketch's room, not the filesystem partition's: it does not limit a filesystem.
    assertFullImage(
      await rawRequest(port, fs('/site-d1_mini.littlefs.bin', { freeSpace: 1024 })),
      files['site-d1_mini.littlefs.bin'],
    );
    assertFullImage(await rawRequest(port, fs('/data.bin')), files['data.bin']);
    assertRefused(await rawRequest(port, fs('/app8266.bin')), 403, /asked for a filesystem image \(mode spiffs\)/);
    // And a sketch update never gets a filesystem image, however it is named.
    assertRefused(
      await rawRequest(port, esp8266DownloadRequest('/site-d1_mini.littlefs.bin')),
      403,
      /littlefs filesystem image, but the device asked for an application/,
    );
    assertRefused(await rawRequest(port, esp8266DownloadRequest('/data.bin')), 403, /littlefs filesystem image/);
  });

  it('arduino-esp32 3.x updateSpiffs / updateLittlefs / updateFatfs get only a filesystem of a format they take', async () => {
    const fs = (target: string, mode: string) => esp32v3DownloadRequest(target, { mode });
    assertFullImage(
      await rawRequest(port, fs('/site-esp32dev.spiffs.bin', 'spiffs')),
      files['site-esp32dev.spiffs.bin'],
    );
    // The ESP32 spiffs partition subtype holds LittleFS too, so mode spiffs (and flashfs) takes any format.
    assertFullImage(
      await rawRequest(port, fs('/site-d1_mini.littlefs.bin', 'spiffs')),
      files['site-d1_mini.littlefs.bin'],
    );
    assertFullImage(
      await rawRequest(port, fs('/site-esp32dev.fatfs.bin', 'flashfs')),
      files['site-esp32dev.fatfs.bin'],
    );
    assertFullImage(await rawRequest(port, fs('/site-esp32dev.fatfs.bin', 'fatfs')), files['site-esp32dev.fatfs.bin']);
    assertRefused(
      await rawRequest(port, fs('/site-esp32dev.spiffs.bin', 'littlefs')),
      403,
      /spiffs filesystem image, but the device asked for littlefs/,
    );
    assertRefused(await rawRequest(port, fs('/app32.bin', 'spiffs')), 403, /this is an ESP32 application image/);
    assertRefused(await rawRequest(port, fs('/app32.bin', 'version')), 403, /mode "version", which is not served/);
    // A filesystem image never appears as `bin` in the catalog: AutoConnect flashes only sketches.
    const listing = await rawRequest(port, 'GET /_catalog?op=list&path=. HTTP/1.0\r\n\r\n');
    const entries = JSON.parse(listing.body.toString()) as Array<{ name: string; type: string }>;
    for (const name of ['site-d1_mini.littlefs.bin', 'site-esp32dev.spiffs.bin', 'data.bin']) {
      assert.deepEqual(
        entries.find((e) => e.name === name),
        { name, type: 'file' },
      );
    }
  });

  it('arduino-esp32 3.x update with the image\'s own version gets 304 "already at version"; another version gets it', async () => {
    const same = await rawRequest(port, esp32v3DownloadRequest('/app32.bin', { version: '2.1.0' }));
    assert.equal(same.status, 304);
    assert.equal(same.body.length, 0);
    assert.ok(logs.some((l) => /app32\.bin: already at version 2\.1\.0/.test(l.message)));
    assertFullImage(
      await rawRequest(port, esp32v3DownloadRequest('/app32.bin', { version: '2.0.9' })),
      files['app32.bin'],
    );
    // ESP8266 images carry no version: the header alone never gives a 304.
    assertFullImage(
      await rawRequest(port, esp8266DownloadRequest('/app8266.bin', { version: '2.1.0' })),
      files['app8266.bin'],
    );
    // A filesystem has no version either; updateSpiffs(client, url, currentVersion) still gets its image.
    assertFullImage(
      await rawRequest(port, esp32v3DownloadRequest('/site-esp32dev.spiffs.bin', { mode: 'spiffs', version: '2.1.0' })),
      files['site-esp32dev.spiffs.bin'],
    );
  });

  it('a 10 KB version header is compared, not trusted: the image is served and the log stays one short line', async () => {
    const huge = 'v'.repeat(10 * 1024);
    assertFullImage(
      await rawRequest(port, esp32v3DownloadRequest('/app32.bin', { version: huge })),
      files['app32.bin'],
    );
    assertFullImage(
      await rawRequest(port, esp8266DownloadRequest('/site-d1_mini.littlefs.bin', { mode: 'spiffs', version: huge })),
      files['site-d1_mini.littlefs.bin'],
    );
    assert.ok(logs.every((l) => l.message.length < 1000));
  });

  it('ESP-IDF esp_https_ota without partial download: a plain GET gets the ESP32 image, with a log line on the gate', async () => {
    const response = await rawRequest(port, espIdfOtaRequest('/app32.bin'));
    assertFullImage(response, files['app32.bin']);
    assert.ok(response.statusLine.startsWith('HTTP/1.1 200'));
    assert.ok(logs.some((l) => /ESP-IDF client .* no family gate beyond it/.test(l.message)));
    assertRefused(
      await rawRequest(port, espIdfOtaRequest('/app8266.bin')),
      403,
      /ESP8266 image, but the device is an ESP32/,
    );
    assertRefused(
      await rawRequest(port, espIdfOtaRequest('/site-esp32dev.spiffs.bin')),
      403,
      /asked for an application/,
    );
  });

  it('ESP-IDF ota_resumption: bytes=0- and bytes=N- get 206 with Content-Range, and the parts make the exact image', async () => {
    const image = files['app32.bin'];
    const fresh = await rawRequest(port, espIdfOtaRequest('/app32.bin', { range: 'bytes=0-' }));
    assert.equal(fresh.status, 206);
    assert.equal(fresh.headers.get('content-range'), `bytes 0-${image.length - 1}/${image.length}`);
    assert.ok(fresh.body.equals(image));
    // The device had written 77 777 bytes when the link dropped; it resumes from there.
    const n = 77_777;
    const resumed = await rawRequest(port, espIdfOtaRequest('/app32.bin', { range: `bytes=${n}-` }));
    assert.equal(resumed.status, 206);
    assert.equal(resumed.headers.get('content-length'), String(image.length - n));
    assert.equal(resumed.headers.get('content-range'), `bytes ${n}-${image.length - 1}/${image.length}`);
    assert.equal(resumed.headers.get('x-md5'), undefined, 'the digests describe the whole image, not a part');
    assert.ok(Buffer.concat([image.subarray(0, n), resumed.body]).equals(image));
  });

  it('ESP-IDF partial_http_download: HEAD for the length, then 64 KB pieces on one connection, concatenate exactly', async () => {
    const image = files['app32.bin'];
    const piece = 64 * 1024;
    const [head] = await rawConversation(port, [espIdfOtaRequest('/app32.bin', { method: 'HEAD' })]);
    assert.equal(head!.status, 200);
    assert.equal(Number(head!.headers.get('content-length')), image.length);
    assert.equal(head!.body.length, 0);
    // esp_https_ota_begin asks for bytes=0-65535, perform() for the next pieces, the last one as bytes=N-.
    const ranges: string[] = [];
    for (let start = 0; start < image.length; start += piece) {
      ranges.push(image.length - start > piece ? `bytes=${start}-${start + piece - 1}` : `bytes=${start}-`);
    }
    const parts = await rawConversation(
      port,
      ranges.map((range) => espIdfOtaRequest('/app32.bin', { range })),
    );
    for (const part of parts) assert.equal(part.status, 206);
    assert.ok(Buffer.concat(parts.map((p) => p.body)).equals(image));
    // The log says once that this client has no family gate, not once per piece.
    const notes = logs.filter((l) => /ESP-IDF client .* no family gate/.test(l.message));
    assert.equal(notes.length, 1, notes.map((l) => l.message).join('\n'));
    // When the image fits one piece, begin() names the image length as the end: one past the last byte, clamped.
    const whole = await rawRequest(port, espIdfOtaRequest('/app32.bin', { range: `bytes=0-${image.length}` }));
    assert.equal(whole.status, 206);
    assert.equal(whole.headers.get('content-range'), `bytes 0-${image.length - 1}/${image.length}`);
    assert.ok(whole.body.equals(image));
  });

  it('a Range that is malformed, multi-range or past the end gets 416 with the image length, and no bytes', async () => {
    const size = files['app32.bin'].length;
    for (const range of [
      'bytes=abc-',
      'items=0-99',
      'bytes=0-1,5-9',
      `bytes=${size}-`,
      'bytes=500-100',
      'bytes=-0',
      'bytes=-',
    ]) {
      const response = await rawRequest(port, espIdfOtaRequest('/app32.bin', { range }));
      assert.equal(response.status, 416, range);
      assert.equal(response.headers.get('content-range'), `bytes */${size}`, range);
      assert.equal(response.headers.get('x-md5'), undefined);
      assert.equal(Number(response.headers.get('content-length')), response.body.length);
    }
    // A suffix range is well-formed: the last 1000 bytes.
    const tail = await rawRequest(port, espIdfOtaRequest('/app32.bin', { range: 'bytes=-1000' }));
    assert.equal(tail.status, 206);
    assert.ok(tail.body.equals(files['app32.bin'].subarray(size - 1000)));
  });
});

describe('published builds as devices get them', () => {
  it('a signed ESP8266 build is published signed and served signed, byte for byte', async () => {
    const base = mkdtempSync(join(tmpdir(), 'acus-signed-'));
    const catalog = join(base, 'catalog');
    const project = join(base, 'Ota');
    const out = join(project, 'build', 'esp8266.esp8266.d1_mini');
    mkdirSync(out, { recursive: true });
    mkdirSync(catalog);
    writeFileSync(join(project, 'Ota.ino'), 'void setup() {}\nvoid loop() {}\n');
    writeFileSync(join(project, 'private.key'), 'KEY\n');
    const app = esp8266ArduinoApp({ payloadSize: 70_000, seed: 91 });
    const signed = signedOf(app);
    writeFileSync(join(out, 'Ota.ino.bin'), app);
    writeFileSync(join(out, 'Ota.ino.bin.signed'), signed);
    const { server } = await startServer(catalog);
    const publisher = new BuildPublisher({
      roots: [base],
      catalogDir: catalog,
      logger: levelLogger('error', () => {}),
      env: {},
    });
    try {
      await publisher.start();
      let response: RawResponse | undefined;
      for (let i = 0; i < 200 && response?.status !== 200; i++) {
        response = await rawRequest(server.port, esp8266DownloadRequest('/Ota-d1_mini.bin'));
        if (response.status !== 200) await new Promise((r) => setTimeout(r, 50));
      }
      assertFullImage(response!, signed);
    } finally {
      await publisher.dispose();
      await server.stop();
      rmSync(base, { recursive: true, force: true });
    }
  });
});
