// The catalog index follows the disk by itself (no request asks): one real fs.watch per indexed folder, the set of
// watched folders following the index, dotfiles (publishing's temporary files) never indexed.

import { strict as assert } from 'node:assert';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { CatalogStore } from '../../src/core/catalog/catalogStore';
import { FolderWatchers } from '../../src/core/catalog/folderWatchers';
import { levelLogger } from '../../src/core/log';
import { esp8266ArduinoApp } from '../support/images';
import { md5 } from '../support/serverFixture';
import { until } from '../support/waits';

describe('catalog watcher', () => {
  let base: string;
  let store: CatalogStore;
  let changes: string[][];
  const warnings: string[] = [];
  const names = () => store.allEntries().map((e) => e.relPath);
  const entry = (rel: string) => store.allEntries().find((e) => e.relPath === rel);

  beforeEach(async () => {
    base = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'catalog-watch-')));
    await fs.writeFile(path.join(base, 'a.bin'), esp8266ArduinoApp({ payloadSize: 2000, seed: 1 }));
    store = new CatalogStore({ root: base, logger: levelLogger('warn', (_l, m) => warnings.push(m)) });
    await store.open();
    changes = [];
    store.onDidChange((change) => changes.push(change.dirs));
  });

  afterEach(async () => {
    await store.dispose();
    await fs.rm(base, { recursive: true, force: true });
  });

  it('indexes a build dropped in, a build rewritten in place and a removal, with no request', async () => {
    await fs.writeFile(path.join(base, 'b.bin'), esp8266ArduinoApp({ payloadSize: 2000, seed: 2 }));
    await until(() => names().includes('b.bin'), 'b.bin indexed');
    const rewritten = esp8266ArduinoApp({ payloadSize: 3000, seed: 3 });
    await fs.writeFile(path.join(base, 'a.bin'), rewritten);
    await until(() => entry('a.bin')?.version?.md5 === md5(rewritten), 'a.bin read again');
    await fs.rm(path.join(base, 'b.bin'));
    await until(() => !names().includes('b.bin'), 'b.bin gone');
    assert.ok(changes.length >= 3 && changes.every((dirs) => dirs.includes('')), 'each change told, for the root');
  });

  it('watches a folder created after the start, and one inside it, as they are indexed', async () => {
    await fs.mkdir(path.join(base, 'lab'));
    await until(() => names().includes('lab'), 'lab indexed');
    await fs.writeFile(path.join(base, 'lab', 'c.bin'), esp8266ArduinoApp({ payloadSize: 2000, seed: 4 }));
    await until(() => names().includes('lab/c.bin'), 'lab/c.bin indexed');
    await fs.mkdir(path.join(base, 'lab', 'bench'));
    await until(() => names().includes('lab/bench'), 'lab/bench indexed');
    await fs.writeFile(path.join(base, 'lab', 'bench', 'd.bin'), esp8266ArduinoApp({ payloadSize: 2000, seed: 5 }));
    await until(() => names().includes('lab/bench/d.bin'), 'lab/bench/d.bin indexed');
    await fs.rm(path.join(base, 'lab'), { recursive: true });
    await until(() => !names().some((n) => n.startsWith('lab')), 'lab gone with everything in it');
    assert.deepEqual(names(), ['a.bin']);
  });

  it('never indexes a dotfile: a build written aside as .tmp and renamed in is one new entry', async () => {
    const aside = path.join(base, '.e.bin.tmp');
    await fs.writeFile(aside, esp8266ArduinoApp({ payloadSize: 2000, seed: 6 }));
    await fs.rename(aside, path.join(base, 'e.bin'));
    await until(() => names().includes('e.bin'), 'e.bin indexed');
    assert.deepEqual(names().sort(), ['a.bin', 'e.bin']);
  });
});

describe('folder watchers', () => {
  it('watch the folders they are given, until unwatched with everything below, and name the changed entry', async () => {
    const base = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'folder-watch-')));
    await fs.mkdir(path.join(base, 'x', 'deep'), { recursive: true });
    await fs.mkdir(path.join(base, 'y'));
    const hints: string[] = [];
    const watchers = new FolderWatchers(
      (rel, name) => hints.push(`${rel}:${name ?? '*'}`),
      () => undefined,
    );
    try {
      for (const rel of ['', 'x', 'x/deep', 'y']) watchers.watch(rel, path.join(base, rel));
      assert.deepEqual(watchers.folders.sort(), ['', 'x', 'x/deep', 'y']);
      await fs.writeFile(path.join(base, 'x', 'deep', 'one.bin'), 'a');
      await until(() => hints.includes('x/deep:one.bin'), 'a hint for x/deep/one.bin');
      watchers.unwatch('x');
      assert.deepEqual(watchers.folders.sort(), ['', 'y']);
      await fs.writeFile(path.join(base, 'x', 'deep', 'two.bin'), 'b');
      await fs.writeFile(path.join(base, 'y', '.three.tmp'), 'c');
      await fs.writeFile(path.join(base, 'y', 'four.bin'), 'd');
      await until(() => hints.includes('y:four.bin'), 'a hint for y/four.bin');
      assert.ok(!hints.some((h) => h.includes('two.bin')), 'x/deep is no longer watched');
      assert.ok(!hints.some((h) => h.includes('three')), 'dotfiles are not reported');
    } finally {
      watchers.dispose();
      await fs.rm(base, { recursive: true, force: true });
    }
  });
});
