// The server under hostile, slow and concurrent clients: it keeps serving, frees sockets, never mixes versions.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { appendFileSync, mkdtempSync, rmSync, statSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rawConversation, rawRequest, slowReader } from '../support/rawHttp';
import { esp8266CatalogRequest, esp8266DownloadRequest } from '../support/deviceRequests';
import { md5, standardFixture, startServer, type ServerFixture } from '../support/serverFixture';
import { esp8266ArduinoApp } from '../support/images';
import type { DownloadFinishedEvent, DownloadStartedEvent, RefusedEvent } from '../../src/core/serverEvents';

const roomy = { freeSpace: 16 << 20 };

function waitFor<T>(
  register: (listener: (value: T) => void) => { dispose(): void },
  predicate: (value: T) => boolean = () => true,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      subscription.dispose();
      reject(new Error('event did not come within 15 s'));
    }, 15_000);
    const subscription = register((value) => {
      if (predicate(value)) {
        clearTimeout(timer);
        subscription.dispose();
        resolve(value);
      }
    });
  });
}

function closedWithin(port: number, send: (socket: ReturnType<typeof connect>) => void): Promise<{ data: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1' });
    let data = '';
    socket.on('data', (chunk) => (data += chunk.toString('latin1')));
    socket.on('close', () => resolve({ data }));
    socket.on('error', reject);
    socket.on('connect', () => send(socket));
  });
}

/** Waits (bounded) for a condition that follows a client's close, which the server learns a moment later. */
async function settled(condition: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
}

describe('server robustness', () => {
  let f: ServerFixture;
  let big: Buffer;
  before(async () => {
    f = await standardFixture({ progressIntervalMs: 20 });
    // Larger than what loopback buffers take, so the server really waits for slow readers.
    big = esp8266ArduinoApp({ payloadSize: 12 << 20, seed: 40 });
    writeFileSync(join(f.catalog, 'big.bin'), big);
  });
  after(() => f.stop());

  it('answers a catalog request and another download while a slow device reads', async () => {
    const slow = slowReader(f.port, esp8266DownloadRequest('/big.bin', roomy), 0);
    await waitFor(f.server.onDidProgressDownload, (e) => e.sent > 0 && e.sent < e.total);
    const catalog = await rawRequest(f.port, esp8266CatalogRequest());
    assert.equal(catalog.status, 200);
    const other = await rawRequest(f.port, esp8266DownloadRequest('/a.bin'));
    assert.equal(other.status, 200);
    assert.equal(md5(other.body), md5(f.files['a.bin']!));
    // The other download ends once its client has closed after the last byte; the slow one is still under way.
    await settled(() => f.server.activeDownloads.length === 1);
    assert.equal(f.server.activeDownloads.length, 1, 'the slow download was still under way');
    slow.release();
    const done = await slow.done;
    assert.ok(done.body.equals(big));
  });

  it('keeps a download consistent when its file is replaced (rename) or rewritten in place meanwhile', async () => {
    for (const replace of ['rename', 'in-place'] as const) {
      const original = esp8266ArduinoApp({ payloadSize: 12 << 20, seed: replace === 'rename' ? 41 : 42 });
      writeFileSync(join(f.catalog, 'swap.bin'), original);
      const slow = slowReader(f.port, esp8266DownloadRequest('/swap.bin', roomy), 0);
      await waitFor(f.server.onDidProgressDownload, (e) => e.sent > 0 && e.sent < e.total);
      const replacement = esp8266ArduinoApp({ payloadSize: 500_000, seed: 43 });
      await settled(() => f.server.activeDownloads.length === 1);
      assert.equal(f.server.activeDownloads.length, 1, 'replaced while the download is under way');
      if (replace === 'rename') {
        writeFileSync(join(f.catalog, '.swap.tmp'), replacement);
        renameSync(join(f.catalog, '.swap.tmp'), join(f.catalog, 'swap.bin'));
      } else {
        writeFileSync(join(f.catalog, 'swap.bin'), replacement);
      }
      slow.release();
      const response = await slow.done;
      assert.equal(response.headers.get('x-md5'), md5(original), replace);
      assert.ok(response.body.equals(original), `${replace}: the bytes of the version the download started with`);
      const next = await rawRequest(f.port, esp8266DownloadRequest('/swap.bin', roomy));
      assert.equal(next.headers.get('x-md5'), md5(replacement), `${replace}: the next download gets the new version`);
      assert.ok(next.body.equals(replacement));
    }
  });

  it('hashes a file version once, however many devices download it', async () => {
    await rawRequest(f.port, esp8266DownloadRequest('/a.bin'));
    const before = f.work.hashes;
    await Promise.all(Array.from({ length: 30 }, () => rawRequest(f.port, esp8266DownloadRequest('/a.bin'))));
    assert.equal(f.work.hashes, before);
  });

  it('serves 50 devices at once, each byte-exact', async () => {
    const responses = await Promise.all(
      Array.from({ length: 50 }, () => rawRequest(f.port, esp8266DownloadRequest('/a.bin'))),
    );
    for (const response of responses) {
      assert.equal(response.status, 200);
      assert.ok(response.body.equals(f.files['a.bin']!));
    }
  });

  it('shares its writes among 16 full-speed downloads and one device that stopped reading, each byte-exact', async () => {
    const mid = esp8266ArduinoApp({ payloadSize: 3 << 20, seed: 44 });
    writeFileSync(join(f.catalog, 'mid.bin'), mid);
    const stalled = slowReader(f.port, esp8266DownloadRequest('/big.bin', roomy), 0);
    await waitFor(f.server.onDidProgressDownload, (e) => e.sent > 0 && e.sent < e.total);
    const responses = await Promise.all(
      Array.from({ length: 16 }, () =>
        rawRequest(f.port, esp8266DownloadRequest('/mid.bin', roomy), { timeoutMs: 60_000 }),
      ),
    );
    for (const response of responses) {
      assert.equal(response.status, 200);
      assert.equal(response.headers.get('x-md5'), md5(mid));
      assert.ok(response.body.equals(mid), 'byte-exact');
    }
    await settled(() => f.server.activeDownloads.length === 1);
    assert.equal(f.server.activeDownloads.length, 1, 'the stalled download is still under way');
    stalled.release();
    assert.ok((await stalled.done).body.equals(big));
  });

  it('answers junk with 400 and closes, oversized lines with 414/431, and keeps serving', async () => {
    const junk = await rawRequest(
      f.port,
      Buffer.from([0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1, 0x03, 0x03, 0x0d, 0x0a, 0x0d, 0x0a]),
    );
    assert.equal(junk.status, 400);
    assert.equal(junk.closed, true);
    assert.equal((await rawRequest(f.port, `GET /${'a'.repeat(10_000)} HTTP/1.0\r\n\r\n`)).status, 414);
    assert.equal(
      (await rawRequest(f.port, `GET / HTTP/1.0\r\n${'X-Filler: 0123456789\r\n'.repeat(1500)}\r\n`)).status,
      431,
    );
    assert.equal((await rawRequest(f.port, 'GET /a.bin HTTP/3.0\r\n\r\n')).status, 505);
    assert.equal((await rawRequest(f.port, 'GET /a b.bin HTTP/1.0\r\n\r\n')).status, 400);
    for (let i = 0; i < 20; i++) {
      const bytes = Buffer.from(Array.from({ length: 200 }, (_, j) => (i * 31 + j * 17) % 256));
      await rawRequest(f.port, Buffer.concat([bytes, Buffer.from('\r\n\r\n')])).catch(() => undefined);
    }
    assert.equal((await rawRequest(f.port, esp8266CatalogRequest())).status, 200);
  });

  it('answers 400 to two Host headers and to conflicting Content-Length, on a keep-alive connection too', async () => {
    const catalog = esp8266CatalogRequest();
    const twoHosts = catalog.replace('Host: ', 'Host: evil.example\r\nHost: ');
    const twoLengths = esp8266DownloadRequest('/a.bin').replace(
      'Content-Length: 0',
      'Content-Length: 0\r\nContent-Length: 9',
    );
    for (const request of [twoHosts, twoLengths]) {
      const reply = await rawRequest(f.port, request);
      assert.equal(reply.status, 400, request);
      assert.equal(reply.closed, true);
    }
    // A good request first, then the bad one on the same connection: the first is answered, the second gets 400.
    const replies = await rawConversation(f.port, [catalog, twoHosts]);
    assert.deepEqual(
      replies.map((r) => r.status),
      [200, 400],
    );
    assert.ok(f.logs.some((l) => /more than one Host header/.test(l.message)));
    assert.ok(f.logs.some((l) => /conflicting Content-Length values \(0, 9\)/.test(l.message)));
    const same = esp8266DownloadRequest('/a.bin').replace(
      'Content-Length: 0',
      'Content-Length: 0\r\nContent-Length: 0',
    );
    const served = await rawRequest(f.port, same);
    assert.equal(served.status, 200);
    assert.equal(md5(served.body), md5(f.files['a.bin']!));
  });

  it('closes an idle connection and answers 408 to a head that dribbles in', async () => {
    const { server } = await startServer(f.catalog, { timeouts: { idleMs: 300, headersMs: 800 } });
    try {
      const idle = await closedWithin(server.port, () => undefined);
      assert.equal(idle.data, '', 'an idle connection is closed without a word');
      const dribble = await closedWithin(server.port, (socket) => {
        socket.write('GET /_catalog?op=list&path=. HTTP/1.1\r\n');
        const timer = setInterval(() => (socket.writable ? socket.write('X-A: b\r\n') : clearInterval(timer)), 150);
        socket.on('close', () => clearInterval(timer));
      });
      assert.match(dribble.data, /^HTTP\/1\.1 408 /);
    } finally {
      await server.stop();
    }
  });

  it('answers pipelined requests in order and a half-closed client in full', async () => {
    const [a, b] = await rawConversation(f.port, [esp8266CatalogRequest() + esp8266CatalogRequest('sub'), '']);
    assert.equal(a!.status, 200);
    assert.equal(b!.status, 200);
    const halfClosed = await new Promise<Buffer>((resolve) => {
      const socket = connect({ port: f.port, host: '127.0.0.1' });
      const chunks: Buffer[] = [];
      socket.on('data', (c) => chunks.push(c));
      socket.on('close', () => resolve(Buffer.concat(chunks)));
      socket.end(esp8266DownloadRequest('/a.bin'));
    });
    assert.ok(halfClosed.subarray(halfClosed.indexOf('\r\n\r\n') + 4).equals(f.files['a.bin']!));
  });

  it('tells its listeners who downloaded what, how far, and how it ended', async () => {
    const started = waitFor<DownloadStartedEvent>(f.server.onDidStartDownload, (e) => e.entry === 'a.bin');
    const finished = waitFor<DownloadFinishedEvent>(f.server.onDidFinishDownload, (e) => e.entry === 'a.bin');
    await rawRequest(f.port, esp8266DownloadRequest('/a.bin', { staMac: '18:FE:AA:00:00:01' }));
    const start = await started;
    assert.equal(start.device.staMac, '18:FE:AA:00:00:01');
    assert.equal(start.device.family, 'esp8266');
    assert.equal(start.md5, md5(f.files['a.bin']!));
    const end = await finished;
    assert.equal(end.outcome, 'downloaded');
    assert.equal(end.sent, f.files['a.bin']!.length);

    const refused = waitFor<RefusedEvent>(f.server.onDidRefuseRequest, (e) => e.entry === 'esp32.bin');
    await rawRequest(f.port, esp8266DownloadRequest('/esp32.bin'));
    const refusal = await refused;
    assert.equal(refusal.status, 403);
    assert.equal(refusal.device?.staMac, '18:FE:AA:AA:AA:AA');

    const aborted = waitFor<DownloadFinishedEvent>(
      f.server.onDidFinishDownload,
      (e) => e.entry === 'big.bin' && e.outcome === 'aborted',
    );
    const slow = slowReader(f.port, esp8266DownloadRequest('/big.bin', roomy), 0);
    await waitFor(f.server.onDidProgressDownload, (e) => e.sent > 0 && e.sent < e.total);
    slow.socket.destroy();
    slow.done.catch(() => undefined);
    const abort = await aborted;
    assert.ok(abort.sent < big.length);
    assert.ok(f.logs.some((l) => /aborted after/.test(l.message)));
    await settled(() => f.server.activeDownloads.length === 0);
    assert.equal(f.server.activeDownloads.length, 0);
  });

  it('serves on and logs once, with its stack, when a listener of its events throws', async () => {
    const broken = f.server.onDidStartDownload(function staleView() {
      throw new Error('view disposed');
    });
    try {
      for (let i = 0; i < 3; i++) {
        const finished = waitFor<DownloadFinishedEvent>(f.server.onDidFinishDownload, (e) => e.entry === 'a.bin');
        const answer = await rawRequest(f.port, esp8266DownloadRequest('/a.bin'));
        assert.equal(answer.status, 200);
        assert.ok(answer.body.equals(f.files['a.bin']!));
        assert.equal((await finished).outcome, 'downloaded');
      }
      const lines = f.logs.filter((l) => /view disposed/.test(l.message));
      assert.equal(lines.length, 1, 'logged once, not per download');
      assert.equal(lines[0]!.level, 'error');
      assert.match(lines[0]!.message, /download started/);
      assert.match(lines[0]!.message, /at staleView /);
    } finally {
      broken.dispose();
    }
  });

  it('frees the port on stop, ending downloads in flight', async () => {
    const { server, logs } = await startServer(f.catalog);
    const slow = slowReader(server.port, esp8266DownloadRequest('/big.bin', roomy), 20_000);
    slow.done.catch(() => undefined);
    await waitFor(server.onDidStartDownload);
    await server.stop();
    await new Promise<void>((resolve, reject) => {
      const probe = connect({ port: server.port, host: '127.0.0.1' });
      probe.on('connect', () => reject(new Error('still listening')));
      probe.on('error', () => resolve());
    });
    assert.ok(logs.some((l) => /aborted/.test(l.message)));
  });
});

describe('a file finished after it was indexed', () => {
  it('is served once complete, even before any watcher reports the change', async () => {
    // No watcher: only the download's own check can see that the file grew (appending does not move the
    // folder's mtime, so the catalog's folder check cannot see it either).
    const catalog = mkdtempSync(join(tmpdir(), 'acus-late-'));
    const { server } = await startServer(catalog, { watchCatalog: false });
    try {
      const image = esp8266ArduinoApp({ payloadSize: 400_000, seed: 44 });
      const cut = 250_000;
      writeFileSync(join(catalog, 'late.bin'), image.subarray(0, cut));
      const early = await rawRequest(server.port, esp8266DownloadRequest('/late.bin', roomy));
      assert.equal(early.status, 403, 'a half-written image is never served');
      const dirMtime = statSync(catalog).mtimeMs;
      appendFileSync(join(catalog, 'late.bin'), image.subarray(cut));
      assert.equal(statSync(catalog).mtimeMs, dirMtime, 'the folder did not change: only the file did');
      const done = await rawRequest(server.port, esp8266DownloadRequest('/late.bin', roomy));
      assert.equal(done.status, 200);
      assert.equal(done.headers.get('x-md5'), md5(image));
      assert.ok(done.body.equals(image));
    } finally {
      await server.stop();
      rmSync(catalog, { recursive: true, force: true });
    }
  });
});

describe('image store under a crowd', () => {
  it('reads and hashes a new version once when many devices ask for it at the same moment', async () => {
    const f = await standardFixture();
    try {
      const image = esp8266ArduinoApp({ payloadSize: 500_000, seed: 44 });
      writeFileSync(join(f.catalog, 'crowd.bin'), image);
      const before = f.work.hashes;
      const responses = await Promise.all(
        Array.from({ length: 40 }, () => rawRequest(f.port, esp8266DownloadRequest('/crowd.bin'))),
      );
      assert.ok(responses.every((r) => r.status === 200 && r.body.equals(image)));
      assert.equal(f.work.hashes - before, 1);
    } finally {
      await f.stop();
    }
  });
});

describe('hash work', () => {
  it('hashes each version once even when its bytes were evicted from the cache', async () => {
    const f = await standardFixture({ cacheBytes: 1 << 20 });
    try {
      const one = esp8266ArduinoApp({ payloadSize: 700_000, seed: 45 });
      const two = esp8266ArduinoApp({ payloadSize: 700_000, seed: 46 });
      writeFileSync(join(f.catalog, 'one.bin'), one);
      writeFileSync(join(f.catalog, 'two.bin'), two);
      await rawRequest(f.port, esp8266DownloadRequest('/one.bin', roomy));
      await rawRequest(f.port, esp8266DownloadRequest('/two.bin', roomy));
      const before = f.work.hashes;
      for (let i = 0; i < 6; i++) {
        const name = i % 2 === 0 ? 'one' : 'two';
        const response = await rawRequest(f.port, esp8266DownloadRequest(`/${name}.bin`, roomy));
        assert.equal(response.headers.get('x-md5'), md5(name === 'one' ? one : two));
      }
      assert.equal(f.work.hashes, before, 'no re-hash after eviction');
    } finally {
      await f.stop();
    }
  });

  it('hashes each published build once while devices download the build it replaces', async () => {
    // Publishing replaces an entry by renaming a new file over it. A device that opened the old file just before
    // sees it unlinked, and the unlink moves its ctime: same bytes, and still no second hash.
    const f = await standardFixture();
    try {
      const builds = Array.from({ length: 20 }, (_, i) => esp8266ArduinoApp({ payloadSize: 200_000, seed: 100 + i }));
      const expected = new Set(builds.map(md5));
      writeFileSync(join(f.catalog, 'fw.bin'), builds[0]!);
      await rawRequest(f.port, esp8266DownloadRequest('/fw.bin', roomy));
      const before = f.work.hashes;
      let next = 0;
      const worker = async () => {
        while (next < 400) {
          const i = next++;
          if (i > 0 && i % 20 === 0) {
            writeFileSync(join(f.catalog, '.fw.bin.tmp'), builds[i / 20]!);
            renameSync(join(f.catalog, '.fw.bin.tmp'), join(f.catalog, 'fw.bin'));
          }
          const response = await rawRequest(f.port, esp8266DownloadRequest('/fw.bin', roomy));
          assert.equal(response.status, 200);
          assert.equal(response.headers.get('x-md5'), md5(response.body));
          assert.ok(expected.has(md5(response.body)));
        }
      };
      await Promise.all(Array.from({ length: 8 }, worker));
      assert.equal(f.work.hashes - before, 19, 'one hash per new build');
    } finally {
      await f.stop();
    }
  });

  it('computes the running-image MD5 variants only for a device that may run the image', async () => {
    const f = await standardFixture();
    try {
      const a = f.files['a.bin']!;
      for (let i = 0; i < 5; i++) await rawRequest(f.port, esp8266DownloadRequest('/a.bin', { sketchSize: 123_456 }));
      assert.equal(f.work.variants, 0);
      for (let i = 0; i < 5; i++) await rawRequest(f.port, esp8266DownloadRequest('/a.bin', { sketchSize: a.length }));
      assert.equal(f.work.variants, 1);
    } finally {
      await f.stop();
    }
  });
});
