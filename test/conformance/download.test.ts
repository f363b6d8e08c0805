// protocol.md §7, vectors 8-23: the download conversation as ESP8266httpUpdate and HTTPUpdate speak it.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rawRequest, type RawResponse } from '../support/rawHttp';
import { esp32DownloadRequest, esp8266DownloadRequest } from '../support/deviceRequests';
import { catalogName, md5, standardFixture, type ServerFixture } from '../support/serverFixture';

function assertServed(response: RawResponse, data: Buffer, name: string): void {
  assert.equal(response.status, 200, response.body.subarray(0, 200).toString());
  assert.equal(response.headers.get('content-type'), 'application/octet-stream');
  assert.equal(response.headers.get('content-disposition'), `attachment; filename=${name}`);
  assert.equal(response.headers.get('content-length'), String(data.length));
  assert.equal(response.headers.get('transfer-encoding'), undefined);
  assert.match(response.headers.get('x-md5') ?? '', /^[0-9a-f]{32}$/);
  assert.equal(response.headers.get('x-md5'), md5(data));
  assert.equal(md5(response.body), response.headers.get('x-md5'));
  assert.ok(response.body.equals(data), 'body byte-exact');
}

function assertWellFormedRefusal(response: RawResponse, statuses: number[]): void {
  assert.ok(statuses.includes(response.status), `status ${response.status} not in ${statuses}`);
  assert.equal(Number(response.headers.get('content-length')), response.body.length);
  assert.equal(response.headers.get('x-md5'), undefined);
}

describe('download conversation (protocol.md §7.8-7.23)', () => {
  let f: ServerFixture;
  before(async () => {
    f = await standardFixture();
  });
  after(() => f.stop());

  it('7.8 serves an ESP8266 image to an ESP8266 with exact length, disposition and x-MD5 over HTTP/1.0', async () => {
    const response = await rawRequest(f.port, esp8266DownloadRequest('/a.bin'));
    assertServed(response, f.files['a.bin']!, 'a.bin');
    assert.ok(response.statusLine.startsWith('HTTP/1.0 200'));
    assert.equal(response.headers.get('connection'), 'close');
    assert.equal(response.closed, true);
  });

  it('7.9 serves an ESP32 image to an ESP32, with and without x-ESP32-sketch-md5 (1.0.x cores)', async () => {
    assertServed(await rawRequest(f.port, esp32DownloadRequest('/esp32.bin')), f.files['esp32.bin']!, 'esp32.bin');
    assertServed(
      await rawRequest(f.port, esp32DownloadRequest('/esp32.bin', {}, ['sketch-md5'])),
      f.files['esp32.bin']!,
      'esp32.bin',
    );
  });

  it('7.10 matches device header names without regard to case', async () => {
    assertServed(
      await rawRequest(f.port, esp8266DownloadRequest('/a.bin', {}, [], 'lower')),
      f.files['a.bin']!,
      'a.bin',
    );
    assertServed(
      await rawRequest(f.port, esp8266DownloadRequest('/a.bin', {}, [], 'title')),
      f.files['a.bin']!,
      'a.bin',
    );
  });

  it('7.11 answers 403 to a browser or curl, and to a request without User-Agent', async () => {
    const curl = await rawRequest(f.port, 'GET /a.bin HTTP/1.0\r\nUser-Agent: curl/8\r\n\r\n');
    assertWellFormedRefusal(curl, [403]);
    const none = await rawRequest(f.port, 'GET /a.bin HTTP/1.0\r\n\r\n');
    assertWellFormedRefusal(none, [403]);
    assert.ok(f.logs.some((l) => /not an ESP update client/.test(l.message)));
  });

  it('7.12 answers 403 when an ESP8266 leaves out x-ESP8266-sketch-md5, and says which header', async () => {
    const response = await rawRequest(f.port, esp8266DownloadRequest('/a.bin', {}, ['sketch-md5']));
    assertWellFormedRefusal(response, [403]);
    assert.ok(f.logs.some((l) => /missing header x-ESP8266-sketch-md5/.test(l.message)));
  });

  it('7.13 serves relative targets: ./a.bin (AutoConnect <= 1.3.4) and sub/a.bin (uri="sub")', async () => {
    assertServed(await rawRequest(f.port, esp8266DownloadRequest('./a.bin')), f.files['a.bin']!, 'a.bin');
    assertServed(await rawRequest(f.port, esp8266DownloadRequest('sub/a.bin')), f.files['sub/a.bin']!, 'a.bin');
    assertServed(await rawRequest(f.port, esp8266DownloadRequest('sub//a.bin')), f.files['sub/a.bin']!, 'a.bin');
  });

  it('7.14 never serves anything outside the catalog, whatever the target', async () => {
    const sibling = `${catalogName(f.catalog)}-x`;
    const targets = [
      '/../secret.txt',
      '/sub/../../secret.txt',
      '/%2e%2e/secret.txt',
      '/%2E%2E/secret.txt',
      '/..%2fsecret.txt',
      '/..%2Fprivate/secret.bin',
      '/..\\secret.txt',
      '..\\..\\secret.txt',
      '/etc/passwd',
      '//etc/passwd',
      'http://x/../secret.txt',
      '/outlink/secret.bin',
      '/outlink/secret.txt',
      '/link.bin',
      `/../${sibling}/sibling.bin`,
      `../${sibling}/sibling.bin`,
      '/notes.txt',
      '/%00a.bin',
    ];
    for (const target of targets) {
      const response = await rawRequest(f.port, esp8266DownloadRequest(target));
      assertWellFormedRefusal(response, [400, 403, 404]);
      assert.ok(!/wifi password|top secret/.test(response.body.toString('latin1')), target);
    }
  });

  it('7.15 answers 404 for a missing file, without server paths', async () => {
    const response = await rawRequest(f.port, esp8266DownloadRequest('/nope.bin'));
    assertWellFormedRefusal(response, [404]);
    assert.ok(!response.raw.toString().includes(f.catalog));
  });

  it('7.16 answers a folder with a well-formed 403', async () => {
    for (const target of ['/', '/sub', '/sub/', '.']) {
      assertWellFormedRefusal(await rawRequest(f.port, esp8266DownloadRequest(target)), [403]);
    }
  });

  it('7.17 ignores a query string on a download (names never contain "?")', async () => {
    assertServed(await rawRequest(f.port, esp8266DownloadRequest('/a.bin?x=1')), f.files['a.bin']!, 'a.bin');
  });

  it('7.18 answers HEAD with the headers only and other methods with 405', async () => {
    const head = await rawRequest(f.port, esp8266DownloadRequest('/a.bin').replace(/^GET/, 'HEAD'), { isHead: true });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), String(f.files['a.bin']!.length));
    assert.equal(head.headers.get('x-md5'), md5(f.files['a.bin']!));
    assert.equal(head.raw.length, head.raw.indexOf('\r\n\r\n') + 4, 'no body after a HEAD response');
    for (const method of ['POST', 'PUT', 'DELETE', 'OPTIONS']) {
      const response = await rawRequest(f.port, `${method} /_catalog HTTP/1.0\r\nContent-Length: 0\r\n\r\n`);
      assertWellFormedRefusal(response, [405]);
      assert.equal(response.headers.get('allow'), 'GET, HEAD');
    }
  });

  it('7.19 never redirects', async () => {
    for (const target of ['/sub', '/sub/', '.', './sub', '/a.bin/', '/_catalog/']) {
      const response = await rawRequest(f.port, esp8266DownloadRequest(target));
      assert.ok(
        response.status < 300 || response.status >= 400 || response.status === 304,
        `${target}: ${response.status}`,
      );
    }
  });

  it('7.20 refuses an image of the other chip family, both ways', async () => {
    assertWellFormedRefusal(await rawRequest(f.port, esp8266DownloadRequest('/esp32.bin')), [403]);
    assertWellFormedRefusal(await rawRequest(f.port, esp8266DownloadRequest('/s3.bin')), [403]);
    assertWellFormedRefusal(await rawRequest(f.port, esp32DownloadRequest('/a.bin')), [403]);
    assertWellFormedRefusal(await rawRequest(f.port, esp32DownloadRequest('/d.bin.gz')), [403]);
    assert.ok(f.logs.some((l) => /18:FE:AA:AA:AA:AA .*ESP32-S3 image, but the device is an ESP8266/.test(l.message)));
  });

  it('7.20 refuses another ESP32 variant when the device is known to run one', async () => {
    const esp32 = f.files['esp32.bin']!;
    const runningSha = esp32
      .subarray(esp32.length - 32)
      .toString('hex')
      .toUpperCase();
    const response = await rawRequest(f.port, esp32DownloadRequest('/s3.bin', { sketchSha256: runningSha }));
    assertWellFormedRefusal(response, [403]);
    assert.ok(f.logs.some((l) => /ESP32-S3 image, but the device runs esp32\.bin built for ESP32/.test(l.message)));
  });

  it('7.21 refuses an image larger than the free space, and one built for more flash than the chip has', async () => {
    assertWellFormedRefusal(await rawRequest(f.port, esp8266DownloadRequest('/a.bin', { freeSpace: 100_000 })), [403]);
    assertWellFormedRefusal(await rawRequest(f.port, esp8266DownloadRequest('/a.bin', { chipSize: 1 << 19 })), [403]);
    assert.ok(f.logs.some((l) => /the device has 100000 bytes free/.test(l.message)));
  });

  it('refuses bootloaders, partition tables, junk and a filesystem-mode request', async () => {
    for (const target of ['/bootloader.bin', '/partitions.bin', '/b.bin', '/C.BIN', '/notes.txt']) {
      assertWellFormedRefusal(await rawRequest(f.port, esp32DownloadRequest(target)), [403]);
    }
    assertWellFormedRefusal(await rawRequest(f.port, esp8266DownloadRequest('/a.bin', { mode: 'spiffs' })), [403]);
  });

  it('serves a gzip ESP8266 image with the MD5 of the compressed bytes', async () => {
    assertServed(await rawRequest(f.port, esp8266DownloadRequest('/d.bin.gz')), f.files['d.bin.gz']!, 'd.bin.gz');
  });

  it('7.23 answers 304 to a device that already runs the image (also after the flash-mode rewrite)', async () => {
    const a = f.files['a.bin']!;
    const same = await rawRequest(f.port, esp8266DownloadRequest('/a.bin', { sketchMd5: md5(a) }));
    assert.equal(same.status, 304);
    assert.equal(same.body.length, 0);
    const rewritten = Buffer.from(a);
    rewritten[2] = (rewritten[2]! + 1) % 4; // the ESP8266 Updater sets the chip's flash mode in flash
    const afterRewrite = await rawRequest(
      f.port,
      esp8266DownloadRequest('/a.bin', { sketchMd5: md5(rewritten), sketchSize: a.length }),
    );
    assert.equal(afterRewrite.status, 304);
    const esp32 = f.files['esp32.bin']!;
    const sha = esp32
      .subarray(esp32.length - 32)
      .toString('hex')
      .toUpperCase();
    assert.equal((await rawRequest(f.port, esp32DownloadRequest('/esp32.bin', { sketchSha256: sha }))).status, 304);
  });
});

describe('download with 304 turned off', () => {
  let f: ServerFixture;
  before(async () => {
    f = await standardFixture({ answerNotModified: false });
  });
  after(() => f.stop());

  it('sends the image even to a device that runs it', async () => {
    const a = f.files['a.bin']!;
    assertServed(await rawRequest(f.port, esp8266DownloadRequest('/a.bin', { sketchMd5: md5(a) })), a, 'a.bin');
  });
});
