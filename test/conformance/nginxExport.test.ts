// The nginx export against the real nginx: every device conversation is sent byte for byte, over raw sockets, to
// our server and to nginx serving the export of the same catalog, and the answers are compared. Then a server with
// --export-nginx publishes a new build and nginx serves it after a reload. The table of answers is written to
// out/nginx-conformance.md (README.md shows it).

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rawRequest, type RawResponse } from '../support/rawHttp';
import {
  esp32CatalogRequest,
  esp32DownloadRequest,
  esp8266CatalogRequest,
  esp8266DownloadRequest,
} from '../support/deviceRequests';
import { esp8266ArduinoApp } from '../support/images';
import { startNginx, type RunningNginx } from '../support/nginx';
import { md5, startServer, writeStandardCatalog } from '../support/serverFixture';
import type { UpdateServer } from '../../src/core/updateServer';

const root = join(__dirname, '..', '..', '..');
const cli = join(root, 'dist', 'cli.js');
const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function exportWithCli(dir: string, catalog: string, port: number): string {
  const result = spawnSync(
    process.execPath,
    [cli, 'export', '--nginx', dir, '--catalog', catalog, '--port', String(port)],
    {
      encoding: 'utf8',
    },
  );
  assert.equal(result.status, 0, `export failed: ${result.stderr}`);
  return result.stdout;
}

/** A folder tree nginx's unprivileged worker can search (mkdtemp makes 0700 folders). */
function searchableTemp(prefix: string): string {
  const base = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(base, 0o755);
  return base;
}

const esp8266Catalog = (path: string) => esp8266CatalogRequest(path);
const rawCatalog = (query: string, agent = 'ESP8266HTTPClient', method = 'GET') =>
  `${method} /_catalog${query} HTTP/1.1\r\nHost: 192.168.1.10:8000\r\nUser-Agent: ${agent}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`;

interface Conversation {
  name: string;
  request: () => string;
  /** Expected status of each side; `same` when both must answer alike (and 200 bodies must be equal). */
  expect: { ours: number; nginx: number } | { same: number };
  /** The catalog file whose bytes a 200 must carry. */
  image?: string;
}

describe('nginx export: device conversations against nginx and against our server', () => {
  let base = '';
  let files: Record<string, Buffer> = {};
  let server: UpdateServer;
  let nginx: RunningNginx | undefined;
  let nginxPort = 0;
  const rows: string[] = [];

  before(async () => {
    const standard = writeStandardCatalog();
    files = standard.files;
    const catalog = standard.catalog;
    base = standard.base;
    chmodSync(base, 0o755); // the export goes beside the catalog, where nginx's unprivileged worker can reach it
    ({ server } = await startServer(catalog));
    nginxPort = await freePort();
    exportWithCli(join(base, 'export'), catalog, nginxPort);
    nginx = await startNginx(join(base, 'export'), nginxPort);
  });

  after(async () => {
    await nginx?.stop();
    await server?.stop();
    rmSync(base, { recursive: true, force: true });
    mkdirSync(join(root, 'out'), { recursive: true });
    writeFileSync(
      join(root, 'out', 'nginx-conformance.md'),
      ['| conversation | our server | nginx export |', '| --- | --- | --- |', ...rows, ''].join('\n'),
    );
  });

  const a = () => files['a.bin']!;
  const variantOfA = () => {
    // what an ESP8266 reports after an OTA update of a.bin: the updater rewrote the flash-mode byte (protocol.md §4)
    const copy = Buffer.from(a());
    copy[2] = (copy[2]! + 1) % 4;
    return md5(copy);
  };
  const appendedSha = (name: string) => files[name]!.subarray(-32).toString('hex').toUpperCase();

  const conversations: Conversation[] = [
    { name: 'catalog, ESP8266, `path=.`', request: () => esp8266Catalog('.'), expect: { same: 200 } },
    { name: 'catalog, old ESP32 client, `path=.`', request: () => esp32CatalogRequest('.'), expect: { same: 200 } },
    {
      name: 'catalog, a browser, `path=.`',
      request: () => rawCatalog('?op=list&path=.', 'curl/8.5'),
      expect: { same: 200 },
    },
    { name: 'catalog, `path=` (empty)', request: () => esp8266Catalog(''), expect: { same: 200 } },
    { name: 'catalog, `path=sub`', request: () => esp8266Catalog('sub'), expect: { same: 200 } },
    { name: 'catalog, `path=/sub/`', request: () => esp8266Catalog('/sub/'), expect: { same: 200 } },
    { name: 'catalog, `path=./sub`', request: () => esp8266Catalog('./sub'), expect: { same: 200 } },
    { name: 'catalog, ESP32, `path=sub%2F`', request: () => esp32CatalogRequest('sub%2F'), expect: { same: 200 } },
    { name: 'catalog, unknown folder `path=nope`', request: () => esp8266Catalog('nope'), expect: { same: 404 } },
    { name: 'catalog, `path=/etc`', request: () => esp8266Catalog('/etc'), expect: { same: 404 } },
    { name: 'catalog traversal, `path=../..`', request: () => esp8266Catalog('../..'), expect: { same: 403 } },
    { name: 'catalog traversal, `path=..%2F..`', request: () => esp8266Catalog('..%2F..'), expect: { same: 403 } },
    {
      name: 'catalog traversal, `path=../ota-x` (sibling)',
      request: () => esp8266Catalog('../ota-x'),
      expect: { same: 403 },
    },
    { name: 'catalog, no `op`', request: () => rawCatalog(''), expect: { same: 403 } },
    { name: 'catalog, `op=rm`', request: () => rawCatalog('?op=rm&path=.'), expect: { same: 403 } },
    {
      name: 'catalog, POST',
      request: () => rawCatalog('?op=list&path=.', 'ESP8266HTTPClient', 'POST'),
      expect: { same: 405 },
    },
    {
      name: 'download, ESP8266 `/a.bin`',
      request: () => esp8266DownloadRequest('/a.bin'),
      expect: { same: 200 },
      image: 'a.bin',
    },
    {
      name: 'download, ESP8266 `/sub/a.bin`',
      request: () => esp8266DownloadRequest('/sub/a.bin'),
      expect: { same: 200 },
      image: 'sub/a.bin',
    },
    {
      name: 'download, ESP8266 gzip `/d.bin.gz`',
      request: () => esp8266DownloadRequest('/d.bin.gz'),
      expect: { same: 200 },
      image: 'd.bin.gz',
    },
    {
      name: 'download, ESP8266 `/a.bin?x=1`',
      request: () => esp8266DownloadRequest('/a.bin?x=1'),
      expect: { same: 200 },
      image: 'a.bin',
    },
    {
      name: 'download, ESP32 `/esp32.bin`',
      request: () => esp32DownloadRequest('/esp32.bin'),
      expect: { same: 200 },
      image: 'esp32.bin',
    },
    {
      name: 'download, ESP32 1.0.x core (no sketch-md5) `/s3.bin`',
      request: () => esp32DownloadRequest('/s3.bin', {}, ['sketch-md5']),
      expect: { same: 200 },
      image: 's3.bin',
    },
    {
      name: 'ESP8266 already runs `a.bin` (file MD5)',
      request: () => esp8266DownloadRequest('/a.bin', { sketchMd5: md5(a()), sketchSize: a().length }),
      expect: { same: 304 },
    },
    {
      name: 'ESP8266 runs `a.bin` with its flash mode rewritten',
      request: () => esp8266DownloadRequest('/a.bin', { sketchMd5: variantOfA(), sketchSize: a().length }),
      expect: { same: 304 },
    },
    {
      name: 'ESP32 already runs `esp32.bin` (sketch-sha256)',
      request: () => esp32DownloadRequest('/esp32.bin', { sketchSha256: appendedSha('esp32.bin') }),
      expect: { same: 304 },
    },
    {
      name: 'ESP8266 asks for the ESP32 image',
      request: () => esp8266DownloadRequest('/esp32.bin'),
      expect: { same: 403 },
    },
    { name: 'ESP32 asks for the ESP8266 image', request: () => esp32DownloadRequest('/a.bin'), expect: { same: 403 } },
    {
      name: 'ESP32 running `esp32.bin` asks for the ESP32-S3 image',
      request: () => esp32DownloadRequest('/s3.bin', { sketchSha256: appendedSha('esp32.bin') }),
      expect: { same: 403 },
    },
    {
      name: 'ESP8266 filesystem update (`mode: spiffs`)',
      request: () => esp8266DownloadRequest('/a.bin', { mode: 'spiffs' }),
      expect: { same: 403 },
    },
    {
      name: 'not an update client (`curl`) asks for `/a.bin`',
      request: () => esp8266DownloadRequest('/a.bin').replace('ESP8266-http-Update', 'curl/8.5'),
      expect: { same: 403 },
    },
    {
      name: 'ESP8266 without `x-ESP8266-sketch-md5`',
      request: () => esp8266DownloadRequest('/a.bin', {}, ['sketch-md5']),
      expect: { same: 403 },
    },
    {
      name: 'bootloader `/bootloader.bin`',
      request: () => esp8266DownloadRequest('/bootloader.bin'),
      expect: { same: 403 },
    },
    { name: 'not firmware `/notes.txt`', request: () => esp8266DownloadRequest('/notes.txt'), expect: { same: 403 } },
    { name: 'folder `/sub`', request: () => esp8266DownloadRequest('/sub'), expect: { same: 403 } },
    { name: 'catalog root `/`', request: () => esp8266DownloadRequest('/'), expect: { same: 403 } },
    { name: 'unknown `/nope.bin`', request: () => esp8266DownloadRequest('/nope.bin'), expect: { same: 404 } },
    {
      name: 'link leading outside `/link.bin`',
      request: () => esp8266DownloadRequest('/link.bin'),
      expect: { same: 404 },
    },
    {
      name: 'traversal `/sub/../secret.bin`',
      request: () => esp8266DownloadRequest('/sub/../secret.bin'),
      expect: { ours: 403, nginx: 404 },
    },
    {
      name: 'traversal `/../secret.txt`',
      request: () => esp8266DownloadRequest('/../secret.txt'),
      expect: { ours: 403, nginx: 400 },
    },
    {
      name: 'traversal `/sub/../../secret.txt`',
      request: () => esp8266DownloadRequest('/sub/../../secret.txt'),
      expect: { ours: 403, nginx: 400 },
    },
    {
      name: 'traversal `/%2e%2e/secret.txt`',
      request: () => esp8266DownloadRequest('/%2e%2e/secret.txt'),
      expect: { ours: 404, nginx: 400 },
    },
    {
      name: 'AutoConnect < 1.3.5: `GET ./a.bin`',
      request: () => esp8266DownloadRequest('./a.bin'),
      expect: { ours: 200, nginx: 400 },
      image: 'a.bin',
    },
    {
      name: '`uri="sub"`: `GET sub/a.bin`',
      request: () => esp8266DownloadRequest('sub/a.bin'),
      expect: { ours: 200, nginx: 400 },
      image: 'sub/a.bin',
    },
  ];

  const cell = (r: RawResponse, conversation: Conversation) => {
    if (r.status !== 200) return String(r.status);
    if (!conversation.image) return `200, ${r.body.length} bytes`;
    const sha = r.headers.get('x-sha256');
    return `200, x-MD5${sha ? ' + x-SHA256' : ''} right`;
  };

  for (const conversation of conversations) {
    it(conversation.name, async () => {
      const request = conversation.request();
      const ours = await rawRequest(server.port, request);
      const theirs = await rawRequest(nginxPort, request);
      const expected =
        'same' in conversation.expect
          ? { ours: conversation.expect.same, nginx: conversation.expect.same }
          : conversation.expect;
      rows.push(`| ${conversation.name} | ${cell(ours, conversation)} | ${cell(theirs, conversation)} |`);
      assert.equal(ours.status, expected.ours, `our server: ${ours.statusLine}`);
      assert.equal(theirs.status, expected.nginx, `nginx: ${theirs.statusLine}`);
      for (const [who, r] of [
        ['our server', ours],
        ['nginx', theirs],
      ] as const) {
        assert.equal(r.headers.get('transfer-encoding'), undefined, `${who}: never chunked`);
        assert.equal(r.headers.get('content-encoding'), undefined, `${who}: never compressed`);
        assert.ok(!r.body.toString('latin1').includes('password'), `${who}: never a byte from outside the catalog`);
        if (r.status !== 200) continue;
        assert.equal(Number(r.headers.get('content-length')), r.body.length, `${who}: Content-Length`);
        if (conversation.image) {
          const file = files[conversation.image]!;
          assert.ok(r.body.equals(file), `${who}: the image, byte for byte`);
          assert.equal(r.headers.get('x-md5'), md5(file), `${who}: x-MD5`);
          if (who === 'nginx' || r.headers.has('x-sha256'))
            assert.equal(r.headers.get('x-sha256'), sha256(file), `${who}: x-SHA256`);
          assert.equal(r.headers.get('content-type'), 'application/octet-stream');
          assert.equal(
            r.headers.get('content-disposition'),
            `attachment; filename=${conversation.image.split('/').pop()}`,
          );
        } else {
          assert.equal(r.headers.get('content-type'), 'application/json', `${who}: catalog Content-Type`);
        }
      }
      if (ours.status === 200 && theirs.status === 200 && !conversation.image) {
        assert.equal(theirs.body.toString('latin1'), ours.body.toString('latin1'), 'the same catalog bytes');
      }
    });
  }
});

describe('--export-nginx keeps the export current', () => {
  it('publishes a new build, exports it, and nginx serves it after a reload', async () => {
    const base = searchableTemp('acus-nginx-live-');
    const project = join(base, 'projects', 'blinky');
    const build = join(project, '.pio', 'build', 'd1_mini');
    const catalog = join(base, 'catalog');
    const dir = join(base, 'export');
    mkdirSync(build, { recursive: true });
    mkdirSync(catalog);
    writeFileSync(
      join(project, 'platformio.ini'),
      '[env:d1_mini]\nplatform = espressif8266\nboard = d1_mini\nframework = arduino\n',
    );
    const first = esp8266ArduinoApp({ payloadSize: 80_000, seed: 70 });
    writeFileSync(join(catalog, 'first.bin'), first);
    const port = await freePort();
    exportWithCli(dir, catalog, port);
    const nginx = await startNginx(dir, port);
    let child: ChildProcess | undefined;
    try {
      child = spawn(
        process.execPath,
        [cli, '-p', '0', '-b', '127.0.0.1', '-d', catalog, '--watch', join(base, 'projects'), '--export-nginx', dir],
        {
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let out = '';
      let err = '';
      child.stdout!.on('data', (c) => (out += c));
      child.stderr!.on('data', (c) => (err += c));
      const ourPort = await until(
        () => Number(/listening on [^:]+:(\d+)/.exec(out)?.[1] ?? 0),
        'the banner',
        () => err,
      );
      assert.match(out, /nginx export kept current in: /);

      const image = esp8266ArduinoApp({ payloadSize: 120_000, seed: 71 });
      writeFileSync(join(build, 'firmware.bin'), image);
      const name = 'blinky-d1_mini.bin';
      // The server logs an export once it is switched in: the new build written, the first image linked.
      await until(
        () => /nginx export .*#\d+: 2 image\(s\) \(1 unchanged, 1 written\)/.test(err),
        'the export of the new build',
        () => err,
      );
      const manifest = JSON.parse(readFileSync(join(dir, readlinkSync(join(dir, 'current')), 'manifest.json'), 'utf8'));
      assert.ok(manifest.images.some((i: { relPath: string }) => i.relPath === name));

      // Until it reloads, nginx serves the export it loaded, whole: the new image is not there yet.
      const before = await rawRequest(port, esp8266DownloadRequest(`/${name}`));
      assert.equal(before.status, 404);
      nginx.reload();
      const served = await until(
        async () => {
          const r = await rawRequest(port, esp8266DownloadRequest(`/${name}`));
          return r.status === 200 ? r : undefined;
        },
        'nginx to serve the new build after the reload',
        () => nginx.stderr(),
      );
      assert.ok(served.body.equals(image));
      assert.equal(served.headers.get('x-md5'), md5(image));
      assert.equal(served.headers.get('x-sha256'), sha256(image));
      const ourCatalog = await rawRequest(ourPort, esp8266CatalogRequest());
      const nginxCatalog = await rawRequest(port, esp8266CatalogRequest());
      assert.equal(nginxCatalog.body.toString(), ourCatalog.body.toString());
      assert.deepEqual(
        JSON.parse(nginxCatalog.body.toString()).map((e: { name: string }) => e.name),
        [name, 'first.bin'],
      );
    } finally {
      // The server saves what it knows (the device state file) as it stops: let it finish before the folder goes.
      const exited =
        child && child.exitCode === null ? new Promise((resolve) => child!.once('exit', resolve)) : undefined;
      child?.kill('SIGTERM');
      await exited;
      await nginx.stop();
      rmSync(base, { recursive: true, force: true });
    }
  });
});

/** Polls until `probe` returns a truthy value (bounded), then returns it. */
async function until<T>(
  probe: () => T | Promise<T>,
  what: string,
  detail: () => string,
  ms = 20_000,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + ms;
  for (;;) {
    let value: T | undefined;
    try {
      value = await probe();
    } catch {
      value = undefined;
    }
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${detail()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
