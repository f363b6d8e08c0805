// The Catalog owns its folder: publishes and removals go through it and update the index for exactly the names they
// touched (the watcher is off here, so nothing else could), with the origin as a field of the entry. Real folders.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  existsSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Catalog } from '../../src/core/catalog/catalog';
import { CatalogStore, type CatalogChange } from '../../src/core/catalog/catalogStore';
import { ORIGINS_FILE } from '../../src/core/catalog/origins';
import { buildListing } from '../../src/core/catalog/listing';
import { UpdateService } from '../../src/core';
import { DeviceInventory } from '../../src/core/devices/deviceInventory';
import { levelLogger } from '../../src/core/log';
import { esp8266ArduinoApp } from '../support/images';
import { md5 } from '../support/serverFixture';
import { blinkyBuild } from '../support/catalogBuild';

async function until<T>(what: string, check: () => T | undefined): Promise<T> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const value = check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describe('Catalog', () => {
  it('publishes, keeps, retains and removes through the index, naming exactly the changed entries', async () => {
    const dir = realpathSync(mkdtempSync(join(tmpdir(), 'acus-catalog-')));
    writeFileSync(join(dir, 'by-hand.bin'), esp8266ArduinoApp({ payloadSize: 20_000, seed: 3 }));
    const catalog = new Catalog({ root: dir, watch: false });
    const changes: CatalogChange[] = [];
    catalog.onDidChange((change) => changes.push(change));
    let hashes = 0;
    catalog.onDidAnalyzeImage((analysis) => (hashes += analysis.work === 'hash' ? 1 : 0));
    try {
      await catalog.open();
      assert.equal(hashes, 1, 'the file put there by hand is hashed when indexed');
      const names = () =>
        catalog
          .allEntries()
          .map((e) => e.name)
          .sort();

      const first = esp8266ArduinoApp({ payloadSize: 30_000, seed: 4 });
      const r1 = await catalog.publish(blinkyBuild(first, 1));
      assert.ok(r1.published);
      assert.deepEqual(names(), ['blinky-d1_mini.bin', 'by-hand.bin'], 'listed as soon as publish resolves');
      assert.deepEqual(
        changes.at(-1)!.changed.map((e) => e.name),
        ['blinky-d1_mini.bin'],
      );
      const entry = catalog.allEntries().find((e) => e.name === 'blinky-d1_mini.bin')!;
      assert.equal(entry.version?.md5, md5(first));
      assert.equal(entry.origin?.environment, 'd1_mini');
      assert.equal(entry.origin?.md5, md5(first));
      assert.equal(catalog.allEntries().find((e) => e.name === 'by-hand.bin')!.origin, undefined);

      const second = esp8266ArduinoApp({ payloadSize: 30_000, seed: 5 });
      const r2 = await catalog.publish(blinkyBuild(second, 2));
      assert.ok(r2.published && r2.kept === 'blinky-d1_mini-20260101-120100.bin', JSON.stringify(r2));
      assert.deepEqual(
        changes
          .at(-1)!
          .changed.map((e) => e.name)
          .sort(),
        ['blinky-d1_mini-20260101-120100.bin', 'blinky-d1_mini.bin'],
      );
      const kept = catalog.allEntries().find((e) => e.name === r2.kept)!;
      assert.equal(kept.origin?.md5, md5(first), 'the kept build has the origin of the build it holds');

      const third = esp8266ArduinoApp({ payloadSize: 30_000, seed: 6 });
      const r3 = await catalog.publish(blinkyBuild(third, 3));
      assert.ok(r3.published);
      assert.deepEqual(r3.removed, ['blinky-d1_mini-20260101-120100.bin'], 'keep 1: the older dated build goes');
      assert.deepEqual(changes.at(-1)!.removed, ['blinky-d1_mini-20260101-120100.bin']);
      assert.deepEqual(names(), ['blinky-d1_mini-20260101-120200.bin', 'blinky-d1_mini.bin', 'by-hand.bin']);
      assert.equal(hashes, 1, 'the published builds were taken in with their digests, not hashed again');

      const same = await catalog.publish(blinkyBuild(third, 4));
      assert.equal(same.published, false);

      await catalog.remove('blinky-d1_mini-20260101-120200.bin');
      assert.deepEqual(names(), ['blinky-d1_mini.bin', 'by-hand.bin']);
      assert.deepEqual(changes.at(-1)!.removed, ['blinky-d1_mini-20260101-120200.bin']);
      assert.equal(existsSync(join(dir, 'blinky-d1_mini-20260101-120200.bin')), false);
      const sidecar = JSON.parse(readFileSync(join(dir, ORIGINS_FILE), 'utf8')) as Record<string, unknown>;
      assert.deepEqual(Object.keys(sidecar), ['blinky-d1_mini.bin']);
      // The listing kept in order across these changes is the listing of the entries as they are.
      const listed = await catalog.listing('', 'any');
      assert.equal(listed?.body.toString(), buildListing(catalog.allEntries(), 'any').body.toString());
      await assert.rejects(catalog.remove('missing.bin'), /not in the catalog/);
      await assert.rejects(catalog.remove('../outside.bin'), /not in the catalog/);
    } finally {
      await catalog.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('is empty while its folder is missing, and the first publish creates it (with .gitignore under .autoconnect)', async () => {
    const base = mkdtempSync(join(tmpdir(), 'acus-catalog-'));
    const dir = join(base, '.autoconnect', 'catalog');
    const catalog = new Catalog({ root: dir, watch: false, createFolder: true });
    try {
      await catalog.open();
      assert.equal(catalog.isOpen, false);
      assert.equal(catalog.openError?.code, 'ENOENT');
      assert.deepEqual(catalog.allEntries(), []);
      assert.equal(await catalog.listing('', 'any'), undefined);
      await assert.rejects(catalog.require(), /does not exist/);
      const r = await catalog.publish(blinkyBuild(esp8266ArduinoApp({ payloadSize: 10_000, seed: 7 }), 1));
      assert.ok(r.published);
      assert.equal(catalog.isOpen, true);
      assert.deepEqual(
        catalog.allEntries().map((e) => e.name),
        ['blinky-d1_mini.bin'],
      );
      assert.match(readFileSync(join(base, '.autoconnect', '.gitignore'), 'utf8'), /^\*$/m);
    } finally {
      await catalog.dispose();
      rmSync(base, { recursive: true, force: true });
    }
  });

  it('exists without a server: UpdateService lists, follows and removes, and a server later serves the same one', async () => {
    const dir = realpathSync(mkdtempSync(join(tmpdir(), 'acus-catalog-')));
    const service = new UpdateService();
    try {
      await service.update({ catalogDir: dir });
      const catalog = service.catalog!;
      assert.ok(catalog.isOpen);
      assert.equal(service.server, undefined);
      writeFileSync(join(dir, 'dropped.bin'), esp8266ArduinoApp({ payloadSize: 10_000, seed: 8 }));
      await until('the dropped file listed', () => catalog.allEntries().find((e) => e.name === 'dropped.bin'));
      await catalog.remove('dropped.bin');
      assert.equal(catalog.allEntries().length, 0);
      writeFileSync(join(dir, 'again.bin'), esp8266ArduinoApp({ payloadSize: 10_000, seed: 9 }));
      await service.update({ catalogDir: dir, serve: { port: 0, host: '127.0.0.1' } });
      assert.equal(service.server!.catalog, catalog, 'the server serves the catalog that was already open');
      await until('the new file listed', () => catalog.allEntries().find((e) => e.name === 'again.bin'));
      await service.update({ catalogDir: dir });
      assert.equal(service.server, undefined);
      assert.equal(service.catalog, catalog, 'stopping the server leaves the catalog open');
      assert.ok(catalog.isOpen);
    } finally {
      await service.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('feeds the device inventory the changed entries only: it learns a publish and a removal without reading the index', async () => {
    const dir = realpathSync(mkdtempSync(join(tmpdir(), 'acus-catalog-')));
    const catalog = new Catalog({ root: dir, watch: false });
    const inventory = new DeviceInventory({ logger: levelLogger('warn', () => undefined) });
    try {
      await catalog.open();
      let wholeReads = 0;
      const source = {
        root: catalog.root,
        onDidChange: catalog.onDidChange,
        allEntries: () => (wholeReads++, catalog.allEntries()),
      };
      inventory.followCatalog(source);
      await inventory.whenCatalogLearnt();
      assert.equal(wholeReads, 1, 'the whole index once, at the start');
      const first = esp8266ArduinoApp({ payloadSize: 30_000, seed: 11 });
      await catalog.publish(blinkyBuild(first, 1));
      await inventory.whenCatalogLearnt();
      assert.deepEqual(inventory.builds.filesOf(md5(first)), ['blinky-d1_mini.bin']);
      assert.equal(inventory.builds.identify(md5(first))?.environment, 'd1_mini', 'with its origin');
      const second = esp8266ArduinoApp({ payloadSize: 30_000, seed: 12 });
      await catalog.publish(blinkyBuild(second, 2));
      await inventory.whenCatalogLearnt();
      assert.deepEqual(inventory.builds.filesOf(md5(first)), ['blinky-d1_mini-20260101-120100.bin']);
      assert.deepEqual(inventory.builds.filesOf(md5(second)), ['blinky-d1_mini.bin']);
      await catalog.remove('blinky-d1_mini-20260101-120100.bin');
      await inventory.whenCatalogLearnt();
      assert.deepEqual(inventory.builds.filesOf(md5(first)), [], 'no entry holds the first build now');
      assert.ok(inventory.builds.identify(md5(first)), 'the build itself is remembered');
      assert.equal(wholeReads, 1, 'no change read the whole index again');
    } finally {
      inventory.dispose();
      await catalog.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('keeps the listing order across small changes: every listing equals the listing of the entries as they are', async () => {
    const dir = realpathSync(mkdtempSync(join(tmpdir(), 'acus-catalog-')));
    let seed = 7;
    const random = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2147483648), seed % n);
    const put = (name: string) => {
      const file = join(dir, `.${name}.tmp`);
      writeFileSync(file, esp8266ArduinoApp({ payloadSize: 2_000, seed: random(100_000) }));
      const at = new Date(Date.UTC(2026, 0, 1) + random(20) * 60_000); // equal times too: then by name
      utimesSync(file, at, at);
      renameSync(file, join(dir, name));
    };
    for (let i = 0; i < 40; i++) put(`fw-${i}.bin`);
    const store = new CatalogStore({ root: dir, watch: false });
    try {
      await store.open();
      for (let step = 0; step < 60; step++) {
        const name = `fw-${random(50)}.bin`;
        if (random(3) === 0) rmSync(join(dir, name), { force: true });
        else put(name);
        for (const audience of ['any', 'esp8266', 'esp32'] as const) {
          const listed = await store.listing('', audience);
          const fresh = buildListing(store.allEntries(), audience);
          assert.equal(listed?.body.toString(), fresh.body.toString(), `step ${step}, ${audience}`);
          assert.deepEqual(listed?.excluded, fresh.excluded, `step ${step}, ${audience}`);
        }
      }
    } finally {
      await store.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('keeps the origins another process recorded in the same folder (the command line beside the editor)', async () => {
    const dir = realpathSync(mkdtempSync(join(tmpdir(), 'acus-catalog-')));
    const editor = new Catalog({ root: dir, watch: false });
    const cli = new Catalog({ root: dir, watch: false });
    try {
      await editor.open();
      await cli.open();
      const other = { key: 'pio:/work/lamp:esp32', project: 'lamp', environment: 'esp32' };
      await editor.publish(blinkyBuild(esp8266ArduinoApp({ payloadSize: 10_000, seed: 21 }), 1));
      await cli.publish(
        blinkyBuild(esp8266ArduinoApp({ payloadSize: 10_000, seed: 22 }), 1, { target: other, stem: 'lamp-esp32' }),
      );
      await editor.publish(blinkyBuild(esp8266ArduinoApp({ payloadSize: 10_000, seed: 23 }), 2));
      const sidecar = JSON.parse(readFileSync(join(dir, ORIGINS_FILE), 'utf8')) as Record<string, { project: string }>;
      assert.equal(sidecar['lamp-esp32.bin']?.project, 'lamp', "the other process's publish is still there");
      assert.equal(sidecar['blinky-d1_mini.bin']?.project, 'blinky');
      assert.ok(sidecar['blinky-d1_mini-20260101-120100.bin'], 'and the kept build of this one');
    } finally {
      await cli.dispose();
      await editor.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
