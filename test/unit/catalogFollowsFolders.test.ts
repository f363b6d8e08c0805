// The catalog index keeps following a folder when the folder itself changes under its watcher: replaced by another
// real folder (a watcher follows an inode, not a path), swapped for a link before any event arrives, holding an inside
// link whose target lives in another folder, or left without a watcher (inotify's limit). Real folders, real fs.watch;
// a watcher's failure is the real one's error, raised through node:fs itself.

import { strict as assert } from 'node:assert';
import { existsSync, promises as fs, renameSync, symlinkSync, type FSWatcher } from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Catalog } from '../../src/core/catalog/catalog';
import { CatalogStore } from '../../src/core/catalog/catalogStore';
import { isNotInside } from '../../src/core/catalog/catalogRoot';
import { levelLogger } from '../../src/core/log';
import { esp8266ArduinoApp } from '../support/images';
import { until } from '../support/waits';
import { lstatsDuring } from '../support/fsCalls';

// The module object folderWatchers.ts calls `watch` on.
const nodeFs = createRequire(__filename)('node:fs') as { watch: (...args: unknown[]) => FSWatcher };

const image = (seed: number) => esp8266ArduinoApp({ payloadSize: 20_000, seed });

describe('catalog: a folder replaced by another real folder under its watcher', () => {
  let base: string;
  before(async () => (base = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'follow-')))));
  after(() => fs.rm(base, { recursive: true, force: true }));

  const ways = {
    'mv box old && mkdir box': async (dir: string) => {
      await fs.rename(path.join(dir, 'box'), path.join(dir, 'old'));
      await fs.mkdir(path.join(dir, 'box'));
    },
    'an atomic deploy (mv new box)': async (dir: string) => {
      await fs.mkdir(path.join(dir, 'new'));
      await fs.rename(path.join(dir, 'box'), path.join(dir, 'old'));
      await fs.rename(path.join(dir, 'new'), path.join(dir, 'box'));
    },
  };

  async function boxStore(): Promise<{ dir: string; store: CatalogStore }> {
    const dir = await fs.mkdtemp(path.join(base, 'c-'));
    await fs.mkdir(path.join(dir, 'box', 'sub'), { recursive: true });
    await fs.writeFile(path.join(dir, 'box', 'a.bin'), image(1));
    await fs.writeFile(path.join(dir, 'box', 'sub', 'a.bin'), image(3));
    // A long vouch: a fix that only waits for it to run out would not pass.
    const store = new CatalogStore({ root: dir, watch: true, vouchMs: 60_000 });
    await store.open();
    for (let i = 0; i < 3; i++) assert.ok(await store.findCurrent('box', 'a.bin')); // proven, then vouched for
    return { dir, store };
  }

  for (const [how, replace] of Object.entries(ways)) {
    it(`lists and serves a file dropped into the new folder at the next request (${how})`, async () => {
      const { dir, store } = await boxStore();
      try {
        await replace(dir);
        const names = async () => (await store.listing('box', 'any'))?.entries.map((e) => e.name);
        await until(async () => (await names())?.length === 0, 'the new box listed, empty');
        await fs.writeFile(path.join(dir, 'box', 'b.bin'), image(2));
        await until(async () => (await store.findCurrent('box', 'b.bin')) !== undefined, 'box/b.bin served');
        assert.deepEqual(await names(), ['b.bin']);
      } finally {
        await store.dispose();
      }
    });

    it(`learns a file dropped into the new folder and its subfolder with no request (${how})`, async () => {
      const { dir, store } = await boxStore();
      const names = () => store.allEntries().map((e) => e.relPath);
      try {
        await replace(dir);
        await until(() => !names().includes('box/a.bin'), 'the old box/a.bin gone from the index');
        await fs.writeFile(path.join(dir, 'box', 'b.bin'), image(2));
        await until(() => names().includes('box/b.bin'), 'box/b.bin indexed by itself');
        await fs.mkdir(path.join(dir, 'box', 'sub'));
        await until(() => names().includes('box/sub'), 'box/sub indexed by itself');
        await fs.writeFile(path.join(dir, 'box', 'sub', 'c.bin'), image(4));
        await until(() => names().includes('box/sub/c.bin'), 'box/sub/c.bin indexed by itself');
      } finally {
        await store.dispose();
      }
    });
  }

  it('follows a subfolder replaced inside a folder (the watchers below restarted too)', async () => {
    const { dir, store } = await boxStore();
    const names = () => store.allEntries().map((e) => e.relPath);
    try {
      await fs.mkdir(path.join(dir, 'next', 'sub'), { recursive: true });
      await fs.rename(path.join(dir, 'box'), path.join(dir, 'old'));
      await fs.rename(path.join(dir, 'next'), path.join(dir, 'box'));
      await until(() => !names().includes('box/sub/a.bin'), 'the old box/sub/a.bin gone');
      await fs.writeFile(path.join(dir, 'box', 'sub', 'd.bin'), image(5));
      await until(() => names().includes('box/sub/d.bin'), 'box/sub/d.bin indexed by itself');
    } finally {
      await store.dispose();
    }
  });
});

describe('catalog: a folder that became a link, before its watcher event is delivered', () => {
  let base: string;
  let dir: string;
  let secret: string;
  before(async () => {
    base = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'follow-link-')));
    dir = path.join(base, 'catalog');
    secret = path.join(base, 'secret');
    await fs.mkdir(secret);
    await fs.writeFile(path.join(secret, 'fw.bin'), image(9));
  });
  after(() => fs.rm(base, { recursive: true, force: true }));

  async function swapped(run: (store: CatalogStore) => Promise<void>): Promise<void> {
    await fs.rm(dir, { recursive: true, force: true });
    await fs.mkdir(path.join(dir, 'box'), { recursive: true });
    await fs.writeFile(path.join(dir, 'box', 'fw.bin'), image(1));
    // The default vouch (1 s), as in production.
    const store = new CatalogStore({ root: dir, watch: true });
    await store.open();
    try {
      for (let i = 0; i < 3; i++) assert.ok(await store.findCurrent('box', 'fw.bin')); // proven, then vouched for
      // In the same turn as the next request: no watcher event can have been delivered (on macOS, FSEvents delivers
      // 50 ms later: every request in those 50 ms is such a request).
      renameSync(path.join(dir, 'box'), path.join(dir, '.box-old'));
      symlinkSync(secret, path.join(dir, 'box'));
      await run(store);
    } finally {
      await store.dispose();
    }
  }

  it('is not listed at the first request that touches it', () =>
    swapped(async (store) => {
      const listing = await store.listing('box', 'any');
      assert.equal(listing, undefined, `box/ is still listed: ${JSON.stringify(listing?.entries.map((e) => e.name))}`);
    }));

  it('refuses the download at the open, and the folder leaves the index at once', () =>
    swapped(async (store) => {
      const found = await store.findCurrent('box', 'fw.bin');
      if (found) {
        // Answered from the index (vouched): the bytes are proven when the file is opened.
        await assert.rejects(store.loadEntry(found.entry, true), (error) => isNotInside(error));
      }
      assert.ok(!store.allEntries().some((e) => e.relPath.startsWith('box/')), 'box/ left the index');
      assert.equal(await store.findCurrent('box', 'fw.bin'), undefined);
    }));
});

describe('catalog: an inside link whose target lives in another folder', () => {
  it('serves the new version at the next request after the target is rewritten in place', async () => {
    const dir = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'follow-inside-')));
    await fs.mkdir(path.join(dir, 'sub'));
    await fs.writeFile(path.join(dir, 'sub', 'v3.bin'), image(1));
    await fs.symlink('sub/v3.bin', path.join(dir, 'latest.bin'));
    const store = new CatalogStore({ root: dir, watch: true, vouchMs: 60_000 });
    await store.open();
    try {
      for (let i = 0; i < 3; i++) await store.findCurrent('', 'latest.bin');
      const before = (await store.findCurrent('', 'latest.bin'))!.entry.version!.md5;
      // Same size, other bytes, written in place: only sub/'s watcher sees it, and the root's mtime does not move.
      const handle = await fs.open(path.join(dir, 'sub', 'v3.bin'), 'r+');
      await handle.write(image(2), 0, undefined, 0);
      await handle.close();
      const after = (await store.findCurrent('', 'latest.bin'))!.entry.version!.md5;
      assert.notEqual(after, before, 'latest.bin still answers with the old build');
    } finally {
      await store.dispose();
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});

describe('catalog: Remove of an entry whose folder became a link', () => {
  it('never deletes a file outside the catalog', async () => {
    const base = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'follow-rm-')));
    const dir = path.join(base, 'catalog');
    const secret = path.join(base, 'secret');
    await fs.mkdir(path.join(dir, 'box'), { recursive: true });
    await fs.mkdir(secret);
    await fs.writeFile(path.join(dir, 'box', 'fw.bin'), image(1));
    await fs.writeFile(path.join(secret, 'fw.bin'), 'not yours');
    const catalog = new Catalog({ root: dir });
    await catalog.open();
    try {
      for (let i = 0; i < 3; i++) assert.ok(await catalog.findCurrent('box', 'fw.bin')); // vouched for
      renameSync(path.join(dir, 'box'), path.join(dir, '.box-old'));
      symlinkSync(secret, path.join(dir, 'box'));
      await assert.rejects(catalog.remove('box/fw.bin')); // "not in the catalog" is the right answer
      assert.ok(existsSync(path.join(secret, 'fw.bin')), 'the file outside the catalog was deleted');
    } finally {
      await catalog.dispose();
      await fs.rm(base, { recursive: true, force: true });
    }
  });
});

describe('catalog: folders left without a watcher', () => {
  let base: string;
  before(async () => (base = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'follow-nowatch-')))));
  after(() => fs.rm(base, { recursive: true, force: true }));

  async function storeIn(): Promise<{ dir: string; store: CatalogStore; warnings: string[] }> {
    const dir = await fs.mkdtemp(path.join(base, 'c-'));
    await fs.mkdir(path.join(dir, 'lab'));
    await fs.writeFile(path.join(dir, 'lab', 'fw.bin'), image(1));
    const warnings: string[] = [];
    const logger = levelLogger('warn', (_level, message) => warnings.push(message));
    const store = new CatalogStore({ root: dir, watch: true, vouchMs: 60_000, pollMs: 100, logger });
    return { dir, store, warnings };
  }

  it('says once that inotify ran out of watches, checks on disk, learns changes by polling, and watches again', async () => {
    const original = nodeFs.watch;
    nodeFs.watch = () => {
      throw Object.assign(new Error('ENOSPC: System limit for number of file watchers reached'), { code: 'ENOSPC' });
    };
    const { dir, store, warnings } = await storeIn();
    try {
      await store.open();
      const about = warnings.filter((w) => /cannot watch/.test(w));
      assert.equal(about.length, 1, `one warning, not one per folder: ${JSON.stringify(warnings)}`);
      if (process.platform === 'linux') assert.match(about[0]!, /fs\.inotify\.max_user_watches/);
      // Never vouched for: every request checks the disk.
      await store.findCurrent('lab', 'fw.bin');
      const calls = await lstatsDuring(dir, async () => {
        for (let i = 0; i < 3; i++) assert.ok(await store.findCurrent('lab', 'fw.bin'));
      });
      assert.ok(calls >= 3, `${calls} lstat calls for 3 requests of an unwatched folder`);
      // No request: the poll finds the new file.
      await fs.writeFile(path.join(dir, 'lab', 'new.bin'), image(2));
      await until(() => store.allEntries().some((e) => e.relPath === 'lab/new.bin'), 'lab/new.bin indexed by the poll');
      // The limit raised: the folders are watched again, and vouched for again.
      nodeFs.watch = original;
      await until(
        async () => (await lstatsDuring(dir, async () => void (await store.findCurrent('lab', 'fw.bin')))) === 0,
        'lab vouched for by a watcher again',
      );
    } finally {
      nodeFs.watch = original;
      await store.dispose();
    }
  });

  it('watches a subtree again after its watcher failed', async () => {
    const original = nodeFs.watch;
    const started: Array<{ abs: string; watcher: FSWatcher }> = [];
    nodeFs.watch = (...args: unknown[]) => {
      const watcher = (original as (...a: unknown[]) => FSWatcher)(...args);
      started.push({ abs: String(args[0]), watcher });
      return watcher;
    };
    const { dir, store } = await storeIn();
    try {
      await store.open();
      nodeFs.watch = original;
      const lab = started.find((s) => s.abs === path.join(dir, 'lab'));
      assert.ok(lab, 'lab was watched');
      lab.watcher.emit('error', Object.assign(new Error('EPERM: operation not permitted'), { code: 'EPERM' }));
      // No request: changes below are still learnt, and lab is vouched for again once its watcher is back.
      await fs.writeFile(path.join(dir, 'lab', 'new.bin'), image(2));
      await until(() => store.allEntries().some((e) => e.relPath === 'lab/new.bin'), 'lab/new.bin indexed');
      await until(
        async () => (await lstatsDuring(dir, async () => void (await store.findCurrent('lab', 'fw.bin')))) === 0,
        'lab vouched for by a watcher again',
      );
    } finally {
      nodeFs.watch = original;
      await store.dispose();
    }
  });
});
