// Catalog naming, retention and the origins sidecar, over a real temp catalog folder.

import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { ORIGINS_FILE, parseOrigins, readOrigins, writeOrigins } from '../../src/core/catalog/origins';
import type { Origin } from '../../src/core/catalog/origins';
import {
  MAX_ENTRY_NAME_BYTES,
  baseStem,
  belongsToStem,
  chooseStem,
  datedName,
  removeStaleTemps,
  sanitizeStem,
  writeSnapshot,
} from '../../src/core/catalog/snapshot';

const temps: string[] = [];
after(async () => {
  for (const dir of temps) await fs.rm(dir, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'publish-snapshot-'));
  temps.push(dir);
  return dir;
}

const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');

function origin(target: string, bytes: Buffer, builtAt: Date): Origin {
  return {
    project: 'p',
    source: '/x/firmware.bin',
    builtAt: builtAt.toISOString(),
    publishedAt: new Date().toISOString(),
    md5: md5(bytes),
    target,
  };
}

describe('entry names', () => {
  it('sanitizes to [A-Za-z0-9._-], never hidden, never empty', () => {
    assert.equal(sanitizeStem('My Project (v2)'), 'My_Project_v2');
    assert.equal(sanitizeStem('Prüfstand/Ölpumpe'), 'Prufstand_Olpumpe');
    assert.equal(sanitizeStem('..hidden'), 'hidden');
    assert.equal(sanitizeStem('a..b'), 'a.b');
    assert.equal(sanitizeStem('日本'), 'firmware');
    assert.equal(baseStem('blink', 'esp32.esp32.esp32s3'), 'blink-esp32.esp32.esp32s3');
    assert.equal(baseStem('blink'), 'blink');
  });

  it('keeps every name (latest, dated, gzip) within 64 bytes', () => {
    const stem = baseStem(
      'a-really-long-project-name-that-goes-on-and-on-forever',
      'esp32-s3-devkitc-1-n16r8-with-psram',
    );
    for (const name of [
      `${stem}.bin.gz`,
      datedName(stem, '.bin.gz', new Date()),
      datedName(chooseStem(stem, 'k', [`${stem}.bin`], new Map()), '.bin.gz', new Date()),
    ]) {
      assert.ok(Buffer.byteLength(name) <= MAX_ENTRY_NAME_BYTES, `${name} is ${name.length} bytes`);
      assert.match(name, /^[A-Za-z0-9][A-Za-z0-9._-]*$/);
    }
  });

  it('dates previous builds in UTC as YYYYMMDD-HHMMSS', () => {
    assert.equal(datedName('blink-d1', '.bin', new Date('2024-05-01T02:03:04.567Z')), 'blink-d1-20240501-020304.bin');
    assert.ok(belongsToStem('Blink-D1-20240501-020304.BIN', 'blink-d1'));
    assert.ok(!belongsToStem('blink-d1-2-20240501-020304.bin', 'blink-d1'));
  });

  it('is unique without regard to case across targets, and stable for its owner', () => {
    const origins = new Map<string, Origin>([['Blink-D1.bin', origin('target-A', Buffer.from('a'), new Date())]]);
    const names = ['Blink-D1.bin', 'foreign.bin'];
    assert.equal(chooseStem('Blink-D1', 'target-A', names, origins), 'Blink-D1');
    assert.equal(chooseStem('blink-d1', 'target-B', names, origins), 'blink-d1-2');
    // A file nobody published (the user's own) is never taken over.
    assert.equal(chooseStem('FOREIGN', 'target-C', names, origins), 'FOREIGN-2');
    // Once B owns "-2", it keeps it even after A's entries are gone.
    const later = new Map<string, Origin>([['blink-d1-2.bin', origin('target-B', Buffer.from('b'), new Date())]]);
    assert.equal(chooseStem('blink-d1', 'target-B', ['blink-d1-2.bin'], later), 'blink-d1-2');
  });
});

describe('writeSnapshot', () => {
  it('replaces the latest atomically, keeps `keep` dated previous builds, deletes older ones', async () => {
    const catalog = await tempDir();
    const origins = new Map<string, Origin>();
    const builds: Buffer[] = [];
    for (let i = 0; i < 6; i++) {
      const bytes = Buffer.from(`build ${i}`);
      builds.push(bytes);
      const builtAt = new Date(Date.UTC(2024, 0, 1, 10, 0, i));
      await writeSnapshot({
        catalogDir: catalog,
        stem: 'blink-d1',
        ext: '.bin',
        bytes,
        origin: origin('T', bytes, builtAt),
        mtime: builtAt,
        keep: 2,
        origins,
      });
    }
    const names = (await fs.readdir(catalog)).sort();
    assert.deepEqual(names, ['blink-d1-20240101-100003.bin', 'blink-d1-20240101-100004.bin', 'blink-d1.bin']);
    assert.deepEqual(await fs.readFile(path.join(catalog, 'blink-d1.bin')), builds[5]);
    assert.deepEqual(await fs.readFile(path.join(catalog, 'blink-d1-20240101-100004.bin')), builds[4]);
    assert.deepEqual(await fs.readFile(path.join(catalog, 'blink-d1-20240101-100003.bin')), builds[3]);
    assert.deepEqual([...origins.keys()].sort(), names);
    assert.equal(origins.get('blink-d1-20240101-100004.bin')?.md5, md5(builds[4]!));
    // The entry carries the build time, which the catalog lists as date/time.
    assert.equal((await fs.stat(path.join(catalog, 'blink-d1.bin'))).mtime.toISOString(), '2024-01-01T10:00:05.000Z');
  });

  it('keeps no previous builds with keep = 0', async () => {
    const catalog = await tempDir();
    const origins = new Map<string, Origin>();
    for (let i = 0; i < 3; i++) {
      const bytes = Buffer.from(`b${i}`);
      await writeSnapshot({
        catalogDir: catalog,
        stem: 's',
        ext: '.bin',
        bytes,
        origin: origin('T', bytes, new Date(1e12 + i * 1000)),
        mtime: new Date(),
        keep: 0,
        origins,
      });
    }
    assert.deepEqual(await fs.readdir(catalog), ['s.bin']);
  });

  it('never touches a user file that looks like a dated entry', async () => {
    const catalog = await tempDir();
    await fs.writeFile(path.join(catalog, 's-20000101-000000.bin'), 'mine');
    const origins = new Map<string, Origin>();
    for (let i = 0; i < 3; i++) {
      const bytes = Buffer.from(`b${i}`);
      await writeSnapshot({
        catalogDir: catalog,
        stem: 's',
        ext: '.bin',
        bytes,
        origin: origin('T', bytes, new Date(1e12 + i * 1000)),
        mtime: new Date(),
        keep: 1,
        origins,
      });
    }
    assert.equal(await fs.readFile(path.join(catalog, 's-20000101-000000.bin'), 'utf8'), 'mine');
  });

  it('removes only stale temp files', async () => {
    const catalog = await tempDir();
    const stale = path.join(catalog, '.publish-aaaa.tmp');
    const fresh = path.join(catalog, '.publish-bbbb.tmp');
    await fs.writeFile(stale, 'x');
    await fs.writeFile(fresh, 'x');
    await fs.utimes(stale, new Date(Date.now() - 3600_000), new Date(Date.now() - 3600_000));
    await removeStaleTemps(catalog);
    assert.deepEqual(await fs.readdir(catalog), ['.publish-bbbb.tmp']);
  });
});

describe('origins sidecar', () => {
  it('round-trips and is written atomically (no temp file left)', async () => {
    const catalog = await tempDir();
    const map = new Map<string, Origin>([
      [
        'b.bin',
        {
          project: 'b',
          environment: 'd1',
          source: '/s/b',
          builtAt: 't1',
          publishedAt: 't2',
          md5: 'ab'.repeat(16),
          target: 'k',
        },
      ],
      [
        'a.bin',
        {
          project: 'a',
          board: 'esp32:esp32:esp32s3',
          source: '/s/a',
          builtAt: 't1',
          publishedAt: 't2',
          md5: 'cd'.repeat(16),
        },
      ],
    ]);
    await writeOrigins(catalog, map);
    assert.deepEqual(await fs.readdir(catalog), [ORIGINS_FILE]);
    const back = await readOrigins(catalog);
    assert.deepEqual(Object.fromEntries(back), Object.fromEntries(map));
    const raw = JSON.parse(await fs.readFile(path.join(catalog, ORIGINS_FILE), 'utf8'));
    assert.deepEqual(Object.keys(raw), ['a.bin', 'b.bin']);
  });

  it('reads a missing or corrupt sidecar as empty, and drops malformed entries', async () => {
    assert.equal((await readOrigins(await tempDir())).size, 0);
    assert.equal(parseOrigins('{"a.bin": {"project"').size, 0);
    assert.equal(parseOrigins('[1,2]').size, 0);
    const parsed = parseOrigins(
      JSON.stringify({
        'ok.bin': { project: 'p', source: '/s', md5: 'AB'.repeat(16), builtAt: 'x', publishedAt: 'y' },
        'no-md5.bin': { project: 'p', source: '/s' },
        '../escape.bin': { project: 'p', source: '/s', md5: 'ab' },
        'str.bin': 'nope',
      }),
    );
    assert.deepEqual([...parsed.keys()], ['ok.bin']);
    assert.equal(parsed.get('ok.bin')?.md5, 'ab'.repeat(16));
  });
});
