// Discovery of build-output locations over real folders (peers.md §3.1-3.4 layouts).

import { strict as assert } from 'node:assert';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import {
  discover,
  globToRegExp,
  hasFirmwareProject,
  parseIni,
  platformioBuildDir,
  resolveOutput,
} from '../../src/core/publish/discover';
import type { Discovery } from '../../src/core/publish/discover';

const temps: string[] = [];
after(async () => {
  for (const dir of temps) await fs.rm(dir, { recursive: true, force: true });
});

async function tree(files: Record<string, string>): Promise<string> {
  const root = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'publish-discover-')));
  temps.push(root);
  for (const [name, content] of Object.entries(files)) {
    const full = path.join(root, name);
    await fs.mkdir(path.dirname(full), { recursive: true });
    await fs.writeFile(full, content);
  }
  return root;
}

function target(d: Discovery, predicate: (t: Discovery['targets'][number]) => boolean) {
  const found = d.targets.filter(predicate);
  assert.equal(found.length, 1, `expected one target, got ${JSON.stringify(d.targets.map((t) => t.key))}`);
  return found[0]!;
}

const ini = (body: string) => `; PlatformIO Project Configuration File\n${body}\n`;

describe('PlatformIO discovery', () => {
  it('finds every [env:NAME] with .pio/build/<env>/firmware.bin and a stable key', async () => {
    const root = await tree({
      'platformio.ini': ini(
        '[platformio]\ndefault_envs = d1_mini\n\n[env]\nframework = arduino\n\n[env:d1_mini]\nplatform = espressif8266\n\n[env:esp32dev] ; comment\nplatform = espressif32\n',
      ),
    });
    const d = await discover({ roots: [root], env: {} });
    const d1 = target(d, (t) => t.environment === 'd1_mini');
    assert.equal(d1.tool, 'platformio');
    assert.equal(d1.project, path.basename(root));
    assert.equal(d1.file, path.join(root, '.pio', 'build', 'd1_mini', 'firmware.bin'));
    assert.equal(d1.key, `platformio:${root}#d1_mini`);
    assert.equal(
      target(d, (t) => t.environment === 'esp32dev').file,
      path.join(root, '.pio', 'build', 'esp32dev', 'firmware.bin'),
    );
    assert.ok(d.configFiles.includes(path.join(root, 'platformio.ini')));
    // The same tree discovered again gives the same keys.
    const again = await discover({ roots: [root], env: {} });
    assert.deepEqual(again.targets.map((t) => t.key).sort(), d.targets.map((t) => t.key).sort());
  });

  it('maps firmware.bin / .bin.gz and the buildfs images of known envs, not bootloader, partitions, merged', async () => {
    const root = await tree({ 'platformio.ini': ini('[env:s3]\nplatform = espressif32') });
    const discovery = await discover({ roots: [root], env: {} });
    const location = discovery.locations[0]!;
    const build = path.join(root, '.pio', 'build');
    assert.equal(location.resolve(path.join(build, 's3', 'firmware.bin'))?.compressed, false);
    assert.equal(location.resolve(path.join(build, 's3', 'firmware.bin.gz'))?.compressed, true);
    for (const fs of ['littlefs', 'spiffs', 'fatfs'] as const) {
      const output = location.resolve(path.join(build, 's3', `${fs}.bin`));
      assert.equal(output?.filesystem, fs);
      assert.equal(output?.target.environment, 's3');
    }
    // A signed build's `.bin.signed` is claimed as its application output; a filesystem has no signed form.
    const signed = resolveOutput(discovery.locations, path.join(build, 's3', 'firmware.bin.signed'));
    assert.equal(signed?.file, path.join(build, 's3', 'firmware.bin'));
    assert.equal(resolveOutput(discovery.locations, path.join(build, 's3', 'littlefs.bin.signed')), undefined);
    for (const name of [
      'bootloader.bin',
      'partitions.bin',
      'firmware.merged.bin',
      'firmware.factory.bin',
      'firmware.elf',
    ]) {
      assert.equal(location.resolve(path.join(build, 's3', name)), undefined, name);
    }
    assert.equal(location.resolve(path.join(build, 'other', 'firmware.bin')), undefined, 'unknown env');
  });

  it('honours build_dir / workspace_dir with ${PROJECT_DIR} and ${platformio.workspace_dir}', async () => {
    const root = await tree({
      'a/platformio.ini': ini('[platformio]\nbuild_dir = ${PROJECT_DIR}/out\n[env:e]\n'),
      'b/platformio.ini': ini('[platformio]\nworkspace_dir = ws\n[env:e]\n'),
      'c/platformio.ini': ini(
        '[platformio]\nworkspace_dir = ../shared-ws\nbuild_dir = ${platformio.workspace_dir}/bld\n[env:e]\n',
      ),
      'd/platformio.ini': ini('[platformio]\nbuild_dir = ${sysenv.MY_OUT}/d\n[env:e]\n'),
      'e/platformio.ini': ini('[platformio]\nbuild_dir = ${nowhere.x}/d\n[env:e]\n'),
    });
    const d = await discover({ roots: [root], env: { MY_OUT: '/tmp/my-out' } });
    const file = (dir: string) => target(d, (t) => t.projectDir === path.join(root, dir)).file;
    assert.equal(file('a'), path.join(root, 'a', 'out', 'e', 'firmware.bin'));
    assert.equal(file('b'), path.join(root, 'b', 'ws', 'build', 'e', 'firmware.bin'));
    assert.equal(file('c'), path.join(root, 'shared-ws', 'bld', 'e', 'firmware.bin'));
    assert.equal(file('d'), path.join('/tmp/my-out', 'd', 'e', 'firmware.bin'));
    // Unresolvable interpolation: default location plus a warning, never a folder literally named "${...}".
    assert.equal(file('e'), path.join(root, 'e', '.pio', 'build', 'e', 'firmware.bin'));
    assert.ok(
      d.warnings.some((w) => w.includes('build_dir')),
      d.warnings.join('\n'),
    );
  });

  it('PLATFORMIO_BUILD_DIR beats PLATFORMIO_WORKSPACE_DIR beats platformio.ini', async () => {
    const project = '/p';
    const config = parseIni('[platformio]\nbuild_dir = from-ini\nworkspace_dir = ws-ini\n');
    assert.equal(platformioBuildDir(project, config, {}), path.resolve('/p/from-ini'));
    assert.equal(
      platformioBuildDir(project, parseIni('[platformio]\nworkspace_dir = ws-ini\n'), {
        PLATFORMIO_WORKSPACE_DIR: '/ws',
      }),
      path.resolve('/ws/build'),
    );
    assert.equal(
      platformioBuildDir(project, config, { PLATFORMIO_BUILD_DIR: 'env-build' }),
      path.resolve('/p/env-build'),
    );
    assert.equal(
      platformioBuildDir(project, parseIni(''), { PLATFORMIO_WORKSPACE_DIR: '/ws' }),
      path.resolve('/ws/build'),
    );
  });

  it('reads envs from extra_configs', async () => {
    const root = await tree({
      'platformio.ini': ini('[platformio]\nextra_configs =\n  extra/*.ini\n  more.ini\n[env:main]\n'),
      'extra/one.ini': '[env:one]\nplatform = espressif8266\n',
      'more.ini': '[env:two]\n',
    });
    const d = await discover({ roots: [root], env: {} });
    assert.deepEqual(d.targets.map((t) => t.environment).sort(), ['main', 'one', 'two']);
    assert.ok(d.configFiles.includes(path.join(root, 'extra', 'one.ini')));
  });
});

describe('Arduino discovery', () => {
  it('finds arduino-cli / IDE 2 exports under <sketch>/build/<fqbn>/ and IDE 1.x exports next to the .ino', async () => {
    const root = await tree({
      'Blink/Blink.ino': 'void setup(){}',
      'Blink/build/esp8266.esp8266.d1_mini/Blink.ino.bin': 'x',
      'Blink/build/esp8266.esp8266.d1_mini/Blink.ino.elf': 'x',
      'Blink/build/esp32.esp32.esp32s3/Blink.ino.bin': 'x',
      'Blink/build/esp32.esp32.esp32s3/Blink.ino.bootloader.bin': 'x',
      'Blink/build/esp32.esp32.esp32s3/Blink.ino.partitions.bin': 'x',
      'Blink/build/esp32.esp32.esp32s3/Blink.ino.merged.bin': 'x',
      'Blink/Blink.ino.esp32.bin': 'x',
      'Blink/Blink.ino.bootloader.bin': 'x',
      'NotASketch/Other.ino': 'x',
    });
    const d = await discover({ roots: [root], env: {} });
    const outputs = d.outputs.map((o) => path.relative(root, o.file)).sort();
    assert.deepEqual(outputs, [
      path.join('Blink', 'Blink.ino.esp32.bin'),
      path.join('Blink', 'build', 'esp32.esp32.esp32s3', 'Blink.ino.bin'),
      path.join('Blink', 'build', 'esp8266.esp8266.d1_mini', 'Blink.ino.bin'),
    ]);
    const d1 = target(d, (t) => t.board === 'esp8266:esp8266:d1_mini');
    assert.equal(d1.tool, 'arduino-cli');
    assert.equal(d1.project, 'Blink');
    const ide1 = target(d, (t) => t.tool === 'arduino-ide1');
    assert.equal(ide1.board, 'esp32');
    // A sketch whose export folder does not exist yet still has a location to watch.
    assert.ok(d.locations.some((l) => l.dir === path.join(root, 'Blink', 'build') && l.depth === 1));
  });

  it('resolves vscode-arduino "output" against the workspace root and takes the sketch name', async () => {
    const root = await tree({
      '.vscode/arduino.json': `{
        // vscode-arduino settings (JSON with comments)
        "sketch": "src/Blink/Blink.ino",
        "board": "esp8266:esp8266:d1_mini:xtal=160",
        "output": "../arduino-out", /* outside the workspace, as its README advises */
      }`,
      'src/Blink/Blink.ino': 'x',
    });
    const d = await discover({ roots: [root], env: {} });
    const t = target(d, (x) => x.tool === 'vscode-arduino');
    assert.equal(t.file, path.join(path.dirname(root), 'arduino-out', 'Blink.ino.bin'));
    assert.equal(t.project, 'Blink');
    assert.equal(t.board, 'esp8266:esp8266:d1_mini:xtal=160');
    assert.ok(d.configFiles.includes(path.join(root, '.vscode', 'arduino.json')));
  });

  it('ignores vscode-arduino settings without "output" (temporary build folder)', async () => {
    const root = await tree({ '.vscode/arduino.json': '{"sketch":"a.ino"}' });
    const d = await discover({ roots: [root], env: {} });
    assert.equal(d.targets.length, 0);
  });
});

describe('search bounds and extra locations', () => {
  it('skips node_modules, .git and hidden folders, and stops at maxDepth', async () => {
    const root = await tree({
      'node_modules/pkg/platformio.ini': ini('[env:x]'),
      '.git/platformio.ini': ini('[env:x]'),
      '.hidden/p/platformio.ini': ini('[env:x]'),
      'a/b/c/platformio.ini': ini('[env:deep3]'),
      'a/b/c/d/e/f/platformio.ini': ini('[env:deep6]'),
    });
    const d = await discover({ roots: [root], env: {}, maxDepth: 4 });
    assert.deepEqual(
      d.targets.map((t) => t.environment),
      ['deep3'],
    );
  });

  it('takes every *.bin in extra output folders and files matching extra globs', async () => {
    const root = await tree({
      'out/app.ino.bin': 'x',
      'out/app.ino.bootloader.bin': 'x',
      'out/readme.txt': 'x',
      'custom/x/y/my_fw.bin': 'x',
      'custom/x/y/my_fw.map': 'x',
    });
    const d = await discover({
      roots: [root],
      env: {},
      extraOutputDirs: [path.join(root, 'out')],
      extraGlobs: ['custom/**/*.bin'],
    });
    const files = d.outputs.map((o) => path.relative(root, o.file)).sort();
    // Extra folders are content-checked later: the bootloader is a candidate here and rejected by the analysis.
    assert.deepEqual(files, [
      path.join('custom', 'x', 'y', 'my_fw.bin'),
      path.join('out', 'app.ino.bin'),
      path.join('out', 'app.ino.bootloader.bin'),
    ]);
    assert.equal(d.outputs.find((o) => o.file.endsWith('app.ino.bin'))?.target.project, 'app');
  });

  it('gives a file claimed by two locations to the first one only', async () => {
    const root = await tree({ 'platformio.ini': ini('[env:e]'), '.pio/build/e/firmware.bin': 'x' });
    const d = await discover({ roots: [root], env: {}, extraOutputDirs: [path.join(root, '.pio', 'build', 'e')] });
    assert.deepEqual(
      d.outputs.map((o) => o.target.tool),
      ['platformio'],
    );
  });

  it('converts globs', () => {
    assert.ok(globToRegExp('**/*.bin').test('a/b/c.bin'));
    assert.ok(globToRegExp('**/*.bin').test('c.bin'));
    assert.ok(!globToRegExp('*.bin').test('a/c.bin'));
    assert.ok(globToRegExp('build/{a,b}/fw?.bin').test('build/b/fw1.bin'));
    assert.ok(!globToRegExp('build/{a,b}/fw?.bin').test('build/c/fw1.bin'));
    assert.ok(globToRegExp('[!x]*.bin').test('y.bin'));
    assert.ok(!globToRegExp('[!x]*.bin').test('x.bin'));
  });
});

describe('hasFirmwareProject', () => {
  it('finds exactly the projects discovery would find, within the same depth', async () => {
    const cases: Array<[string, Record<string, string>, boolean]> = [
      ['an empty folder', { 'README.md': '# notes\n' }, false],
      [
        'a web project',
        { 'package.json': '{}', 'src/index.ts': '', 'node_modules/fw/platformio.ini': ini('[env:x]') },
        false,
      ],
      ['a PlatformIO project three levels down', { 'a/b/lab/platformio.ini': ini('[env:d1]') }, true],
      ['a PlatformIO project below the depth limit', { 'a/b/c/d/e/lab/platformio.ini': ini('[env:d1]') }, false],
      ['a PlatformIO project in a hidden folder', { '.cache/lab/platformio.ini': ini('[env:d1]') }, false],
      ['an Arduino sketch', { 'Blink/Blink.ino': 'void setup() {}\n' }, true],
      ["an .ino that is not its folder's sketch", { 'misc/notes.ino': '' }, false],
      ['a vscode-arduino workspace', { '.vscode/arduino.json': '{}' }, true],
    ];
    for (const [what, files, expected] of cases) {
      const root = await tree(files);
      assert.equal(await hasFirmwareProject([root]), expected, what);
      const d = await discover({ roots: [root], env: {} });
      // Something to watch: a build location, or a config file whose edit may add one (arduino.json without "output").
      assert.equal(d.locations.length > 0 || d.configFiles.length > 0, expected, `${what}: discovery agrees`);
    }
  });

  it('looks at every root, and takes a missing root as holding nothing', async () => {
    const empty = await tree({ 'notes.txt': '' });
    const lab = await tree({ 'sensor/platformio.ini': ini('[env:d1]') });
    assert.equal(await hasFirmwareProject([path.join(empty, 'gone'), empty, lab]), true);
    assert.equal(await hasFirmwareProject([path.join(empty, 'gone'), empty]), false);
  });
});
