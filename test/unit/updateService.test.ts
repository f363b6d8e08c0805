// The one composition both fronts use: options in, the parts whose options changed restarted, nothing else.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ServerStartError, UpdateService, type UpdateServiceOptions } from '../../src/core';
import { rawRequest } from '../support/rawHttp';
import { esp8266CatalogRequest, esp8266DownloadRequest } from '../support/deviceRequests';
import { md5 } from '../support/serverFixture';
import { esp8266ArduinoApp } from '../support/images';

describe('UpdateService', () => {
  it('starts, keeps and restarts the server by its options, and publishes a file into the served catalog', async () => {
    const base = mkdtempSync(join(tmpdir(), 'acus-service-'));
    const catalogDir = join(base, '.autoconnect', 'catalog');
    const service = new UpdateService();
    try {
      const options: UpdateServiceOptions = {
        catalogDir,
        createFolder: true,
        serve: { port: 0, host: '127.0.0.1' },
      };
      await service.update(options);
      const first = service.server;
      assert.ok(first, 'serving');
      assert.match(readFileSync(join(base, '.autoconnect', '.gitignore'), 'utf8'), /^\*$/m);

      await service.update({ ...options, keep: options.keep });
      assert.equal(service.server, first, 'same options: the same server');
      await service.update({ ...options, serve: { ...options.serve, answerNotModified: false } });
      assert.notEqual(service.server, first, 'a server option changed: a new server');

      const source = join(base, 'blink.bin');
      writeFileSync(source, esp8266ArduinoApp({ payloadSize: 50_000, seed: 90 }));
      const published: string[] = [];
      service.onDidPublish((event) => published.push(event.name));
      const result = await service.publishFile(source);
      assert.equal(result.name, 'blink.bin');
      assert.deepEqual(published, ['blink.bin']);
      assert.equal(service.origins.get('blink.bin')?.source, source);
      const listing = await rawRequest(service.server!.port, esp8266CatalogRequest());
      assert.deepEqual(
        JSON.parse(listing.body.toString()).map((e: { name: string }) => e.name),
        ['blink.bin'],
      );

      await service.update({ ...options, serve: undefined });
      assert.equal(service.server, undefined, 'not serving any more');
    } finally {
      await service.dispose();
      rmSync(base, { recursive: true, force: true });
    }
  });

  it('rejects a server that cannot start and creates no folder unless asked to', async () => {
    const base = mkdtempSync(join(tmpdir(), 'acus-service-'));
    const service = new UpdateService();
    try {
      const catalogDir = join(base, 'missing');
      await assert.rejects(
        service.update({ catalogDir, serve: { port: 0, host: '127.0.0.1' } }),
        (error: unknown) => error instanceof ServerStartError && error.code === 'CATALOG',
      );
      assert.equal(service.server, undefined);
      assert.equal(existsSync(catalogDir), false);
    } finally {
      await service.dispose();
      rmSync(base, { recursive: true, force: true });
    }
  });

  it("hashes a published build once: the served catalog takes in the publisher's analysis", async () => {
    const base = mkdtempSync(join(tmpdir(), 'acus-service-'));
    const project = join(base, 'blinky');
    const build = join(project, '.pio', 'build', 'd1_mini');
    const catalogDir = join(base, 'catalog');
    mkdirSync(build, { recursive: true });
    mkdirSync(catalogDir);
    writeFileSync(join(project, 'platformio.ini'), '[env:d1_mini]\nplatform = espressif8266\n');
    const service = new UpdateService();
    try {
      await service.update({
        catalogDir,
        keep: 2,
        serve: { port: 0, host: '127.0.0.1' },
        // Watcher events are hints (a rename right after a publish can raise none): the poll backstop is on, as in use.
        publish: { roots: [base], debounceMs: 20, pollMs: 200 },
      });
      let catalogHashes = 0;
      service.server!.catalog.onDidAnalyzeImage((a) => (catalogHashes += a.work === 'hash' ? 1 : 0));
      for (const seed of [71, 72, 73]) {
        const image = esp8266ArduinoApp({ payloadSize: 80_000, seed });
        const published = new Promise<string>((resolve) => {
          const subscription = service.onDidPublish((event) => {
            subscription.dispose();
            resolve(event.name);
          });
        });
        // Builds a minute apart (the dated names of kept builds have a resolution of one second).
        const builtAt = new Date(Date.UTC(2026, 0, 1, 12, seed));
        writeFileSync(join(build, '.firmware.tmp'), image);
        utimesSync(join(build, '.firmware.tmp'), builtAt, builtAt);
        renameSync(join(build, '.firmware.tmp'), join(build, 'firmware.bin'));
        assert.equal(await published, 'blinky-d1_mini.bin');
        const download = await rawRequest(service.server!.port, esp8266DownloadRequest('/blinky-d1_mini.bin'));
        assert.equal(download.headers.get('x-md5'), md5(image));
        assert.ok(download.body.equals(image));
      }
      const listing = await rawRequest(service.server!.port, esp8266CatalogRequest());
      assert.equal(JSON.parse(listing.body.toString()).length, 3, 'the latest build and two kept ones');
      assert.equal(catalogHashes, 0, 'the catalog hashed none of the builds the publisher had analysed');
    } finally {
      await service.dispose();
      rmSync(base, { recursive: true, force: true });
    }
  });
});
