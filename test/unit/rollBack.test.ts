// Roll back: a kept (dated) build becomes its target's current entry again, the one name polling boards ask for.
// Real folders, a watched PlatformIO project, a real server on a real socket, and a board speaking ESP8266httpUpdate's
// exact request (protocol.md §2): it gets the older build as a 200 with that build's x-MD5.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, utimesSync } from 'node:fs';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UpdateService, levelLogger, type CatalogChange, type UpdateServiceOptions } from '../../src/core';
import { Catalog } from '../../src/core/catalog/catalog';
import { ORIGINS_FILE, type Origin } from '../../src/core/catalog/origins';
import { findKeptBuild, parseDatedName } from '../../src/core/catalog/keptBuilds';
import { rawRequest } from '../support/rawHttp';
import { esp8266CatalogRequest, esp8266DownloadRequest } from '../support/deviceRequests';
import { md5 } from '../support/serverFixture';
import { esp8266ArduinoApp } from '../support/images';
import { blinkyBuild } from '../support/catalogBuild';

const CURRENT = 'blinky-d1_mini.bin';
const BUILD_1 = 'blinky-d1_mini-20260101-120100.bin';
const BUILD_2 = 'blinky-d1_mini-20260101-120200.bin';

async function until<T>(what: string, check: () => T | undefined): Promise<T> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const value = check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** A board that runs `running` and polls the stable name, as `ESPhttpUpdate.update(client, url)` in its loop does. */
function poll(port: number, running: Buffer) {
  return rawRequest(
    port,
    esp8266DownloadRequest(`/${CURRENT}`, { sketchMd5: md5(running), sketchSize: running.length }),
  );
}

/** A PlatformIO project `blinky` (env d1_mini) and an empty catalog folder beside it, and a logger that keeps lines. */
function blinkyProject(prefix: string) {
  const base = mkdtempSync(join(tmpdir(), prefix));
  const output = join(base, 'blinky', '.pio', 'build', 'd1_mini');
  const catalogDir = join(base, 'catalog');
  mkdirSync(output, { recursive: true });
  mkdirSync(catalogDir);
  writeFileSync(join(base, 'blinky', 'platformio.ini'), '[env:d1_mini]\nplatform = espressif8266\n');
  const lines: string[] = [];
  const logger = levelLogger('debug', (level, message) => lines.push(`${level} ${message}`));
  return { base, output, catalogDir, lines, logger };
}

describe('Roll back', () => {
  it('makes a kept build current for boards polling the stable name, keeps the replaced one, and survives a restart', async () => {
    const { base, output, catalogDir, lines, logger } = blinkyProject('acus-rollback-');
    const serve = { port: 0, host: '127.0.0.1' };
    const stopped: UpdateServiceOptions = {
      catalogDir,
      keep: 3,
      publish: { roots: [base], debounceMs: 20, pollMs: 200 },
    };
    let service = new UpdateService({ logger });
    const build1 = esp8266ArduinoApp({ payloadSize: 80_000, seed: 81 });
    const build2 = esp8266ArduinoApp({ payloadSize: 80_000, seed: 82 });
    try {
      await service.update({ ...stopped, serve });
      const catalog = service.catalog!;
      for (const [image, minute] of [
        [build1, 1],
        [build2, 2],
      ] as const) {
        const published = new Promise<string>((resolve) => {
          const subscription = service.onDidPublish((event) => {
            subscription.dispose();
            resolve(event.name);
          });
        });
        const builtAt = new Date(Date.UTC(2026, 0, 1, 12, minute));
        writeFileSync(join(output, '.firmware.tmp'), image);
        utimesSync(join(output, '.firmware.tmp'), builtAt, builtAt);
        renameSync(join(output, '.firmware.tmp'), join(output, 'firmware.bin'));
        assert.equal(await published, CURRENT);
      }
      assert.equal((await poll(service.server!.port, build2)).status, 304, 'a board running build 2 is up to date');
      assert.deepEqual([...catalog.keptBuilds().keys()], [BUILD_1], 'build 1 is kept and can be rolled back to');

      let hashes = 0;
      catalog.onDidAnalyzeImage((analysis) => (hashes += analysis.work === 'hash' ? 1 : 0));
      const changes: CatalogChange[] = [];
      service.onDidChangeCatalog((change) => changes.push(change));

      // With the server stopped, as from the editor's catalog view.
      await service.update(stopped);
      assert.equal(service.server, undefined);
      const back = await service.rollBack(BUILD_1);
      assert.deepEqual(
        { name: back.name, from: back.from, kept: back.kept, removed: back.removed },
        { name: CURRENT, from: BUILD_1, kept: BUILD_2, removed: [BUILD_1] },
      );
      assert.equal(back.origin.md5, md5(build1));
      assert.ok(readFileSync(join(catalogDir, CURRENT)).equals(build1), 'the current entry holds build 1');
      assert.ok(readFileSync(join(catalogDir, BUILD_2)).equals(build2), 'build 2 is kept under its own dated name');
      assert.equal(existsSync(join(catalogDir, BUILD_1)), false, "build 1's dated copy is the current entry now");
      assert.deepEqual(
        readdirSync(catalogDir).filter((n) => n.startsWith('.publish-')),
        [],
        'no temp file is left',
      );
      const change = changes.at(-1)!;
      assert.deepEqual(change.changed.map((e) => e.name).sort(), [BUILD_2, CURRENT], 'exactly the changed entries');
      assert.deepEqual(change.removed, [BUILD_1]);
      const entries = new Map(catalog.allEntries().map((e) => [e.name, e]));
      assert.deepEqual([...entries.keys()].sort(), [BUILD_2, CURRENT]);
      assert.equal(entries.get(CURRENT)!.version?.md5, md5(build1));
      assert.equal(entries.get(CURRENT)!.origin?.md5, md5(build1), 'the origin came along');
      assert.equal(entries.get(CURRENT)!.origin?.builtAt, '2026-01-01T12:01:00.000Z');
      assert.equal(entries.get(CURRENT)!.mtimeMs, Date.UTC(2026, 0, 1, 12, 1), "the listing's date is build 1's");
      assert.equal(entries.get(BUILD_2)!.origin?.md5, md5(build2));
      const sidecar = JSON.parse(readFileSync(join(catalogDir, ORIGINS_FILE), 'utf8')) as Record<string, Origin>;
      assert.deepEqual(Object.keys(sidecar), [BUILD_2, CURRENT]);
      assert.equal(sidecar[CURRENT]!.md5, md5(build1));
      assert.equal(sidecar[CURRENT]!.replacedBuiltAt, '2026-01-01T12:02:00.000Z', 'the newer build it replaced');
      assert.ok(
        lines.includes(
          `info catalog: ${CURRENT} holds the build of 2026-01-01T12:01:00.000Z again (from ${BUILD_1}); the build it replaced is kept as ${BUILD_2}`,
        ),
        lines.join('\n'),
      );

      // Served: the board running build 2 is offered build 1, byte for byte, with build 1's digest.
      await service.update({ ...stopped, serve });
      const port = service.server!.port;
      const download = await poll(port, build2);
      assert.equal(download.status, 200);
      assert.equal(download.headers.get('x-md5'), md5(build1));
      assert.ok(download.body.equals(build1));
      assert.equal((await poll(port, build1)).status, 304, 'once it runs build 1 it is up to date');
      const listing = JSON.parse((await rawRequest(port, esp8266CatalogRequest())).body.toString()) as {
        name: string;
      }[];
      assert.deepEqual(listing.map((e) => e.name).sort(), [BUILD_2, CURRENT]);

      // Undone while serving: build 2 is current again and build 1 kept again.
      const undo = await service.rollBack(BUILD_2);
      assert.deepEqual([undo.name, undo.kept, undo.removed], [CURRENT, BUILD_1, [BUILD_2]]);
      const again = await poll(port, build1);
      assert.equal(again.headers.get('x-md5'), md5(build2));
      assert.ok(again.body.equals(build2));
      await service.rollBack(BUILD_1);
      assert.equal(hashes, 0, 'nothing was hashed again: the catalog knew every version');

      // A restart publishes the outputs newer than the catalog's entries: build 2's output is older than the roll back.
      await service.dispose();
      lines.length = 0;
      service = new UpdateService({ logger });
      await service.update({ ...stopped, serve });
      await until('the start-up look at build 2', () =>
        lines.find((l) => l.includes(`not publishing ${join(output, 'firmware.bin')}: ${CURRENT} holds a newer build`)),
      );
      assert.equal((await poll(service.server!.port, build2)).headers.get('x-md5'), md5(build1));

      // What cannot be rolled back to says why, in one line, and changes nothing.
      writeFileSync(join(catalogDir, 'by-hand-20260101-120000.bin'), build1);
      await service.catalog!.rescanAll();
      const before = readdirSync(catalogDir).sort();
      for (const name of [
        CURRENT,
        '../outside-20260101-120100.bin',
        'sub/blinky-d1_mini-20260101-120100.bin',
        'blinky-d1_mini-20250101-000000.bin',
        'by-hand-20260101-120000.bin',
      ]) {
        const error = await service.rollBack(name).then(
          () => assert.fail(`${name} was rolled back to`),
          (e: Error) => e,
        );
        assert.match(error.message, /is not a kept build/, name);
        assert.ok(!error.message.includes('\n'), error.message);
      }
      assert.deepEqual(readdirSync(catalogDir).sort(), before);
      await service.catalog!.remove(CURRENT);
      await assert.rejects(service.rollBack(BUILD_2), /no current build to replace: blinky-d1_mini\.bin is not in/);
      assert.ok(existsSync(join(catalogDir, BUILD_2)), 'the kept build stays');
    } finally {
      await service.dispose();
      rmSync(base, { recursive: true, force: true });
    }
  });

  it("publishes a newer output at start-up by the file system's clock, though the server's clock ran ahead", async () => {
    const { base, output, catalogDir, lines, logger } = blinkyProject('acus-clock-');
    const options: UpdateServiceOptions = { catalogDir, keep: 3, publish: { roots: [base], debounceMs: 20 } };
    const build1 = esp8266ArduinoApp({ payloadSize: 50_000, seed: 91 });
    const build2 = esp8266ArduinoApp({ payloadSize: 50_000, seed: 92 });
    let service = new UpdateService({ logger });
    try {
      await service.update(options);
      const published = new Promise<void>((resolve) => service.onDidPublish(() => resolve()));
      writeFileSync(join(output, 'firmware.bin'), build1);
      await published;
      await service.dispose();
      const sidecar = JSON.parse(readFileSync(join(catalogDir, ORIGINS_FILE), 'utf8')) as Record<string, Origin>;
      const entry = sidecar[CURRENT]!;
      assert.equal(entry.replacedBuiltAt, undefined, 'a first build replaced nothing');
      // The server that published it had a clock an hour ahead (a VM after a sleep; a share with its own clock).
      entry.publishedAt = new Date(Date.now() + 3_600_000).toISOString();
      writeFileSync(join(catalogDir, ORIGINS_FILE), JSON.stringify(sidecar));

      // Build 2 is written while the editor is closed: newer than the entry by the file system's clock.
      await new Promise((resolve) => setTimeout(resolve, 20));
      writeFileSync(join(output, 'firmware.bin'), build2);
      lines.length = 0;
      service = new UpdateService({ logger });
      let republished = false;
      service.onDidPublish(() => (republished = true));
      await service.update(options);
      await until('build 2 published at start-up', () => republished || lines.find((l) => l.includes('holds a newer')));
      assert.ok(readFileSync(join(catalogDir, CURRENT)).equals(build2), lines.join('\n'));
      assert.ok(!lines.some((l) => l.includes('holds a newer build')), lines.join('\n'));
    } finally {
      await service.dispose();
      rmSync(base, { recursive: true, force: true });
    }
  });

  it('keeps retention: with keep 1 the kept build is the one replaced, and nothing older', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'acus-rollback-'));
    const catalog = new Catalog({ root: dir, watch: false });
    try {
      await catalog.open();
      const images = [1, 2, 3].map((seed) => esp8266ArduinoApp({ payloadSize: 20_000, seed: 90 + seed }));
      for (const [i, image] of images.entries())
        assert.ok((await catalog.publish(blinkyBuild(image, i + 1))).published);
      assert.deepEqual([...catalog.keptBuilds().keys()], [BUILD_2], 'keep 1: build 2 is the one kept');
      const back = await catalog.rollBack(BUILD_2, { keep: 1 });
      assert.deepEqual([back.kept, back.removed], ['blinky-d1_mini-20260101-120300.bin', [BUILD_2]]);
      assert.deepEqual(
        catalog
          .allEntries()
          .map((e) => e.name)
          .sort(),
        ['blinky-d1_mini-20260101-120300.bin', CURRENT],
      );
      // keep 0 still keeps the replaced build: a roll back can always be undone.
      const undo = await catalog.rollBack('blinky-d1_mini-20260101-120300.bin', { keep: 0 });
      assert.equal(undo.kept, BUILD_2);
      assert.ok(readFileSync(join(dir, CURRENT)).equals(images[2]!));
      assert.deepEqual([...catalog.keptBuilds().keys()], [BUILD_2]);
    } finally {
      await catalog.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('tells kept builds by their dated names, of every entry kind, and says why another name is not one', () => {
    assert.deepEqual(parseDatedName('blinky-d1_mini-20260101-120100.bin.gz'), {
      stem: 'blinky-d1_mini',
      ext: '.bin.gz',
    });
    assert.deepEqual(parseDatedName('web-esp32-20260101-120100.littlefs.bin'), {
      stem: 'web-esp32',
      ext: '.littlefs.bin',
    });
    assert.deepEqual(parseDatedName('a-b-20260101-120100-20260102-000000.bin'), {
      stem: 'a-b-20260101-120100',
      ext: '.bin',
    });
    for (const name of ['blinky.bin', 'blinky-2026-01-01.bin', 'blinky-20260101-120100.hex', '-20260101-120100.bin'])
      assert.equal(parseDatedName(name), undefined, name);

    const origin = (md5: string, target = 't'): Origin => ({
      project: 'web',
      source: '/s',
      builtAt: '2026-01-01T12:01:00.000Z',
      publishedAt: '2026-01-01T12:01:01.000Z',
      md5,
      target,
    });
    const origins = new Map([
      ['web-esp32.littlefs.bin', origin('b')],
      ['web-esp32-20260101-120100.littlefs.bin', origin('a')],
      ['web-esp32-20260101-120000.littlefs.bin', origin('b')],
      ['other-20260101-120000.bin', origin('c', 'u')],
      ['other.bin', origin('d', 'v')],
    ]);
    const all = (_name: string) => true;
    const found = findKeptBuild('web-esp32-20260101-120100.littlefs.bin', origins, all);
    assert.ok('kept' in found && found.kept.current === 'web-esp32.littlefs.bin', JSON.stringify(found));
    const reason = (name: string, present = all) => {
      const answer = findKeptBuild(name, origins, present);
      return 'reason' in answer ? answer.reason : 'kept';
    };
    assert.match(reason('web-esp32-20260101-120000.littlefs.bin'), /already holds the build of/);
    assert.match(reason('other-20260101-120000.bin'), /holds a build of another target/);
    assert.match(
      reason('web-esp32-20260101-120100.littlefs.bin', (n) => n !== 'web-esp32.littlefs.bin'),
      /no current build to replace/,
    );
    assert.match(
      reason('web-esp32-20260101-120100.littlefs.bin', (n) => n !== 'web-esp32-20260101-120100.littlefs.bin'),
      /is not a kept build/,
    );
  });
});
