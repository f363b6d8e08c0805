// The device inventory end to end: a real server on a real socket, raw-socket devices sending the exact ESP8266 and
// ESP32 headers of protocol.md §2, a real PlatformIO project watched by the real publisher, a real state file.

import { strict as assert } from 'node:assert';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DeviceInventory, defaultStateFile, type CatalogSource } from '../../src/core/devices/deviceInventory';
import { KnownImages } from '../../src/core/devices/knownImages';
import { MAX_DEVICES, MAX_UPDATES, STATE_FILE, parseDeviceState } from '../../src/core/devices/deviceState';
import type { UpdateRecord } from '../../src/core/devices/deviceRegistry';
import { levelLogger } from '../../src/core/log';
import { BuildPublisher, type PublishEvent } from '../../src/core/publish/buildPublisher';
import { UpdateServer } from '../../src/core/updateServer';
import { esp32DownloadRequest, esp8266DownloadRequest } from '../support/deviceRequests';
import { esp32App, esp8266ArduinoApp } from '../support/images';
import { rawRequest, slowReader } from '../support/rawHttp';
import { md5 } from '../support/serverFixture';
import { yieldIfBusy } from '../../src/core/work/loopTurn';
import { until } from '../support/waits';

const A = '18:FE:34:00:00:0A';
const B = '18:FE:34:00:00:0B';

interface Bench {
  base: string;
  project: string;
  firmware: string;
  catalog: string;
  logs: string[];
  inventory: DeviceInventory;
  server: UpdateServer;
  publisher: BuildPublisher;
  published: PublishEvent[];
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** A PlatformIO project with one ESP8266 env, its catalog, a publisher, an inventory and a server, like the CLI. */
async function bench(build1: Buffer): Promise<Bench> {
  const base = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'inventory-')));
  const project = path.join(base, 'blinky');
  const firmware = path.join(project, '.pio', 'build', 'd1_mini', 'firmware.bin');
  const catalog = path.join(base, 'catalog');
  await fs.mkdir(path.dirname(firmware), { recursive: true });
  await fs.mkdir(catalog);
  await fs.writeFile(
    path.join(project, 'platformio.ini'),
    '[env:d1_mini]\nplatform = espressif8266\nboard = d1_mini\nframework = arduino\n',
  );
  await fs.writeFile(firmware, build1);
  const logs: string[] = [];
  const logger = levelLogger('debug', (level, message) => logs.push(`${level} ${message}`));
  const published: PublishEvent[] = [];
  const b = { base, project, firmware, catalog, logs, published } as Bench;
  const startAll = async () => {
    const knownImages = new KnownImages();
    b.inventory = new DeviceInventory({ logger, knownImages });
    await b.inventory.open(defaultStateFile(catalog));
    b.server = await UpdateServer.start({
      knownImages,
      catalogDir: catalog,
      port: 0,
      host: '127.0.0.1',
      logger,
      isHeld: b.inventory.isHeld,
    });
    b.inventory.follow(b.server);
    b.publisher = new BuildPublisher({ roots: [base], catalogDir: catalog, logger, keep: 3 });
    b.publisher.onDidPublish((event) => {
      published.push(event);
      b.inventory.recordPublish(event);
    });
    await b.publisher.start();
    await b.inventory.whenCatalogLearnt();
  };
  const stopAll = async () => {
    await b.publisher.dispose();
    await b.server.stop();
    b.inventory.registry.abortRunning('the server stopped');
    await b.inventory.close();
  };
  b.restart = async () => {
    await stopAll();
    await startAll();
  };
  b.stop = async () => {
    await stopAll();
    await fs.rm(base, { recursive: true, force: true });
  };
  await startAll();
  return b;
}

function poll(port: number, mac: string, running: Buffer | string, extra: { freeSpace?: number } = {}) {
  const sketchMd5 = typeof running === 'string' ? running : md5(running);
  return rawRequest(
    port,
    esp8266DownloadRequest('/blinky-d1_mini.bin', { staMac: mac, sketchMd5, freeSpace: extra.freeSpace ?? 1 << 20 }),
  );
}

const newest = (b: Bench, mac: string): UpdateRecord | undefined => b.inventory.registry.get(mac)?.updates[0];
const has = (b: Bench, mac: string, outcome: string, md5sum?: string) =>
  b.inventory.registry.get(mac)?.updates.find((u) => u.outcome === outcome && (!md5sum || u.md5 === md5sum));

describe('device inventory: builds reach polling boards, and the server knows whether they took', () => {
  const build1 = esp8266ArduinoApp({ payloadSize: 120_000, seed: 101 });
  const build2 = esp8266ArduinoApp({ payloadSize: 121_000, seed: 102 });
  let b: Bench;
  before(async () => {
    b = await bench(build1);
  });
  after(async () => {
    await b.stop();
  });

  it('answers 304 to a board that runs the build, without reading the file', async () => {
    await until(() => b.published.find((e) => e.md5 === md5(build1)), 'build 1 published');
    const first = await poll(b.server.port, A, build1);
    assert.equal(first.status, 304);
    const reads = b.server.catalog.images.fileReads;
    for (let i = 0; i < 5; i++) assert.equal((await poll(b.server.port, A, build1)).status, 304);
    assert.equal(b.server.catalog.images.fileReads, reads, 'a 304 reads no file');
    const device = b.inventory.registry.get(A)!;
    assert.equal(device.updates.length, 1, 'repeated 304s fold into one record');
    assert.equal(device.updates[0]!.outcome, 'not-modified');
    assert.equal(device.updates[0]!.count, 6);
    assert.equal(device.running?.project, 'blinky');
    assert.equal(device.running?.environment, 'd1_mini');
    assert.equal(device.running?.image, 'blinky-d1_mini.bin');
  });

  it('serves build 2 at the next poll after it is written into the project, then confirms it', async () => {
    await fs.writeFile(b.firmware, build2);
    await until(() => b.published.find((e) => e.md5 === md5(build2)), 'build 2 published');
    const update = await poll(b.server.port, A, build1);
    assert.equal(update.status, 200);
    assert.equal(update.headers.get('x-md5'), md5(build2));
    assert.ok(update.body.equals(build2));
    await until(() => has(b, A, 'downloaded', md5(build2)), 'A downloaded');
    assert.equal((await poll(b.server.port, A, build2)).status, 304);
    assert.ok(has(b, A, 'confirmed', md5(build2)), 'confirmed at the next request');
    assert.equal(b.inventory.registry.get(A)!.running?.md5, md5(build2));
  });

  it('marks a board that downloads build 2 but keeps reporting build 1 as rolled back', async () => {
    assert.equal((await poll(b.server.port, B, build1)).status, 200);
    await until(() => has(b, B, 'downloaded', md5(build2)), 'B downloaded');
    await poll(b.server.port, B, build1);
    const rolledBack = has(b, B, 'rolled-back', md5(build2));
    assert.ok(rolledBack, 'rolled back');
    assert.match(rolledBack.reason ?? '', /still runs the build it had before/);
    assert.ok(
      b.logs.some((l) => l.includes(`${B} rolled back`)),
      'said in the log',
    );
  });

  it('keeps showing the build a board runs after a rebuild took its file name (the stale label)', async () => {
    const device = b.inventory.registry.get(B)!;
    assert.equal(device.running?.md5, md5(build1));
    assert.equal(device.running?.project, 'blinky');
    assert.notEqual(device.running?.image, 'blinky-d1_mini.bin', 'that name holds build 2 now');
    assert.match(device.running?.image ?? '', /^blinky-d1_mini-\d{8}-\d{6}\.bin$/, 'the dated copy of build 1');
    assert.equal(
      b.inventory.builds.identify(md5(build1))?.image,
      'blinky-d1_mini.bin',
      'published under the latest name',
    );
  });

  it('writes both boards and their outcomes into the state file, and has them again after a restart', async () => {
    await b.inventory.saveNow();
    const doc = parseDeviceState(await fs.readFile(path.join(b.catalog, STATE_FILE), 'utf8'));
    assert.ok(doc.ok);
    const stored = new Map(doc.doc.devices.map((d) => [d.mac, d]));
    assert.ok(stored.get(A)?.updates.some((u) => u.outcome === 'confirmed' && u.md5 === md5(build2)));
    assert.ok(stored.get(B)?.updates.some((u) => u.outcome === 'rolled-back' && u.md5 === md5(build2)));
    assert.equal(stored.get(A)?.running?.md5, md5(build2));
    assert.ok(
      doc.doc.builds.some((x) => x.md5 === md5(build1) && x.project === 'blinky' && x.environment === 'd1_mini'),
    );

    const historyA = b.inventory.registry.get(A)!.updates.map((u) => [u.outcome, u.md5]);
    await b.restart();
    assert.deepEqual(
      b.inventory.registry.get(A)!.updates.map((u) => [u.outcome, u.md5]),
      historyA,
    );
    assert.ok(has(b, B, 'rolled-back', md5(build2)));
    assert.equal(b.inventory.registry.get(B)!.running?.project, 'blinky');
  });

  it('holds a board: 304 for a new build while held, 200 once released, and remembers the hold', async () => {
    assert.ok(b.inventory.registry.setHeld(A, true));
    const build3 = esp8266ArduinoApp({ payloadSize: 122_000, seed: 103 });
    await fs.writeFile(b.firmware, build3);
    await until(() => b.published.find((e) => e.md5 === md5(build3)), 'build 3 published');
    const held = await poll(b.server.port, A, build2);
    assert.equal(held.status, 304);
    assert.match(newest(b, A)?.reason ?? '', /held/);
    await b.restart();
    assert.equal(b.inventory.registry.get(A)!.held, true, 'the hold survives a restart');
    assert.equal((await poll(b.server.port, A, build2)).status, 304);
    b.inventory.registry.setHeld(A, false);
    const released = await poll(b.server.port, A, build2);
    assert.equal(released.status, 200);
    assert.equal(released.headers.get('x-md5'), md5(build3));
  });

  it('shows a slow board as downloading until it has read the last byte, then downloaded', async () => {
    const big = esp8266ArduinoApp({ payloadSize: 900_000, seed: 104 });
    await fs.writeFile(b.firmware, big);
    await until(() => b.published.find((e) => e.md5 === md5(big)), 'the big build published');
    const mac = '18:FE:34:00:00:0C';
    const reader = slowReader(
      b.server.port,
      esp8266DownloadRequest('/blinky-d1_mini.bin', { staMac: mac, sketchMd5: md5(build1), freeSpace: 2 << 20 }),
      32 * 1024,
    );
    await until(() => newest(b, mac)?.outcome === 'downloading', 'the download started');
    // Loopback buffers take the whole image at once; the board has read only a little of it.
    await new Promise((resolve) => setTimeout(resolve, 600));
    assert.ok(reader.received() < big.length, 'still reading');
    assert.equal(newest(b, mac)?.outcome, 'downloading');
    reader.release();
    const response = await reader.done;
    assert.ok(response.body.equals(big));
    await until(() => newest(b, mac)?.outcome === 'downloaded', 'downloaded once it read the last byte');
  });

  it('records an aborted download with the reason the log gives', async () => {
    const mac = '18:FE:34:00:00:0D';
    const reader = slowReader(
      b.server.port,
      esp8266DownloadRequest('/blinky-d1_mini.bin', { staMac: mac, sketchMd5: md5(build1), freeSpace: 2 << 20 }),
      16 * 1024,
    );
    reader.done.catch(() => undefined);
    await until(() => newest(b, mac)?.outcome === 'downloading', 'the download started');
    reader.socket.resetAndDestroy();
    const aborted = await until(() => (newest(b, mac)?.outcome === 'aborted' ? newest(b, mac) : undefined), 'aborted');
    assert.ok(aborted.reason);
    assert.ok(b.logs.some((l) => l.includes(`to ${mac}`) && l.includes(`aborted`) && l.endsWith(aborted.reason!)));
  });
});

describe('device inventory: bad input', () => {
  let base: string;
  before(async () => {
    base = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'inventory-bad-')));
  });
  after(async () => {
    await fs.rm(base, { recursive: true, force: true });
  });

  async function openWith(content: string | undefined) {
    const dir = await fs.mkdtemp(path.join(base, 'c-'));
    const file = path.join(dir, STATE_FILE);
    if (content !== undefined) await fs.writeFile(file, content);
    const logs: string[] = [];
    const inventory = new DeviceInventory({ logger: levelLogger('debug', (l, m) => logs.push(`${l} ${m}`)) });
    await inventory.open(file);
    return { dir, file, logs, inventory };
  }

  for (const [what, content] of [
    ['a corrupt', '{"version":1,"devices":[{"mac":"18:FE:34:00:00:01",'],
    ['a newer-format', JSON.stringify({ version: 99, devices: [], builds: [] })],
    ['a non-object', '[1,2,3]'],
  ] as const) {
    it(`sets ${what} state file aside with one log line, and the server starts`, async () => {
      const { dir, file, logs, inventory } = await openWith(content);
      const aside = (await fs.readdir(dir)).filter((n) => n.startsWith(`${STATE_FILE}.bad-`));
      assert.equal(aside.length, 1, 'moved aside');
      assert.equal(await fs.readFile(path.join(dir, aside[0]!), 'utf8'), content, 'kept as it was');
      assert.equal(logs.filter((l) => l.includes('device state')).length, 1);
      assert.equal(inventory.registry.list().length, 0);
      const server = await UpdateServer.start({
        catalogDir: dir,
        port: 0,
        host: '127.0.0.1',
        isHeld: inventory.isHeld,
      });
      inventory.follow(server);
      const reply = await rawRequest(server.port, esp8266DownloadRequest('/none.bin', { staMac: A }));
      assert.equal(reply.status, 404);
      await server.stop();
      await inventory.close();
      const saved = parseDeviceState(await fs.readFile(file, 'utf8'));
      assert.ok(saved.ok && saved.doc.devices.some((d) => d.mac === A), 'a fresh state file is written');
    });
  }

  it('starts empty without a word when there is no state file yet', async () => {
    const { logs, inventory } = await openWith(undefined);
    assert.equal(inventory.registry.list().length, 0);
    assert.equal(logs.filter((l) => l.includes('device state')).length, 0);
    inventory.dispose();
  });

  it('bounds a hand-edited file of too many boards and updates, and drops records that make no sense', async () => {
    const update = (i: number) => ({
      image: 'x.bin',
      md5: md5(Buffer.from(String(i))),
      at: new Date(1e12 + i * 1000).toISOString(),
      outcome: 'confirmed',
    });
    const devices = Array.from({ length: MAX_DEVICES + 50 }, (_, i) => ({
      mac: `18:FE:34:${hex(i >> 16)}:${hex(i >> 8)}:${hex(i)}`,
      lastSeen: new Date(1e12 + i * 1000).toISOString(),
      updates: Array.from({ length: MAX_UPDATES + 5 }, (_, j) => update(j)),
    }));
    devices.push({ mac: 'not a mac', lastSeen: new Date().toISOString(), updates: [] });
    devices.push({ mac: '18:FE:34:FF:FF:FF', lastSeen: 'yesterday', updates: [] });
    const { logs, inventory } = await openWith(JSON.stringify({ version: 1, devices, builds: [{ md5: 'zz' }] }));
    const list = inventory.registry.list();
    assert.equal(list.length, MAX_DEVICES);
    assert.ok(list.every((d) => d.updates.length <= MAX_UPDATES));
    assert.equal(list.at(-1)!.key, devices[50]!.mac, 'the oldest boards were dropped');
    assert.ok(logs.some((l) => /record\(s\) were dropped/.test(l)));
    inventory.dispose();
  });

  it('lets a lying device change only its own record', async () => {
    const { dir, inventory } = await openWith(undefined);
    const image = esp32App({ chip: 'esp32', version: '1.0.0', projectName: 'sensor', payloadSize: 50_000, seed: 7 });
    await fs.writeFile(path.join(dir, 'sensor.bin'), image);
    const server = await UpdateServer.start({ catalogDir: dir, port: 0, host: '127.0.0.1', isHeld: inventory.isHeld });
    inventory.follow(server);
    await inventory.whenCatalogLearnt();
    const builds = inventory.builds.size;
    const honest = '24:0A:C4:00:00:01';
    await rawRequest(
      server.port,
      esp32DownloadRequest('/sensor.bin', { staMac: honest, sketchMd5: md5(image), freeSpace: 1 << 20 }),
    );
    await until(() => inventory.registry.get(honest)?.updates[0]?.outcome === 'downloaded', 'downloaded');
    const before = JSON.stringify(inventory.registry.get(honest));
    // made-up MD5 and SHA-256, then the same device flips its family: only the liar's record moves
    const liar = '24:0A:C4:00:00:66';
    await rawRequest(
      server.port,
      esp32DownloadRequest('/sensor.bin', { staMac: liar, sketchMd5: 'f'.repeat(32), sketchSha256: 'E'.repeat(64) }),
    );
    await rawRequest(server.port, esp8266DownloadRequest('/sensor.bin', { staMac: liar }));
    assert.equal(JSON.stringify(inventory.registry.get(honest)), before);
    assert.equal(inventory.builds.size, builds, 'a made-up MD5 is not a build');
    assert.equal(inventory.registry.get(liar)?.running?.project, undefined);
    assert.equal(inventory.registry.get(liar)?.family, 'esp32', 'the family it sent first');
    assert.equal(inventory.registry.get(`${liar}#2`)?.family, 'esp8266', 'the other identity is recorded apart');
    await server.stop();
    await inventory.close();
  });
});

describe('device inventory: a large catalog', () => {
  it('learns every build in the catalog order, also when the scan is cut into loop turns', async () => {
    const dir = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'inventory-large-')));
    const count = 600;
    const names: string[] = [];
    for (let i = 0; i < count; i++) {
      const name = `app-${String(i).padStart(3, '0')}.bin`;
      names.push(name);
      await fs.writeFile(path.join(dir, name), esp8266ArduinoApp({ payloadSize: 1024, seed: 1000 + i }));
    }
    const inventory = new DeviceInventory({ logger: levelLogger('warn', () => undefined) });
    const server = await UpdateServer.start({ catalogDir: dir, port: 0, host: '127.0.0.1' });
    try {
      const entries = server.catalog.allEntries();
      assert.equal(entries.length, count);
      // The real catalog, with the turn in which the scan starts already spent: the scan must go on in later turns.
      let learntWhenAnotherTurnRan = -1;
      const source: CatalogSource = {
        root: server.catalog.root,
        onDidChange: server.catalog.onDidChange,
        allEntries: () => {
          yieldIfBusy();
          const until = performance.now() + 5;
          while (performance.now() < until) {
            // a turn that has run past its budget
          }
          setImmediate(() => (learntWhenAnotherTurnRan = inventory.builds.size));
          return server.catalog.allEntries();
        },
      };
      const following = inventory.followCatalog(source);
      await inventory.whenCatalogLearnt();
      assert.ok(learntWhenAnotherTurnRan >= 0 && learntWhenAnotherTurnRan < count, 'another turn ran mid-scan');
      const expected = entries.map((e) => e.relPath);
      assert.deepEqual(
        inventory.builds
          .list()
          .map((b) => b.image)
          .reverse(),
        expected,
        'every build, in the catalog order',
      );
      for (const entry of entries) assert.deepEqual(inventory.builds.filesOf(entry.version?.md5), [entry.relPath]);

      // Every image replaced by a new build (written aside, renamed over): the change names all of them, and they are
      // learnt across loop turns too, each new build with its file, the old ones with none.
      const olds = entries.map((e) => e.version!.md5);
      const news = names.map((_, i) => md5(esp8266ArduinoApp({ payloadSize: 1024, seed: 5000 + i })));
      const learntNew = () => news.filter((m) => inventory.builds.filesOf(m).length > 0).length;
      const cutBatches: number[] = [];
      following.dispose();
      const changes: CatalogSource = {
        ...source,
        onDidChange: (listener) =>
          server.catalog.onDidChange((change) => {
            const before = learntNew();
            yieldIfBusy();
            const spin = performance.now() + 5;
            while (performance.now() < spin) {
              // this turn is spent: learning the change goes on in later turns
            }
            const size = change.changed.length;
            setImmediate(() => {
              if (size > 1 && learntNew() - before < size) cutBatches.push(size);
            });
            listener(change);
          }),
      };
      inventory.followCatalog(changes);
      await inventory.whenCatalogLearnt();
      for (let i = 0; i < count; i++) {
        const aside = path.join(dir, `.new-${i}`);
        await fs.writeFile(aside, esp8266ArduinoApp({ payloadSize: 1024, seed: 5000 + i }));
        await fs.rename(aside, path.join(dir, names[i]!));
      }
      await until(() => learntNew() === count, 'every new build learnt');
      assert.ok(cutBatches.length > 0, 'a change of many entries was learnt across turns');
      for (const [i, name] of names.entries()) {
        assert.deepEqual(inventory.builds.filesOf(news[i]), [name]);
        assert.deepEqual(inventory.builds.filesOf(olds[i]), [], 'the replaced build is in no file');
      }
    } finally {
      await server.stop();
      inventory.dispose();
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});

function hex(n: number): string {
  return (n & 0xff).toString(16).toUpperCase().padStart(2, '0');
}
