// A keyed catalog over raw sockets: the device conversations of protocol.md §7 below `/<KEY>/` exactly as
// AutoConnectUpdate(host, port, "<KEY>") speaks them (`/_catalog?op=list&path=<KEY>`, then `<KEY>/<name>` without a
// leading slash), and 404 with no image byte for every target outside the key folder.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { rawConversation, rawRequest, type RawResponse } from '../support/rawHttp';
import { esp32DownloadRequest, esp8266CatalogRequest, esp8266DownloadRequest } from '../support/deviceRequests';
import { md5, standardFixture, type ServerFixture } from '../support/serverFixture';

const KEY = 'q7Zr_2kP-x9mW4vT';

type Entry = { name: string; type: string };
const names = (response: RawResponse) => (JSON.parse(response.body.toString()) as Entry[]).map((e) => e.name).sort();

/** A 404 that says nothing and carries no byte of any image in the catalog. */
function assertOutside(response: RawResponse, what: string, files: Record<string, Buffer>, isHead = false): void {
  assert.equal(response.status, 404, `${what}: ${response.statusLine}`);
  assert.equal(response.headers.get('x-md5'), undefined, what);
  assert.equal(response.headers.get('content-type'), 'text/plain; charset=utf-8', what);
  assert.equal(response.body.toString(), isHead ? '' : '404 Not Found: not found\n', what);
  for (const [name, data] of Object.entries(files)) {
    assert.equal(response.raw.includes(data.subarray(0, 16)), false, `${what}: bytes of ${name}`);
  }
}

describe('catalog key: the device conversations below /<KEY>/', () => {
  let f: ServerFixture;
  before(async () => {
    f = await standardFixture({ catalogKey: KEY, keyMissLimits: { burst: 1000 } });
  });
  after(() => f.stop());

  it('7.1/7.2 lists the catalog root for path=<KEY> (and path=/<KEY>, path=<KEY>/), like path=. unkeyed', async () => {
    const plain = await rawRequest(f.port, esp8266CatalogRequest(KEY));
    assert.equal(plain.status, 200);
    assert.equal(plain.headers.get('content-type'), 'application/json');
    assert.equal(Number(plain.headers.get('content-length')), plain.body.length);
    const list = JSON.parse(plain.body.toString()) as Entry[];
    assert.equal(list.find((e) => e.name === 'a.bin')?.type, 'bin');
    assert.equal(list.find((e) => e.name === 'sub')?.type, 'directory');
    for (const form of [`/${KEY}`, `${KEY}/`, `./${KEY}`]) {
      assert.deepEqual(names(await rawRequest(f.port, esp8266CatalogRequest(form))), names(plain), form);
    }
  });

  it('7.3 lists a subfolder below the key', async () => {
    const response = await rawRequest(f.port, esp8266CatalogRequest(`${KEY}/sub`));
    assert.equal(response.status, 200);
    assert.deepEqual(names(response), ['a.bin']);
  });

  it('7.5 refuses a missing or unknown op inside the key folder with 403', async () => {
    const noOp = await rawRequest(f.port, `GET /_catalog?path=${KEY} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    assert.equal(noOp.status, 403);
    const rm = await rawRequest(
      f.port,
      `GET /_catalog?op=rm&path=${KEY} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
    );
    assert.equal(rm.status, 403);
  });

  it('7.8/7.13 serves <KEY>/a.bin (AutoConnect sends no leading slash) and /<KEY>/a.bin byte-exact with x-MD5', async () => {
    for (const target of [`${KEY}/a.bin`, `/${KEY}/a.bin`, `/${KEY}/sub/a.bin`]) {
      const response = await rawRequest(f.port, esp8266DownloadRequest(target));
      const data = target.includes('sub') ? f.files['sub/a.bin']! : f.files['a.bin']!;
      assert.equal(response.status, 200, target);
      assert.equal(response.headers.get('content-disposition'), 'attachment; filename=a.bin');
      assert.equal(response.headers.get('x-md5'), md5(data));
      assert.ok(response.body.equals(data), `${target} byte-exact`);
    }
  });

  it('7.23 answers 304 below the key to a device that runs the image', async () => {
    const response = await rawRequest(
      f.port,
      esp8266DownloadRequest(`${KEY}/a.bin`, { sketchMd5: md5(f.files['a.bin']!) }),
    );
    assert.equal(response.status, 304);
    assert.equal(response.body.length, 0);
  });

  it('7.11/7.12/7.20 answers 403 below the key: wrong agent, missing header, wrong chip family', async () => {
    const curl = `GET /${KEY}/a.bin HTTP/1.0\r\nUser-Agent: curl/8\r\n\r\n`;
    assert.equal((await rawRequest(f.port, curl)).status, 403);
    assert.equal((await rawRequest(f.port, esp8266DownloadRequest(`${KEY}/a.bin`, {}, ['sketch-md5']))).status, 403);
    assert.equal((await rawRequest(f.port, esp32DownloadRequest(`${KEY}/a.bin`))).status, 403);
    assert.equal((await rawRequest(f.port, esp8266DownloadRequest(`${KEY}/nope.bin`))).status, 404);
  });

  it('answers 404 with no image byte to every target outside the key folder', async () => {
    const upper = KEY.toUpperCase();
    const near = `${KEY.slice(0, -1)}X`;
    const catalogs = ['.', '', '/', 'sub', upper, near, `${KEY}/..`, `${KEY}/../..`, `../${KEY}`, `${KEY}x`];
    for (const path of catalogs) {
      assertOutside(await rawRequest(f.port, esp8266CatalogRequest(path)), `catalog path=${path}`, f.files);
    }
    const bare = `GET /_catalog HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`;
    assertOutside(await rawRequest(f.port, bare), '/_catalog without op', f.files);
    const downloads = [
      '/a.bin',
      'a.bin',
      './a.bin',
      '/sub/a.bin',
      `/${upper}/a.bin`,
      `/${near}/a.bin`,
      `/${KEY}x/a.bin`,
      `/x/${KEY}/a.bin`,
      `/${KEY}/../a.bin`,
      `/${KEY}/../../secret.txt`,
      '/../secret.txt',
      '/%2e%2e/secret.txt',
      `/%2e%2e/${KEY}/a.bin`,
      '/',
      `/link.bin`,
    ];
    for (const target of downloads) {
      assertOutside(await rawRequest(f.port, esp8266DownloadRequest(target)), `GET ${target}`, f.files);
    }
    const head = `HEAD /a.bin HTTP/1.0\r\nUser-Agent: ESP8266-http-Update\r\n\r\n`;
    assertOutside(await rawRequest(f.port, head, { isHead: true }), 'HEAD /a.bin', f.files, true);
    const post = `POST /_catalog?op=list&path=. HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`;
    assertOutside(await rawRequest(f.port, post), 'POST /_catalog', f.files);
  });

  it('never writes the key into the log', () => {
    assert.ok(
      f.logs.some((l) => l.message.includes('<key>')),
      'requests below the key are logged, key masked',
    );
    const leaked = f.logs.filter((l) => l.message.includes(KEY) || l.message.includes(KEY.toUpperCase()));
    assert.deepEqual(leaked, []);
  });
});

describe('catalog key: a client that keeps missing', () => {
  it('is answered 1000 times without memory growth, in a bounded number of log lines', async () => {
    const f = await standardFixture({ catalogKey: KEY });
    try {
      setFlagsFromString('--expose-gc');
      const gc = runInNewContext('gc') as () => void;
      const wrong = (i: number) =>
        `GET /${KEY.slice(0, 8)}${String(i).padStart(8, '0')}/a.bin HTTP/1.1\r\nHost: x\r\nUser-Agent: scan\r\n\r\n`;
      // 10 keep-alive connections of `count / 10` requests each, one client address. Each answer is checked and
      // dropped, so the heap measured below is the server's, not the test's.
      const batch = async (from: number, count: number) => {
        const per = count / 10;
        const runs = Array.from({ length: 10 }, async (_, c) => {
          const responses = await rawConversation(
            f.port,
            Array.from({ length: per }, (_, i) => wrong(from + c * per + i)),
          );
          for (const response of responses) assertOutside(response, 'a wrong key', f.files);
          return responses.length;
        });
        return (await Promise.all(runs)).reduce((a, b) => a + b, 0);
      };
      assert.equal(await batch(0, 100), 100);
      gc();
      const before = process.memoryUsage().heapUsed;
      assert.equal(await batch(100, 1000), 1000);
      gc();
      const grown = process.memoryUsage().heapUsed - before;
      assert.ok(grown < 1024 * 1024, `heap grew by ${grown} bytes over 1000 misses`);
      assert.equal(f.server.keyMissClients, 1, 'one address remembered');
      const lines = f.logs.filter((l) => l.message.includes('127.0.0.1'));
      assert.ok(lines.length <= 3, `log lines about the client: ${JSON.stringify(lines)}`);
      assert.ok(lines.some((l) => /outside the catalog key folder/.test(l.message)));
      assert.ok(lines.some((l) => /rate-limited/.test(l.message)));
      // Rate-limited: even the right key gets 404 now, without being compared.
      assertOutside(
        await rawRequest(f.port, esp8266DownloadRequest(`${KEY}/a.bin`)),
        'right key while limited',
        f.files,
      );
    } finally {
      await f.stop();
    }
  });

  it('is served again once its budget recovers, and the log says how many were refused meanwhile', async () => {
    let now = 1_000_000;
    const f = await standardFixture({ catalogKey: KEY, keyMissLimits: { burst: 3, refillMs: 1000, now: () => now } });
    try {
      for (let i = 0; i < 5; i++) await rawRequest(f.port, esp8266DownloadRequest('/a.bin'));
      assert.equal((await rawRequest(f.port, esp8266CatalogRequest(KEY))).status, 404, 'limited');
      now += 1000;
      assert.equal((await rawRequest(f.port, esp8266CatalogRequest(KEY))).status, 200, 'recovered');
      assert.ok(f.logs.some((l) => /rate limit over \(3 request\(s\) answered 404 meanwhile\)/.test(l.message)));
    } finally {
      await f.stop();
    }
  });
});
