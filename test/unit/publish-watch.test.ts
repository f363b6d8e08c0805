// BuildPublisher end to end: real folders, the real chokidar watcher, real (synthetic but structurally exact)
// firmware images written the way build tools write them. Assertions wait for events with generous timeouts and
// check behaviour, never durations.

import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { afterEach, after, describe, it } from 'node:test';
import { ORIGINS_FILE, readOrigins } from '../../src/core/catalog/origins';
import { analyzeImage } from '../../src/core/firmware/analyzeImage';
import { levelLogger } from '../../src/core/log';
import { BuildPublisher } from '../../src/core/publish/buildPublisher';
import type {
  BuildPublisherOptions,
  PublishErrorEvent,
  PublishEvent,
  SkipEvent,
} from '../../src/core/publish/buildPublisher';
import type { BuildTarget } from '../../src/core/publish/discover';
import {
  esp32App,
  esp32Bootloader,
  esp8266ArduinoApp,
  gzipOf,
  littlefsImage,
  mergedImage,
  partitionTable,
  signedOf,
  spiffsImage,
} from '../support/images';
import { until } from '../support/waits';

const WAIT_MS = 20_000;
const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// ------------------------------------------------------------------------------------------------ fixtures

const temps: string[] = [];
const running: BuildPublisher[] = [];
afterEach(async () => {
  while (running.length) await running.pop()!.dispose();
});
after(async () => {
  for (const dir of temps) await fs.rm(dir, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const dir = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'publish-watch-')));
  temps.push(dir);
  return dir;
}

async function writeFiles(root: string, files: Record<string, string | Buffer>): Promise<void> {
  for (const [name, content] of Object.entries(files)) {
    const full = path.join(root, name);
    await fs.mkdir(path.dirname(full), { recursive: true });
    await fs.writeFile(full, content);
  }
}

const pioIni = (...envs: string[]) =>
  envs.map((e) => `[env:${e}]\nplatform = espressif32\nframework = arduino\n`).join('\n');

class Recorder {
  readonly published: Array<PublishEvent & { at: number }> = [];
  readonly skipped: SkipEvent[] = [];
  readonly errors: PublishErrorEvent[] = [];
  readonly targetSets: Array<readonly BuildTarget[]> = [];

  constructor(
    readonly publisher: BuildPublisher,
    readonly logs: string[],
  ) {
    publisher.onDidPublish((e) => this.published.push({ ...e, at: performance.now() }));
    publisher.onDidSkip((e) => this.skipped.push(e));
    publisher.onDidError((e) => this.errors.push(e));
    publisher.onDidChangeTargets((t) => this.targetSets.push(t));
  }

  /** Polls `check` until it returns something truthy; on timeout, fails with everything that did happen. */
  async until<T>(
    what: string,
    check: () => T | undefined | false | Promise<T | undefined | false>,
    timeoutMs = WAIT_MS,
  ): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await check();
      if (value) return value;
      if (Date.now() > deadline) {
        throw new Error(
          `timed out waiting for ${what}\npublished: ${this.published.map((p) => p.name).join(', ')}\n` +
            `skipped: ${this.skipped.map((s) => `${s.source}: ${s.reason}`).join('; ')}\nerrors: ${this.errors.map((e) => e.message).join('; ')}\n` +
            `log:\n${this.logs.slice(-30).join('\n')}`,
        );
      }
      await sleep(25);
    }
  }

  publishedAs(name: string, hash?: string): Array<PublishEvent & { at: number }> {
    return this.published.filter((p) => p.name === name && (!hash || p.md5 === hash));
  }

  waitPublished(name: string, hash: string): Promise<PublishEvent & { at: number }> {
    return this.until(`${name} with md5 ${hash}`, () => this.publishedAs(name, hash)[0]);
  }
}

async function startPublisher(
  options: Partial<BuildPublisherOptions> & Pick<BuildPublisherOptions, 'roots' | 'catalogDir'>,
): Promise<Recorder> {
  const logs: string[] = [];
  const publisher = new BuildPublisher({
    logger: levelLogger('debug', (l, m) => logs.push(`${l}: ${m}`)),
    debounceMs: 100,
    env: {},
    ...options,
  });
  running.push(publisher);
  const recorder = new Recorder(publisher, logs);
  await publisher.start();
  return recorder;
}

/** Writes like a compiler/linker does: the file grows in chunks with pauses. Returns the time of the last byte. */
async function writeSlowly(file: string, bytes: Buffer, chunks = 8, gapMs = 75): Promise<number> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  const handle = await fs.open(file, 'w');
  const size = Math.ceil(bytes.length / chunks);
  for (let offset = 0; offset < bytes.length; offset += size) {
    await handle.write(bytes, offset, Math.min(size, bytes.length - offset), offset);
    if (offset + size < bytes.length) await sleep(gapMs);
  }
  await handle.close();
  return performance.now();
}

/** Writes next to the target and renames over it (another common tool pattern), with a chosen mtime. */
async function writeAtomically(file: string, bytes: Buffer, mtime: Date): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  const temp = `${file}.partial`;
  await fs.writeFile(temp, bytes);
  await fs.utimes(temp, mtime, mtime);
  await fs.rename(temp, file);
}

/** Polls the catalog while a build is written: every listed entry must be a complete app at every moment. */
function guardCatalog(catalog: string): { stop(): Promise<string[]>; looks: () => number } {
  const violations: string[] = [];
  let looks = 0;
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      for (const name of await fs.readdir(catalog).catch(() => [] as string[])) {
        if (name.startsWith('.')) continue;
        const bytes = await fs.readFile(path.join(catalog, name)).catch(() => undefined);
        if (!bytes) continue; // removed by retention between readdir and read
        looks++;
        const info = analyzeImage(bytes, name);
        if (info.kind !== 'app' || !info.complete)
          violations.push(`${name}: ${info.kind} complete=${info.complete} ${info.reason ?? ''}`);
      }
      await sleep(5);
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      return violations;
    },
    looks: () => looks,
  };
}

/** Every file under `dir` with size and mtime: proves the publisher wrote nothing there. */
async function listTree(dir: string): Promise<string[]> {
  const out: string[] = [];
  const visit = async (d: string) => {
    for (const e of await fs.readdir(d, { withFileTypes: true }).catch(() => [])) {
      const full = path.join(d, e.name);
      if (e.isDirectory()) await visit(full);
      else {
        const s = await fs.stat(full);
        out.push(`${path.relative(dir, full)} ${s.size} ${s.mtimeMs}`);
      }
    }
  };
  await visit(dir);
  return out.sort();
}

async function catalogEntries(catalog: string): Promise<string[]> {
  return (await fs.readdir(catalog)).filter((n) => !n.startsWith('.')).sort();
}

// ------------------------------------------------------------------------------------------------ tests

describe('BuildPublisher with PlatformIO builds', () => {
  it('publishes a firmware.bin written slowly in chunks exactly once, complete, with the right MD5', async () => {
    const root = await tempDir();
    const catalog = path.join(await tempDir(), 'catalog');
    await writeFiles(root, { 'proj/platformio.ini': pioIni('esp32dev') });
    // A debounce shorter than the gaps between chunks: the publisher sees the file mid-write, again and again.
    const rec = await startPublisher({ roots: [root], catalogDir: catalog, debounceMs: 30, recheckMs: 40 });
    const image = esp32App({ seed: 7, payloadSize: 512 * 1024 });
    const firmware = path.join(root, 'proj', '.pio', 'build', 'esp32dev', 'firmware.bin');

    const guard = guardCatalog(catalog);
    await writeSlowly(firmware, image, 8, 80);
    const event = await rec.waitPublished('proj-esp32dev.bin', md5(image));
    await sleep(1000); // well past debounce and re-check: any second publish would have happened
    const violations = await guard.stop();

    assert.deepEqual(violations, [], 'a partial or non-app file was visible in the catalog');
    assert.ok(guard.looks() > 0);
    assert.equal(rec.published.length, 1, `published ${rec.published.map((p) => p.name).join(', ')}`);
    assert.equal(event.size, image.length);
    assert.equal(event.info.kind, 'app');
    assert.equal(event.info.complete, true);
    assert.equal(event.origin.environment, 'esp32dev');
    assert.deepEqual(await fs.readFile(path.join(catalog, 'proj-esp32dev.bin')), image);
    assert.deepEqual(rec.skipped, []);
    assert.deepEqual(rec.errors, []);
  });

  it('waits for the ESP8266 length and CRC words written last (elf2bin) before publishing', async () => {
    const root = await tempDir();
    const catalog = await tempDir();
    await writeFiles(root, { 'platformio.ini': '[env:d1_mini]\nplatform = espressif8266\n' });
    const rec = await startPublisher({ roots: [root], catalogDir: catalog, debounceMs: 30, recheckMs: 40 });
    const image = esp8266ArduinoApp({ seed: 3 });
    const withoutCrc = Buffer.from(image);
    withoutCrc.fill(0, 0x1010, 0x1018);
    const firmware = path.join(root, '.pio', 'build', 'd1_mini', 'firmware.bin');

    const guard = guardCatalog(catalog);
    await writeSlowly(firmware, withoutCrc, 4, 60);
    await sleep(400); // the publisher looks at the CRC-less file several times meanwhile
    const handle = await fs.open(firmware, 'r+');
    await handle.write(image, 0x1010, 8, 0x1010);
    await handle.close();
    await rec.waitPublished(`${path.basename(root)}-d1_mini.bin`, md5(image));
    assert.deepEqual(await guard.stop(), []);
    assert.equal(rec.published.length, 1);
  });

  it('never publishes bootloader.bin, partitions.bin or *.merged.bin; littlefs.bin as <project>-<env>.littlefs.bin', async () => {
    const root = await tempDir();
    const catalog = await tempDir();
    await writeFiles(root, { 'platformio.ini': pioIni('s3') });
    const rec = await startPublisher({ roots: [root], catalogDir: catalog });
    const build = path.join(root, '.pio', 'build', 's3');
    await writeFiles(build, {
      'bootloader.bin': esp32Bootloader({ chip: 'esp32s3' }),
      'partitions.bin': partitionTable(),
      'littlefs.bin': littlefsImage(),
      'firmware.merged.bin': mergedImage('esp32s3'),
      'firmware.factory.bin': mergedImage('esp32s3'),
    });
    const app = esp32App({ chip: 'esp32s3', seed: 11 });
    await writeSlowly(path.join(build, 'firmware.bin'), app, 4, 30);
    await rec.waitPublished(`${path.basename(root)}-s3.bin`, md5(app));
    await rec.waitPublished(`${path.basename(root)}-s3.littlefs.bin`, md5(littlefsImage()));
    await sleep(500);
    assert.deepEqual(await catalogEntries(catalog), [
      `${path.basename(root)}-s3.bin`,
      `${path.basename(root)}-s3.littlefs.bin`,
    ]);
    assert.equal(rec.published.length, 2);
  });

  it('keeps working across a clean build that deletes and recreates the build folder', async () => {
    const root = await tempDir();
    const catalog = await tempDir();
    await writeFiles(root, { 'app/platformio.ini': pioIni('env1') });
    const rec = await startPublisher({ roots: [root], catalogDir: catalog });
    const envDir = path.join(root, 'app', '.pio', 'build', 'env1');
    const builds = [esp32App({ seed: 21 }), esp32App({ seed: 22 }), esp32App({ seed: 23 })];

    await writeSlowly(path.join(envDir, 'firmware.bin'), builds[0]!, 4, 30);
    await rec.waitPublished('app-env1.bin', md5(builds[0]!));

    // `pio run -t clean`-like: the build folder disappears, then the next build recreates it.
    await fs.rm(path.join(root, 'app', '.pio', 'build'), { recursive: true });
    await sleep(200);
    await writeSlowly(path.join(envDir, 'firmware.bin'), builds[1]!, 4, 30);
    await rec.waitPublished('app-env1.bin', md5(builds[1]!));

    // Even the whole .pio folder, recreated in one go with the firmware already inside.
    await fs.rm(path.join(root, 'app', '.pio'), { recursive: true });
    await fs.mkdir(envDir, { recursive: true });
    await fs.writeFile(path.join(envDir, 'firmware.bin'), builds[2]!);
    await rec.waitPublished('app-env1.bin', md5(builds[2]!));
    assert.deepEqual(rec.errors, []);
  });

  it('does not republish a rebuild with identical bytes, and writes nothing into the build folder', async () => {
    const root = await tempDir();
    const catalog = await tempDir();
    await writeFiles(root, { 'platformio.ini': pioIni('a', 'b') });
    const rec = await startPublisher({ roots: [root], catalogDir: catalog });
    const name = path.basename(root);
    const build = path.join(root, '.pio', 'build');
    const image = esp32App({ seed: 31 });

    await writeSlowly(path.join(build, 'a', 'firmware.bin'), image, 4, 30);
    await rec.waitPublished(`${name}-a.bin`, md5(image));
    const before = await fs.stat(path.join(catalog, `${name}-a.bin`));

    await sleep(50);
    await writeSlowly(path.join(build, 'a', 'firmware.bin'), image, 4, 30); // same bytes, new mtime
    // Barrier: a later build of another env is handled after the rebuild (same debounce, one serial queue).
    await sleep(300);
    const other = esp32App({ seed: 32 });
    await writeSlowly(path.join(build, 'b', 'firmware.bin'), other, 2, 10);
    await rec.waitPublished(`${name}-b.bin`, md5(other));

    assert.equal(rec.publishedAs(`${name}-a.bin`).length, 1);
    assert.deepEqual(await catalogEntries(catalog), [`${name}-a.bin`, `${name}-b.bin`]);
    const after = await fs.stat(path.join(catalog, `${name}-a.bin`));
    assert.equal(after.ino, before.ino, 'the entry was not rewritten');
    assert.deepEqual(await listTree(build), [
      `a${path.sep}firmware.bin ${image.length} ${(await fs.stat(path.join(build, 'a', 'firmware.bin'))).mtimeMs}`,
      `b${path.sep}firmware.bin ${other.length} ${(await fs.stat(path.join(build, 'b', 'firmware.bin'))).mtimeMs}`,
    ]);
  });

  it('keeps `keep` previous builds as dated entries over many builds', async () => {
    const root = await tempDir();
    const catalog = await tempDir();
    await writeFiles(root, { 'platformio.ini': pioIni('e') });
    const rec = await startPublisher({ roots: [root], catalogDir: catalog, keep: 2 });
    const name = path.basename(root);
    const firmware = path.join(root, '.pio', 'build', 'e', 'firmware.bin');
    const builds: Buffer[] = [];
    for (let i = 0; i < 5; i++) {
      const image = esp32App({ seed: 40 + i });
      builds.push(image);
      await writeAtomically(firmware, image, new Date(Date.UTC(2025, 0, 2, 3, 4, 10 + i)));
      await rec.waitPublished(`${name}-e.bin`, md5(image));
    }
    assert.deepEqual(await catalogEntries(catalog), [
      `${name}-e-20250102-030412.bin`,
      `${name}-e-20250102-030413.bin`,
      `${name}-e.bin`,
    ]);
    assert.equal(md5(await fs.readFile(path.join(catalog, `${name}-e.bin`))), md5(builds[4]!));
    assert.equal(md5(await fs.readFile(path.join(catalog, `${name}-e-20250102-030413.bin`))), md5(builds[3]!));
    assert.equal(md5(await fs.readFile(path.join(catalog, `${name}-e-20250102-030412.bin`))), md5(builds[2]!));
    const last = rec.published.at(-1)!;
    assert.equal(last.kept, `${name}-e-20250102-030413.bin`);
    assert.deepEqual(last.removed, [`${name}-e-20250102-030411.bin`]);
    const origins = await readOrigins(catalog);
    assert.deepEqual([...origins.keys()].sort(), await catalogEntries(catalog));
  });

  it('writes the origins sidecar with project, environment, source, build time and md5', async () => {
    const root = await tempDir();
    const catalog = await tempDir();
    await writeFiles(root, { 'platformio.ini': pioIni('d1') });
    const rec = await startPublisher({ roots: [root], catalogDir: catalog });
    const firmware = path.join(root, '.pio', 'build', 'd1', 'firmware.bin');
    const image = esp8266ArduinoApp({ seed: 5 });
    await writeSlowly(firmware, image, 2, 10);
    const event = await rec.waitPublished(`${path.basename(root)}-d1.bin`, md5(image));

    const raw = JSON.parse(await fs.readFile(path.join(catalog, ORIGINS_FILE), 'utf8'));
    const origin = raw[event.name];
    assert.equal(origin.project, path.basename(root));
    assert.equal(origin.environment, 'd1');
    assert.equal(origin.source, firmware);
    assert.equal(origin.builtAt, (await fs.stat(firmware)).mtime.toISOString());
    assert.equal(origin.md5, md5(image));
    assert.equal(origin.target, `platformio:${root}#d1`);
    assert.ok(!Number.isNaN(Date.parse(origin.publishedAt)));
    assert.deepEqual(event.origin, origin);
  });

  it('publishes a gzip ESP8266 firmware.bin.gz as <project>-<env>.bin.gz next to the .bin', async () => {
    const root = await tempDir();
    const catalog = await tempDir();
    await writeFiles(root, { 'platformio.ini': pioIni('wled') });
    const rec = await startPublisher({ roots: [root], catalogDir: catalog });
    const image = esp8266ArduinoApp({ seed: 9 });
    const build = path.join(root, '.pio', 'build', 'wled');
    await writeSlowly(path.join(build, 'firmware.bin'), image, 2, 10);
    await writeSlowly(path.join(build, 'firmware.bin.gz'), gzipOf(image), 2, 10);
    const name = path.basename(root);
    await rec.waitPublished(`${name}-wled.bin`, md5(image));
    await rec.waitPublished(`${name}-wled.bin.gz`, md5(gzipOf(image)));
    assert.equal(rec.published.find((p) => p.name.endsWith('.gz'))?.info.compressed, true);
  });
});

describe('BuildPublisher with other layouts', () => {
  it('picks up an arduino-cli export into a new <sketch>/build/<fqbn>/ folder, skipping its non-app files', async () => {
    const root = await tempDir();
    const catalog = await tempDir();
    await writeFiles(root, { 'Blink/Blink.ino': 'void setup() {}\nvoid loop() {}\n' });
    const rec = await startPublisher({ roots: [root], catalogDir: catalog });
    const out = path.join(root, 'Blink', 'build', 'esp32.esp32.esp32s3');
    const app = esp32App({ chip: 'esp32s3', seed: 51 });
    await writeFiles(out, {
      'Blink.ino.bootloader.bin': esp32Bootloader({ chip: 'esp32s3' }),
      'Blink.ino.partitions.bin': partitionTable(),
      'Blink.ino.merged.bin': mergedImage('esp32s3'),
      'Blink.ino.bin': app,
    });
    const event = await rec.waitPublished('Blink-esp32s3.bin', md5(app));
    assert.equal(event.origin.board, 'esp32:esp32:esp32s3');
    assert.equal(event.origin.project, 'Blink');
    const targets = await rec.until('the new target', () =>
      rec.targetSets.at(-1)?.find((t) => t.tool === 'arduino-cli'),
    );
    assert.equal(targets.board, 'esp32:esp32:esp32s3');
    await sleep(300);
    assert.deepEqual(await catalogEntries(catalog), ['Blink-esp32s3.bin']);
  });

  it('finds custom build folders: build_dir, vscode-arduino "output", PLATFORMIO_BUILD_DIR', async () => {
    const base = await tempDir();
    const root = path.join(base, 'ws');
    await writeFiles(root, {
      'ini/platformio.ini': '[platformio]\nbuild_dir = ${PROJECT_DIR}/custom-build\n[env:x]\n',
      '.vscode/arduino.json':
        '{ "sketch": "Sk/Sk.ino", "board": "esp8266:esp8266:d1_mini", "output": "../arduino-out" }',
      'Sk/Sk.ino': '',
    });
    const rec = await startPublisher({ roots: [root], catalogDir: path.join(base, 'catalog') });
    // None of the build folders exist yet: each one is created by its first build.
    const a = esp32App({ seed: 61 });
    const c = esp8266ArduinoApp({ seed: 63 });
    await writeSlowly(path.join(root, 'ini', 'custom-build', 'x', 'firmware.bin'), a, 2, 10);
    await writeSlowly(path.join(base, 'arduino-out', 'Sk.ino.bin'), c, 2, 10);
    await rec.waitPublished('ini-x.bin', md5(a));
    const sk = await rec.waitPublished('Sk-d1_mini.bin', md5(c));
    assert.equal(sk.origin.board, 'esp8266:esp8266:d1_mini');

    // PLATFORMIO_BUILD_DIR wins over platformio.ini, for every project of the process.
    const root2 = path.join(base, 'ws2');
    await writeFiles(root2, { 'envvar/platformio.ini': '[platformio]\nbuild_dir = ignored\n[env:y]\n' });
    const envBuild = path.join(base, 'pio-env-build');
    const rec2 = await startPublisher({
      roots: [root2],
      catalogDir: path.join(base, 'catalog2'),
      env: { PLATFORMIO_BUILD_DIR: envBuild },
    });
    const b = esp32App({ seed: 62 });
    await writeSlowly(path.join(envBuild, 'y', 'firmware.bin'), b, 2, 10);
    await rec2.waitPublished('envvar-y.bin', md5(b));
  });

  it('content-checks extra output folders: skips non-app files with a reason, publishes the app', async () => {
    const root = await tempDir();
    const catalog = await tempDir();
    const out = path.join(await tempDir(), 'export');
    const rec = await startPublisher({
      roots: [root],
      catalogDir: catalog,
      extraOutputDirs: [out],
      incompleteTimeoutMs: 800,
    });
    const app = esp32App({ seed: 71 });
    await writeFiles(out, {
      'Thing.ino.bootloader.bin': esp32Bootloader(),
      'boot_app0.bin': Buffer.alloc(0x2000, 0xff),
      'littlefs.bin': littlefsImage(),
      'Thing.ino.bin': app,
    });
    await rec.waitPublished('Thing.bin', md5(app));
    const skipped = await rec.until('three skips', () => rec.skipped.length >= 3 && rec.skipped);
    assert.deepEqual(skipped.map((s) => path.basename(s.source)).sort(), [
      'Thing.ino.bootloader.bin',
      'boot_app0.bin',
      'littlefs.bin',
    ]);
    for (const s of skipped) {
      assert.equal(s.code, 'not-an-app');
      assert.ok(s.reason.length > 0);
    }
    assert.deepEqual(await catalogEntries(catalog), ['Thing.bin']);
  });

  it('discovers a project created after start, and an env added to its platformio.ini', async () => {
    const root = await tempDir();
    const catalog = await tempDir();
    const rec = await startPublisher({ roots: [root], catalogDir: catalog });
    await writeFiles(root, { 'later/platformio.ini': pioIni('one') });
    await rec.until('target "one"', () => rec.publisher.targets.find((t) => t.environment === 'one'));
    const a = esp32App({ seed: 131 });
    await writeSlowly(path.join(root, 'later', '.pio', 'build', 'one', 'firmware.bin'), a, 2, 10);
    await rec.waitPublished('later-one.bin', md5(a));

    await fs.appendFile(path.join(root, 'later', 'platformio.ini'), `\n${pioIni('two')}`);
    await rec.until('target "two"', () => rec.publisher.targets.find((t) => t.environment === 'two'));
    const b = esp32App({ seed: 132 });
    await writeSlowly(path.join(root, 'later', '.pio', 'build', 'two', 'firmware.bin'), b, 2, 10);
    await rec.waitPublished('later-two.bin', md5(b));
    assert.ok(rec.targetSets.length >= 2);
  });

  it('publishes IDE 1.x exports from a sketch folder that also holds the catalog', async () => {
    const root = path.join(await tempDir(), 'Blink');
    await writeFiles(root, { 'Blink.ino': '' });
    const catalog = path.join(root, 'catalog');
    const rec = await startPublisher({ roots: [root], catalogDir: catalog });
    const app = esp8266ArduinoApp({ seed: 141 });
    await writeFiles(root, { 'Blink.ino.bootloader.bin': esp32Bootloader(), 'Blink.ino.d1_mini.bin': app });
    await rec.waitPublished('Blink-d1_mini.bin', md5(app));
    await sleep(300);
    assert.deepEqual(rec.errors, []);
    assert.deepEqual(await catalogEntries(catalog), ['Blink-d1_mini.bin']);
  });

  it('refuses to watch a build location that contains the catalog folder', async () => {
    const root = await tempDir();
    const rec = await startPublisher({
      roots: [root],
      catalogDir: path.join(root, 'catalog'),
      extraOutputDirs: [root],
    });
    assert.ok(
      rec.errors.some((e) => e.message.includes('catalog')),
      JSON.stringify(rec.errors),
    );
    assert.equal(rec.publisher.watchedFolders.length, 0);
  });
});

describe('BuildPublisher lifecycle', () => {
  it('publishes existing outputs at start, keeps names across restarts, and does not republish them', async () => {
    const root = await tempDir();
    const catalog = await tempDir();
    const image = esp32App({ seed: 81 });
    await writeFiles(root, { 'platformio.ini': pioIni('e'), '.pio/build/e/firmware.bin': image });
    const name = `${path.basename(root)}-e.bin`;

    const first = await startPublisher({ roots: [root], catalogDir: catalog });
    await first.waitPublished(name, md5(image));
    await running.pop()!.dispose();

    const second = await startPublisher({ roots: [root], catalogDir: catalog });
    const next = esp32App({ seed: 82 });
    await writeSlowly(path.join(root, '.pio', 'build', 'e', 'firmware.bin'), next, 2, 10);
    const event = await second.waitPublished(name, md5(next));
    assert.equal(second.publishedAs(name, md5(image)).length, 0, 'the unchanged output was republished at start');
    assert.match(event.kept ?? '', /-e-\d{8}-\d{6}\.bin$/);
  });

  it('says once in the log why an output is not published, however often that build is looked at', async () => {
    const root = await tempDir();
    const catalog = await tempDir();
    const output = path.join(root, '.pio', 'build', 'e', 'firmware.bin');
    await writeFiles(root, { 'platformio.ini': pioIni('e'), '.pio/build/e/firmware.bin': esp32Bootloader() });
    const rec = await startPublisher({ roots: [root], catalogDir: catalog });
    await until(() => rec.skipped.length >= 1, 'the first look');
    // A build touched without new bytes (or an event that races the look): looked at again, the same verdict.
    for (let i = 1; i <= 2; i++) {
      await fs.utimes(output, new Date(), new Date(Date.now() + i * 1000));
      await until(() => rec.skipped.length >= i + 1, `look ${i + 1}`);
    }
    const told = () =>
      rec.logs.filter((line) => line.startsWith('info: ') && line.includes(`not publishing ${output}`));
    assert.equal(told().length, 1, told().join('\n'));
    // A later build refused for the same reason is news again: the user rebuilt and looks for a line.
    await sleep(3100);
    await fs.writeFile(output, esp32Bootloader({ chip: 'esp32s3' }));
    await until(() => rec.skipped.length >= 4, 'the later build looked at');
    assert.equal(told().length, 2, told().join('\n'));
    // A published build in between: a refusal after it is news again.
    await fs.writeFile(output, esp32App({ seed: 95 }));
    await until(() => rec.published.length === 1, 'published');
    await fs.writeFile(output, esp32Bootloader());
    await until(() => rec.skipped.length >= 5, 'refused again');
    assert.equal(told().length, 3, told().join('\n'));
  });

  it('publishFile publishes one file on request and reports why another is refused', async () => {
    const root = await tempDir();
    const catalog = await tempDir();
    const rec = await startPublisher({ roots: [root], catalogDir: catalog });
    const files = await tempDir();
    await writeFiles(files, { 'my build.bin': esp32App({ seed: 91 }), 'bootloader.bin': esp32Bootloader() });
    const ok = await rec.publisher.publishFile(path.join(files, 'my build.bin'));
    assert.ok(ok.published);
    assert.equal(ok.event.name, 'my_build.bin');
    const refused = await rec.publisher.publishFile(path.join(files, 'bootloader.bin'));
    assert.equal(refused.published, false);
    assert.equal(!refused.published && refused.code, 'not-an-app');
    const missing = await rec.publisher.publishFile(path.join(files, 'nope.bin'));
    assert.equal(!missing.published && missing.code, 'missing');
  });

  it('stops publishing after dispose', async () => {
    const root = await tempDir();
    const catalog = await tempDir();
    await writeFiles(root, { 'platformio.ini': pioIni('e') });
    const rec = await startPublisher({ roots: [root], catalogDir: catalog });
    await running.pop()!.dispose();
    await writeSlowly(path.join(root, '.pio', 'build', 'e', 'firmware.bin'), esp32App({ seed: 101 }), 2, 10);
    await sleep(800);
    assert.equal(rec.published.length, 0);
    assert.deepEqual(await catalogEntries(catalog), []);
  });

  it('closes every watcher on dispose: a process that disposes its publisher exits by itself', async () => {
    const root = await tempDir();
    const catalog = await tempDir();
    await writeFiles(root, { 'platformio.ini': pioIni('e'), 'staged.bin': esp32App({ seed: 111 }) });
    const modulePath = path.join(__dirname, '..', '..', 'src', 'core', 'publish', 'buildPublisher.js');
    const script = `
      const fs = require('fs'); const path = require('path');
      const { BuildPublisher } = require(${JSON.stringify(modulePath)});
      const root = ${JSON.stringify(root)};
      const quiet = { trace() {}, debug() {}, info() {}, warn() {}, error() {} };
      const p = new BuildPublisher({ roots: [root], catalogDir: ${JSON.stringify(catalog)}, logger: quiet, debounceMs: 50 });
      p.onDidPublish((e) => { console.log('published ' + e.name); p.dispose().then(() => console.log('disposed')); });
      p.start().then(() => {
        fs.mkdirSync(path.join(root, '.pio/build/e'), { recursive: true });
        fs.copyFileSync(path.join(root, 'staged.bin'), path.join(root, '.pio/build/e/firmware.bin'));
      });`;
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const code = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => {
        child.kill();
        resolve(null);
      }, WAIT_MS);
      child.on('exit', (c) => {
        clearTimeout(timer);
        resolve(c);
      });
    });
    assert.equal(code, 0, `the process did not exit on its own (open handles?)\nstdout: ${stdout}\nstderr: ${stderr}`);
    assert.match(stdout, /published .*-e\.bin\ndisposed/);
  });

  it('publishes PlatformIO buildfs images as <project>-<env>.<format>.bin, never as an app, never an app as one', async () => {
    const root = await tempDir();
    const catalog = await tempDir();
    await writeFiles(root, { 'platformio.ini': pioIni('d1', 'dev') });
    const rec = await startPublisher({ roots: [root], catalogDir: catalog });
    const project = path.basename(root);
    const fs1 = littlefsImage({ blockCount: 12 });
    const fs2 = spiffsImage();
    await writeSlowly(path.join(root, '.pio', 'build', 'd1', 'littlefs.bin'), fs1, 4, 30);
    await writeFiles(path.join(root, '.pio', 'build', 'dev'), { 'spiffs.bin': fs2 });
    const little = await rec.waitPublished(`${project}-d1.littlefs.bin`, md5(fs1));
    assert.equal(little.info.kind, 'filesystem');
    assert.equal(little.info.filesystem, 'littlefs');
    assert.equal(little.origin.environment, 'd1');
    await rec.waitPublished(`${project}-dev.spiffs.bin`, md5(fs2));
    // An application image written under a filesystem name is not published as a filesystem.
    await writeFiles(path.join(root, '.pio', 'build', 'dev'), { 'fatfs.bin': esp32App({ seed: 71 }) });
    const skip = await rec.until('the app named fatfs.bin skipped', () =>
      rec.skipped.find((e) => e.source.endsWith('fatfs.bin')),
    );
    assert.equal(skip.code, 'not-a-filesystem');
    assert.match(skip.reason, /named like a filesystem image, but it is an application image/);
    // A second buildfs keeps the first as a dated entry of the same target, as for apps.
    const fs3 = littlefsImage({ blockCount: 14 });
    await writeAtomically(path.join(root, '.pio', 'build', 'd1', 'littlefs.bin'), fs3, new Date(Date.now() + 5000));
    await rec.waitPublished(`${project}-d1.littlefs.bin`, md5(fs3));
    const entries = await catalogEntries(catalog);
    assert.ok(
      entries.some((n) => new RegExp(`^${project}-d1-\\d{8}-\\d{6}\\.littlefs\\.bin$`).test(n)),
      entries.join(),
    );
    assert.ok(!entries.some((n) => n.includes('fatfs')), entries.join());
  });

  it('publishes an ESP8266 signed build (<sketch>.ino.bin.signed) under the usual .bin name, marked signed', async () => {
    const root = await tempDir();
    const catalog = await tempDir();
    await writeFiles(root, { 'Ota/Ota.ino': 'void setup() {}\nvoid loop() {}\n', 'Ota/private.key': 'KEY\n' });
    const rec = await startPublisher({ roots: [root], catalogDir: catalog, incompleteTimeoutMs: 3000 });
    const out = path.join(root, 'Ota', 'build', 'esp8266.esp8266.d1_mini');
    const app = esp8266ArduinoApp({ payloadSize: 60_000, seed: 72 });
    const signed = signedOf(app);
    // The core writes the .bin, then signing.py writes the .bin.signed: the unsigned image is never published.
    await writeFiles(out, { 'Ota.ino.bin': app });
    await sleep(400);
    await writeFiles(out, { 'Ota.ino.bin.signed': signed });
    const event = await rec.waitPublished('Ota-d1_mini.bin', md5(signed));
    assert.equal(event.info.signed, true);
    assert.equal(event.origin.signed, true);
    assert.ok((await fs.readFile(path.join(catalog, 'Ota-d1_mini.bin'))).equals(signed));
    assert.equal(rec.publishedAs('Ota-d1_mini.bin', md5(app)).length, 0, 'the unsigned .bin of a signed build');
    assert.equal((await readOrigins(catalog)).get('Ota-d1_mini.bin')?.signed, true);
  });

  it('never publishes a truncated or malformed .bin.signed, nor the unsigned .bin in its place, and says why', async () => {
    const root = await tempDir();
    const catalog = await tempDir();
    await writeFiles(root, { 'platformio.ini': pioIni('d1') });
    const rec = await startPublisher({ roots: [root], catalogDir: catalog, incompleteTimeoutMs: 800 });
    const build = path.join(root, '.pio', 'build', 'd1');
    const app = esp8266ArduinoApp({ payloadSize: 50_000, seed: 73 });
    const signed = signedOf(app);
    await writeFiles(build, { 'firmware.bin': app, 'firmware.bin.signed': signed.subarray(0, app.length + 100) });
    const truncated = await rec.until('the truncated signature skipped', () =>
      rec.skipped.find((e) => e.code === 'bad-signature'),
    );
    assert.match(truncated.reason, /malformed signature block|truncated/);
    const bad = Buffer.from(signed);
    bad.writeUInt32LE(512, bad.length - 4); // the length word disagrees with the block
    await writeFiles(build, { 'firmware.bin.signed': bad });
    await rec.until('the malformed signature skipped', () =>
      rec.skipped.find((e) => e.code === 'bad-signature' && /length word says 512/.test(e.reason)),
    );
    assert.deepEqual(await catalogEntries(catalog).catch(() => []), []);
    // Once the signature checks out, the signed build is published.
    await writeFiles(build, { 'firmware.bin.signed': signed });
    await rec.waitPublished(`${path.basename(root)}-d1.bin`, md5(signed));
  });

  it('notes when a signed build follows an unsigned one in the same entry', async () => {
    const root = await tempDir();
    const catalog = await tempDir();
    await writeFiles(root, { 'platformio.ini': pioIni('d1') });
    const rec = await startPublisher({ roots: [root], catalogDir: catalog });
    const build = path.join(root, '.pio', 'build', 'd1');
    const first = esp8266ArduinoApp({ payloadSize: 50_000, seed: 74 });
    await writeFiles(build, { 'firmware.bin': first });
    const name = `${path.basename(root)}-d1.bin`;
    const unsigned = await rec.waitPublished(name, md5(first));
    assert.equal(unsigned.note, undefined);
    const second = esp8266ArduinoApp({ payloadSize: 50_000, seed: 75 });
    await writeAtomically(path.join(build, 'firmware.bin.signed'), signedOf(second), new Date());
    await writeAtomically(path.join(build, 'firmware.bin'), second, new Date());
    const event = await rec.waitPublished(name, md5(signedOf(second)));
    assert.match(event.note ?? '', /this build is signed, the one before it was not/);
    assert.ok(rec.logs.some((l) => l.startsWith('warn:') && l.includes('this build is signed')));
  });

  it('measures publish latency (last byte written → onDidPublish) with the default debounce', async (t) => {
    const root = await tempDir();
    const catalog = await tempDir();
    await writeFiles(root, { 'platformio.ini': pioIni('e') });
    const rec = await startPublisher({ roots: [root], catalogDir: catalog, debounceMs: undefined });
    const firmware = path.join(root, '.pio', 'build', 'e', 'firmware.bin');
    const latencies: number[] = [];
    for (let i = 0; i < 5; i++) {
      const image = esp32App({ seed: 120 + i, payloadSize: 1024 * 1024 });
      const lastByte = await writeSlowly(firmware, image, 8, 20);
      const event = await rec.waitPublished(`${path.basename(root)}-e.bin`, md5(image));
      latencies.push(event.at - lastByte);
    }
    latencies.sort((a, b) => a - b);
    t.diagnostic(
      `publish latency ms (1 MB image, debounce 300 ms): ${latencies.map((l) => l.toFixed(0)).join(', ')}; median ${latencies[2]!.toFixed(0)}`,
    );
    assert.equal(rec.published.length, 5);
  });
});
