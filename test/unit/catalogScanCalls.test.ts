// A first scan proves each new image once: the folder's own listing says which entries are regular files, so no
// lstat comes before the proven open (1000 images at start: 1000 disk calls on the loop fewer). Links and folders
// still get theirs. Real folders; the disk calls are counted on node:fs/promises itself.

import { strict as assert } from 'node:assert';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { CatalogStore } from '../../src/core/catalog/catalogStore';
import { esp8266ArduinoApp } from '../support/images';
import { lstatsOf } from '../support/fsCalls';

describe('catalog: the first scan of a folder of images', () => {
  let base: string;
  after(() => fs.rm(base, { recursive: true, force: true }));

  it('lstats each new image once (the walk of its proof), and still indexes links and folders', async () => {
    base = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'scan-calls-')));
    const count = 20;
    for (let i = 0; i < count; i++) {
      await fs.writeFile(path.join(base, `img-${i}.bin`), esp8266ArduinoApp({ payloadSize: 20_000, seed: i }));
    }
    await fs.mkdir(path.join(base, 'lab'));
    await fs.writeFile(path.join(base, 'lab', 'fw.bin'), esp8266ArduinoApp({ payloadSize: 20_000, seed: 99 }));
    await fs.symlink('lab/fw.bin', path.join(base, 'latest.bin'));
    const store = new CatalogStore({ root: base, watch: false });
    try {
      const calls = await lstatsOf(
        (file) => /\/img-\d+\.bin$/.test(file),
        () => store.open(),
      );
      assert.equal(calls, count, 'one lstat per image');
      const names = store.allEntries().map((entry) => entry.relPath);
      for (let i = 0; i < count; i++) assert.ok(names.includes(`img-${i}.bin`), `img-${i}.bin indexed`);
      assert.ok(names.includes('lab/fw.bin') && names.includes('latest.bin'), names.join(', '));
      const linked = store.allEntries().find((entry) => entry.relPath === 'latest.bin');
      const target = store.allEntries().find((entry) => entry.relPath === 'lab/fw.bin');
      assert.equal(linked?.version?.md5, target?.version?.md5, 'the inside link is the image it leads to');
      const first = store.allEntries().find((entry) => entry.relPath === 'img-0.bin');
      assert.equal(first?.size, (await fs.stat(path.join(base, 'img-0.bin'))).size);
    } finally {
      await store.dispose();
    }
  });

  it('takes the lstat way for an image that became a link, a folder or nothing after the folder was listed', async () => {
    const dir = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'scan-swap-')));
    const outside = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'scan-outside-')));
    for (const name of ['keep', 'outside', 'inside', 'folder', 'gone'])
      await fs.writeFile(path.join(dir, `${name}.bin`), esp8266ArduinoApp({ payloadSize: 20_000, seed: name.length }));
    await fs.writeFile(path.join(outside, 'secret.bin'), esp8266ArduinoApp({ payloadSize: 20_000, seed: 77 }));
    const promises = fs as unknown as { readdir: (...args: unknown[]) => Promise<unknown> };
    const readdir = promises.readdir;
    // Right after the scan's listing (which says "regular file" for each), the files change under it.
    promises.readdir = async (...args: unknown[]) => {
      const listed = await readdir(...args);
      if ((args[1] as { withFileTypes?: boolean } | undefined)?.withFileTypes) {
        promises.readdir = readdir;
        await fs.rm(path.join(dir, 'outside.bin'));
        await fs.symlink(path.join(outside, 'secret.bin'), path.join(dir, 'outside.bin'));
        await fs.rm(path.join(dir, 'inside.bin'));
        await fs.symlink('keep.bin', path.join(dir, 'inside.bin'));
        await fs.rm(path.join(dir, 'folder.bin'));
        await fs.mkdir(path.join(dir, 'folder.bin'));
        await fs.rm(path.join(dir, 'gone.bin'));
      }
      return listed;
    };
    const store = new CatalogStore({ root: dir, watch: false });
    try {
      await store.open();
      const entries = new Map(store.allEntries().map((entry) => [entry.relPath, entry]));
      assert.ok(entries.get('keep.bin')?.version, 'the untouched image is indexed');
      assert.equal(entries.has('outside.bin'), false, 'a link leading outside is left out');
      assert.equal(entries.get('inside.bin')?.version?.md5, entries.get('keep.bin')?.version?.md5, 'an inside link');
      assert.equal(entries.get('folder.bin')?.isDirectory, true, 'a folder now');
      assert.equal(entries.has('gone.bin'), false, 'removed');
    } finally {
      promises.readdir = readdir;
      await store.dispose();
      await fs.rm(dir, { recursive: true, force: true });
      await fs.rm(outside, { recursive: true, force: true });
    }
  });
});
