// protocol.md §7, vectors 1-7: the catalog conversation, byte for byte over raw sockets.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { rawConversation, rawRequest, type RawResponse } from '../support/rawHttp';
import { esp32CatalogRequest, esp8266CatalogRequest } from '../support/deviceRequests';
import { catalogName, standardFixture, type ServerFixture } from '../support/serverFixture';
import { esp8266ArduinoApp } from '../support/images';

type Entry = { name: string; type: string; date?: string; time?: string; size?: number };

function entries(response: RawResponse): Entry[] {
  return JSON.parse(response.body.toString('utf8')) as Entry[];
}

function byName(list: Entry[]): Map<string, Entry> {
  return new Map(list.map((e) => [e.name, e]));
}

describe('catalog conversation (protocol.md §7.1-7.7)', () => {
  let f: ServerFixture;
  before(async () => {
    f = await standardFixture();
  });
  after(() => f.stop());

  it('7.1 answers the ESP8266 default request with exact Content-Length, JSON and no chunking', async () => {
    const response = await rawRequest(f.port, esp8266CatalogRequest());
    assert.equal(response.statusLine, 'HTTP/1.1 200 OK');
    assert.equal(response.headers.get('content-type'), 'application/json');
    assert.equal(Number(response.headers.get('content-length')), response.body.length);
    assert.equal(response.headers.get('transfer-encoding'), undefined);
    assert.equal(response.headers.get('content-encoding'), undefined);
    assert.ok(response.body.toString().startsWith('['));
    assert.ok(Array.isArray(entries(response)));
  });

  it('7.1 writes python json.dumps form: field order, separators, MM/DD/YY and HH:MM:SS local time', async () => {
    const response = await rawRequest(f.port, esp8266CatalogRequest());
    const body = response.body.toString();
    assert.ok(
      body.includes(
        `{"name": "a.bin", "type": "bin", "date": "02/22/23", "time": "18:55:00", "size": ${f.files['a.bin']!.length}}`,
      ),
      body,
    );
    assert.ok(body.includes('{"name": "sub", "type": "directory"}'), body);
  });

  it('7.2 offers ESP8266 app images to an ESP8266 and lists everything else as file or directory', async () => {
    const list = byName(entries(await rawRequest(f.port, esp8266CatalogRequest())));
    assert.equal(list.get('a.bin')?.type, 'bin');
    assert.equal(list.get('d.bin.gz')?.type, 'bin', 'gzip ESP8266 images are offered to ESP8266 (core >= 2.7)');
    for (const name of ['esp32.bin', 's3.bin', 'bootloader.bin', 'partitions.bin', 'b.bin', 'C.BIN', 'notes.txt']) {
      assert.equal(list.get(name)?.type, 'file', name);
    }
    assert.equal(list.get('sub')?.type, 'directory');
    assert.equal(list.has('link.bin'), false, 'a link out of the catalog is not listed');
    assert.equal(list.has('outlink'), false, 'a folder link out of the catalog is not listed');
  });

  it('7.2 offers ESP32-family app images to an ESP32 (old client: other header order, Connection: close)', async () => {
    const response = await rawRequest(f.port, esp32CatalogRequest());
    assert.equal(response.status, 200);
    assert.equal(response.closed, true);
    const list = byName(entries(response));
    assert.equal(list.get('esp32.bin')?.type, 'bin');
    assert.equal(list.get('s3.bin')?.type, 'bin');
    assert.equal(list.get('a.bin')?.type, 'file');
    assert.equal(list.get('d.bin.gz')?.type, 'file', 'ESP32 cannot take gzip');
    assert.equal(list.get('bootloader.bin')?.type, 'file');
  });

  it('7.2 shows every app image to an unknown agent, newest first', async () => {
    const response = await rawRequest(f.port, 'GET /_catalog?op=list&path=. HTTP/1.0\r\n\r\n');
    const bins = entries(response)
      .filter((e) => e.type === 'bin')
      .map((e) => e.name);
    assert.deepEqual(bins, ['s3.bin', 'esp32.bin', 'a.bin', 'd.bin.gz']);
  });

  it('7.3 lists a subfolder, and an empty path like "."', async () => {
    const sub = entries(await rawRequest(f.port, esp8266CatalogRequest('sub')));
    assert.deepEqual(
      sub.map((e) => [e.name, e.type]),
      [['a.bin', 'bin']],
    );
    const empty = await rawRequest(f.port, esp8266CatalogRequest(''));
    const dot = await rawRequest(f.port, esp8266CatalogRequest('.'));
    assert.deepEqual(empty.body, dot.body);
    const slash = await rawRequest(f.port, esp8266CatalogRequest('/sub'));
    assert.equal(slash.status, 200, 'uri "/sub" lists the catalog folder sub');
  });

  it('7.4 refuses catalog paths outside the catalog (no sibling-prefix bypass, no links)', async () => {
    for (const path of [
      '../..',
      '..',
      '..%2F..',
      `../${catalogName(f.catalog)}-x`,
      'sub/../..',
      '..\\..',
      'outlink',
      '/etc',
      '%2Fetc',
    ]) {
      const response = await rawRequest(f.port, esp8266CatalogRequest(path));
      assert.ok([403, 404].includes(response.status), `${path}: ${response.status}`);
      assert.equal(Number(response.headers.get('content-length')), response.body.length);
      assert.ok(!response.body.toString().includes('sibling'), path);
      assert.ok(!response.body.toString().includes('secret'), path);
    }
  });

  it('7.5 answers 403 to a catalog request without op or with another op', async () => {
    assert.equal((await rawRequest(f.port, 'GET /_catalog HTTP/1.0\r\n\r\n')).status, 403);
    assert.equal((await rawRequest(f.port, 'GET /_catalog?op=rm&path=. HTTP/1.0\r\n\r\n')).status, 403);
  });

  it('7.6 answers [] with Content-Length 2 for an empty folder', async () => {
    mkdirSync(join(f.catalog, 'empty'));
    const response = await rawRequest(f.port, esp8266CatalogRequest('empty'));
    assert.equal(response.status, 200);
    assert.equal(response.body.toString(), '[]');
    assert.equal(response.headers.get('content-length'), '2');
  });

  it('7.7 leaves out an entry the device could not parse (129-byte name), keeps a 128-byte one, and logs why', async () => {
    mkdirSync(join(f.catalog, 'long'));
    const ok = `${'x'.repeat(124)}.bin`;
    const tooLong = `${'y'.repeat(125)}.bin`;
    writeFileSync(join(f.catalog, 'long', ok), esp8266ArduinoApp({ payloadSize: 60_000, seed: 20 }));
    writeFileSync(join(f.catalog, 'long', tooLong), esp8266ArduinoApp({ payloadSize: 60_000, seed: 21 }));
    const list = entries(await rawRequest(f.port, esp8266CatalogRequest('long')));
    assert.deepEqual(
      list.map((e) => e.name),
      [ok],
    );
    assert.ok(f.logs.some((l) => l.message.includes(tooLong) && /256 bytes/.test(l.message)));
  });

  it('lists the newest 255 of 262 images, and says in one log line, once, that the 7 oldest are left out', async () => {
    mkdirSync(join(f.catalog, 'many'));
    const image = esp8266ArduinoApp({ payloadSize: 2_000, seed: 22 });
    const names = Array.from({ length: 262 }, (_, i) => `b${String(i).padStart(3, '0')}.bin`);
    names.forEach((name, i) => {
      writeFileSync(join(f.catalog, 'many', name), image);
      utimesSync(join(f.catalog, 'many', name), new Date(2024, 0, 1, 0, i), new Date(2024, 0, 1, 0, i));
    });
    const logsBefore = f.logs.length;
    const list = entries(await rawRequest(f.port, esp8266CatalogRequest('many')));
    assert.equal(list.filter((e) => e.type === 'bin').length, 255);
    assert.equal(list[0]!.name, 'b261.bin', 'newest first');
    assert.ok(!list.some((e) => e.name === 'b006.bin'));
    await rawRequest(f.port, esp8266CatalogRequest('many'));
    const lines = f.logs.slice(logsBefore).filter((l) => /not listed/.test(l.message));
    assert.equal(lines.length, 1, lines.map((l) => l.message).join('\n'));
    assert.match(lines[0]!.message, /7 entries of many\/ are not listed \(many\/b\d{3}\.bin, .*more than 255 images/);
  });

  it('keeps a keep-alive HTTP/1.1 connection open for the next request', async () => {
    const [first, second] = await rawConversation(f.port, [esp8266CatalogRequest(), esp8266CatalogRequest('sub')]);
    assert.equal(first!.status, 200);
    assert.equal(first!.headers.get('connection'), 'keep-alive');
    assert.equal(second!.status, 200);
    assert.deepEqual(
      JSON.parse(second!.body.toString()).map((e: Entry) => e.name),
      ['a.bin'],
    );
  });

  it('lists a file dropped into the catalog on the very next request', async () => {
    writeFileSync(join(f.catalog, 'new.bin'), esp8266ArduinoApp({ payloadSize: 60_000, seed: 30 }));
    const list = byName(entries(await rawRequest(f.port, esp8266CatalogRequest())));
    assert.equal(list.get('new.bin')?.type, 'bin');
  });
});
