// A folder whose watcher vouches for it is answered from the index without touching the disk (a board polling every
// 2 s costs no lstat), and still sees every change its watcher reports. Real folders, real fs.watch; the disk calls
// are counted on node:fs/promises itself.

import { strict as assert } from 'node:assert';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CatalogStore } from '../../src/core/catalog/catalogStore';
import { esp8266ArduinoApp } from '../support/images';
import { until } from '../support/waits';
import { lstatsDuring } from '../support/fsCalls';

describe('catalog: a folder its watcher vouches for', () => {
  let base: string;
  before(async () => {
    base = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'vouch-')));
  });
  after(async () => {
    await fs.rm(base, { recursive: true, force: true });
  });

  async function storeWith(watch: boolean): Promise<{ dir: string; store: CatalogStore }> {
    const dir = await fs.mkdtemp(path.join(base, 'c-'));
    await fs.mkdir(path.join(dir, 'lab'));
    await fs.writeFile(path.join(dir, 'fw.bin'), esp8266ArduinoApp({ payloadSize: 40_000, seed: 1 }));
    await fs.writeFile(path.join(dir, 'lab', 'fw.bin'), esp8266ArduinoApp({ payloadSize: 40_000, seed: 2 }));
    // A vouch long enough that this test never depends on how fast the machine is.
    const store = new CatalogStore({ root: dir, watch, vouchMs: 60_000 });
    await store.open();
    return { dir, store };
  }

  it('answers repeated requests from the index without an lstat once proven', async () => {
    const { dir, store } = await storeWith(true);
    try {
      assert.ok(await store.findCurrent('', 'fw.bin'), 'the first request proves the folder and the entry');
      assert.ok(await store.findCurrent('lab', 'fw.bin'));
      const calls = await lstatsDuring(dir, async () => {
        for (let i = 0; i < 20; i++) {
          assert.ok(await store.findCurrent('', 'fw.bin'));
          assert.ok(await store.findCurrent('lab', 'fw.bin'));
        }
      });
      assert.equal(calls, 0);
    } finally {
      await store.dispose();
    }
  });

  it('checks the folder on disk for every listing, vouched or not (a folder that became a link is never listed)', async () => {
    const { dir, store } = await storeWith(true);
    try {
      await store.findCurrent('lab', 'fw.bin');
      await store.findCurrent('lab', 'fw.bin');
      const calls = await lstatsDuring(dir, async () => {
        for (let i = 0; i < 5; i++) assert.ok(await store.listing('lab', 'esp8266'));
      });
      assert.ok(calls >= 5, `${calls} lstat calls for 5 listings`);
    } finally {
      await store.dispose();
    }
  });

  it('sees a build rewritten in place at the first request after its watcher event', async () => {
    const { dir, store } = await storeWith(true);
    try {
      const before = (await store.findCurrent('', 'fw.bin'))!.entry.version!.key;
      await store.findCurrent('', 'fw.bin');
      // Same name, same size, other bytes: the folder's mtime does not move, only the watcher tells.
      const handle = await fs.open(path.join(dir, 'fw.bin'), 'r+');
      await handle.write(esp8266ArduinoApp({ payloadSize: 40_000, seed: 3 }), 0, undefined, 0);
      await handle.close();
      await until(async () => (await store.findCurrent('', 'fw.bin'))!.entry.version!.key !== before, 'new version');
    } finally {
      await store.dispose();
    }
  });

  it('checks the disk on every request when there is no watcher to vouch', async () => {
    const { dir, store } = await storeWith(false);
    try {
      await store.findCurrent('', 'fw.bin');
      const calls = await lstatsDuring(dir, async () => {
        for (let i = 0; i < 5; i++) await store.findCurrent('', 'fw.bin');
      });
      assert.ok(calls >= 5 * 2, `${calls} lstat calls for 5 requests`);
    } finally {
      await store.dispose();
    }
  });

  it('checks the disk again after any event of a folder above, before vouching for the one below', async () => {
    const { dir, store } = await storeWith(true);
    try {
      await store.findCurrent('lab', 'fw.bin');
      await store.findCurrent('lab', 'fw.bin');
      await fs.writeFile(path.join(dir, 'other.bin'), 'x'); // an event in the root, none in lab
      await until(async () => (await store.listing('', 'any'))!.entries.some((e) => e.name === 'other.bin'), 'seen');
      const calls = await lstatsDuring(dir, async () => {
        await store.findCurrent('lab', 'fw.bin');
      });
      assert.ok(calls > 0, 'lab is proven again (the walk from the root)');
    } finally {
      await store.dispose();
    }
  });
});
