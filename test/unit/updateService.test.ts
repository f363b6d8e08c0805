// The one composition both fronts use: options in, the parts whose options changed restarted, nothing else.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ServerStartError, UpdateService, type UpdateServiceOptions } from '../../src/core';
import { rawRequest } from '../support/rawHttp';
import { esp8266CatalogRequest } from '../support/deviceRequests';
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
});
