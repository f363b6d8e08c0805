// The export folder as nginx, rsync and a person see it: generations switched in one rename, unchanged images
// hard-linked, the export's own bytes, readable by anyone, and nothing of anyone else's ever touched.

import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CatalogStore } from '../../src/core/catalog/catalogStore';
import { NginxExporter } from '../../src/core/export/nginxExport';
import { esp32App, esp8266ArduinoApp } from '../support/images';

describe('nginx export folder', () => {
  let base = '';
  let catalogDir = '';
  let catalog: CatalogStore;
  let dir = '';

  beforeEach(async () => {
    base = mkdtempSync(join(tmpdir(), 'acus-export-'));
    catalogDir = join(base, 'catalog');
    mkdirSync(join(catalogDir, 'sub'), { recursive: true });
    writeFileSync(join(catalogDir, 'a.bin'), esp8266ArduinoApp({ payloadSize: 50_000, seed: 1 }));
    writeFileSync(
      join(catalogDir, 'sub', 'b.bin'),
      esp32App({ chip: 'esp32', version: '1', projectName: 'p', payloadSize: 40_000, seed: 2 }),
    );
    catalog = new CatalogStore({ root: catalogDir, watch: false });
    await catalog.open();
    dir = join(base, 'export');
  });

  afterEach(async () => {
    await catalog.dispose();
    rmSync(base, { recursive: true, force: true });
  });

  const generation = () => readlinkSync(join(dir, 'current'));

  it('switches generations in one link, hard-links unchanged images and keeps two previous exports', async () => {
    const exporter = new NginxExporter({ dir, catalog, port: 8080 });
    const first = await exporter.export();
    assert.deepEqual([first.images, first.written, first.linked, first.folders], [2, 2, 0, 2]);
    const firstFile = join(dir, generation(), 'images', 'a.bin');
    writeFileSync(join(dir, 'run', 'nginx.pid'), '1234\n'); // what a running nginx leaves there

    writeFileSync(join(catalogDir, 'c.bin'), esp8266ArduinoApp({ payloadSize: 30_000, seed: 3 }));
    await catalog.rescanAll();
    const second = await exporter.export();
    assert.deepEqual([second.images, second.written, second.linked, second.port], [3, 1, 2, 8080]);
    assert.equal(generation(), '.export-2');
    assert.equal(statSync(join(dir, 'current', 'images', 'a.bin')).ino, statSync(firstFile).ino, 'linked, not copied');
    assert.equal(readFileSync(join(dir, 'run', 'nginx.pid'), 'utf8'), '1234\n', 'run/ survives a re-export');
    assert.equal(readlinkSync(join(dir, 'server.conf')), 'current/server.conf');

    await exporter.export();
    await exporter.export();
    const kept = readdirSync(dir)
      .filter((name) => name.startsWith('.export-'))
      .sort();
    assert.deepEqual(kept, ['.export-2', '.export-3', '.export-4']);
    assert.ok(!readdirSync(dir).some((name) => name.endsWith('.tmp') || name.startsWith('current.')));
    await exporter.dispose();
  });

  it('answers with the bytes of the catalog listing per folder and family', async () => {
    await new NginxExporter({ dir, catalog }).export();
    const manifest = JSON.parse(readFileSync(join(dir, 'current', 'manifest.json'), 'utf8'));
    for (const folder of manifest.folders as { rel: string; id: string }[]) {
      for (const audience of ['esp8266', 'esp32', 'any'] as const) {
        const written = readFileSync(join(dir, 'current', 'catalog', audience, `${folder.id}.json`));
        assert.ok(written.equals((await catalog.listing(folder.rel, audience))!.body), `${folder.rel} ${audience}`);
      }
    }
    assert.equal(manifest.port, 8000);
    assert.match(readFileSync(join(dir, 'current', 'server.conf'), 'utf8'), /add_header x-SHA256 [0-9a-f]{64};/);
  });

  it('keeps the bytes it exported when the catalog file is rewritten in place', async () => {
    await new NginxExporter({ dir, catalog }).export();
    const exported = readFileSync(join(dir, 'current', 'images', 'a.bin'));
    writeFileSync(join(catalogDir, 'a.bin'), esp8266ArduinoApp({ payloadSize: 50_000, seed: 9 }));
    assert.ok(readFileSync(join(dir, 'current', 'images', 'a.bin')).equals(exported));
  });

  it('writes files every user can read and folders every user can search, whatever the umask', async () => {
    const umask = process.umask(0o077);
    try {
      await new NginxExporter({ dir, catalog }).export();
    } finally {
      process.umask(umask);
    }
    const walk = (path: string): void => {
      const stats = statSync(path);
      assert.equal(stats.mode & 0o777, stats.isDirectory() ? 0o755 : 0o644, path);
      if (stats.isDirectory()) for (const name of readdirSync(path)) walk(join(path, name));
    };
    walk(join(dir, 'current'));
    for (const name of ['nginx.conf', 'README.txt', 'run']) walk(join(dir, name));
  });

  it('never writes into a folder that is not an export, nor into or around the catalog', async () => {
    mkdirSync(dir);
    writeFileSync(join(dir, 'keep.txt'), 'mine');
    await assert.rejects(new NginxExporter({ dir, catalog }).export(), /neither empty nor an nginx export/);
    assert.deepEqual(readdirSync(dir), ['keep.txt']);
    await assert.rejects(
      new NginxExporter({ dir: join(catalogDir, 'nginx'), catalog }).export(),
      /must not contain each other/,
    );
    await assert.rejects(new NginxExporter({ dir: base, catalog }).export(), /must not contain each other/);
  });

  it('refuses a second exporter of the same folder while the first one holds it', async () => {
    await new NginxExporter({ dir, catalog }).export();
    writeFileSync(join(dir, '.export.lock'), `${process.ppid}\n`); // a live process
    await assert.rejects(new NginxExporter({ dir, catalog }).export(), /another export .* is under way/);
    writeFileSync(join(dir, '.export.lock'), '999999999\n'); // a process that is gone
    await new NginxExporter({ dir, catalog }).export();
  });
});
