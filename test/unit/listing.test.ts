// Listing rules that need many entries: case-folded duplicates, the 255-entry cap, unsafe names.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as listingModule from '../../src/core/catalog/listing';
import { buildListing, newestFirst, prepareListing, type Audience } from '../../src/core/catalog/listing';
import { Catalog } from '../../src/core/catalog/catalog';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { yieldIfBusy } from '../../src/core/work/loopTurn';
import type { CatalogEntry } from '../../src/core/catalog/catalogEntry';
import { analyzeImage } from '../../src/core/firmware/analyzeImage';
import { esp32App, esp8266ArduinoApp } from '../support/images';

const image = esp8266ArduinoApp({ payloadSize: 60_000, seed: 70 });
const info = analyzeImage(image, 'x.bin');

function app(name: string, mtimeMs: number): CatalogEntry {
  return {
    dir: '',
    name,
    relPath: name,
    absPath: `/c/${name}`,
    isDirectory: false,
    size: image.length,
    mtimeMs,
    version: { key: name, size: image.length, mtimeMs, md5: 'm', sha256: 's', info },
  };
}

describe('catalog listing rules', () => {
  it('keeps the newest of names equal without regard to case and says why the other is left out', () => {
    const listing = buildListing([app('FW.bin', 1000), app('fw.bin', 2000)], 'esp8266');
    assert.deepEqual(
      listing.entries.map((e) => e.name),
      ['fw.bin'],
    );
    assert.match(listing.excluded[0]!.reason, /same name as fw\.bin without regard to case/);
  });

  it('offers at most 255 images, the newest', () => {
    const entries = Array.from({ length: 300 }, (_, i) => app(`fw-${String(i).padStart(3, '0')}.bin`, i * 1000));
    const listing = buildListing(entries, 'any');
    const bins = listing.entries.filter((e) => e.type === 'bin');
    assert.equal(bins.length, 255);
    assert.equal(bins[0]!.name, 'fw-299.bin');
    assert.equal(listing.excluded.length, 45);
    assert.ok(listing.excluded.every((e) => /more than 255/.test(e.reason)));
  });

  it('lists images newest first, those of the same time by name, then files and folders by name', () => {
    const folder = (name: string): CatalogEntry => ({ ...app(name, 1), isDirectory: true, version: undefined });
    const listing = buildListing(
      [
        app('b.bin', 5000),
        folder('zeta'),
        app('c.bin', 9000),
        app('a.bin', 5000),
        folder('alpha'),
        app('B2.bin', 5000),
      ],
      'any',
    );
    assert.deepEqual(
      listing.entries.map((e) => e.name),
      ['c.bin', 'B2.bin', 'a.bin', 'b.bin', 'alpha', 'zeta'],
    );
  });

  it('leaves out app images whose names a device cannot request', () => {
    const listing = buildListing([app('my fw.bin', 1), app('<script>.bin', 2), app('ok.bin', 3)], 'any');
    assert.deepEqual(
      listing.entries.map((e) => e.name),
      ['ok.bin'],
    );
    assert.equal(listing.excluded.length, 2);
  });

  it('serialises like python json.dumps, escaping non-ASCII', () => {
    const folder: CatalogEntry = {
      dir: '',
      name: 'Prüfung',
      relPath: 'Prüfung',
      absPath: '/c/P',
      isDirectory: true,
      size: 0,
      mtimeMs: 0,
    };
    assert.equal(buildListing([folder], 'any').body.toString(), '[{"name": "Pr\\u00fcfung", "type": "directory"}]');
  });

  it('gives the same listings when prepared ahead in slices of the loop as when built at once', async () => {
    const esp32 = esp32App({ chip: 'esp32', version: '1', projectName: 'p', payloadSize: 40_000, seed: 3 });
    const esp32Info = analyzeImage(esp32, 'e.bin');
    // A folder with every rule at work: 400 images over the cap, case twins, unsafe and long names, another chip
    // family, equal times, plain files and folders.
    const catalog = (): CatalogEntry[] => {
      const entries: CatalogEntry[] = [];
      for (let i = 0; i < 400; i++) entries.push(app(`fw-${String(i).padStart(3, '0')}.bin`, 1000 * Math.floor(i / 3)));
      entries.push(app('FW-399.bin', 133_000), app('bad name.bin', 500_000), app(`${'x'.repeat(220)}.bin`, 500_001));
      for (let i = 0; i < 30; i++) {
        const e32 = app(`esp32-${i}.bin`, 200_000 + i);
        entries.push({ ...e32, version: { ...e32.version!, info: esp32Info } });
      }
      entries.push(
        { ...app('notes.txt', 5), version: undefined },
        { ...app('old', 6), isDirectory: true, version: undefined },
      );
      return entries;
    };
    const audiences: Audience[] = ['any', 'esp8266', 'esp32'];
    const atOnce = catalog();
    const expected = audiences.map((audience) => buildListing(atOnce, audience));
    const prepared = catalog();
    yieldIfBusy();
    const until = performance.now() + 5;
    while (performance.now() < until) {
      // this turn is spent: the preparation goes on in later turns
    }
    let turns = 0;
    const ticker = setInterval(() => turns++, 0);
    await prepareListing(prepared);
    clearInterval(ticker);
    assert.ok(turns > 0, 'other work ran while it was prepared');
    for (const [index, audience] of audiences.entries()) {
      const listing = buildListing(prepared, audience);
      assert.deepEqual(listing.entries, expected[index]!.entries, `${audience}: the same entries in the same order`);
      assert.deepEqual(listing.excluded, expected[index]!.excluded, `${audience}: the same exclusions`);
      assert.equal(listing.body.toString(), expected[index]!.body.toString(), `${audience}: the same bytes`);
    }
    assert.equal(expected[0]!.entries.filter((e) => e.type === 'bin').length, 255);
    assert.ok(expected[2]!.entries.some((e) => e.name === 'esp32-0.bin'));
  });

  it('builds the same listing in turns of the loop, and once for many requests at once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'acus-herd-'));
    let catalog: Catalog | undefined;
    try {
      for (let i = 0; i < 400; i++) {
        writeFileSync(
          join(dir, `fw-${String(i).padStart(4, '0')}.bin`),
          esp8266ArduinoApp({ payloadSize: 2000, seed: i }),
        );
      }
      catalog = new Catalog({ root: dir, watch: false });
      await catalog.open();
      let builds = 0;
      const real = listingModule.buildListingInSlices;
      const counting = (...args: Parameters<typeof real>) => {
        builds++;
        return real(...args);
      };
      (listingModule as { buildListingInSlices: typeof real }).buildListingInSlices = counting;
      try {
        // A fleet asking right after a start (or a change): the 300 requests share one build.
        const answers = await Promise.all(Array.from({ length: 300 }, () => catalog!.listing('', 'esp8266')));
        assert.equal(builds, 1, 'one build for 300 requests');
        assert.ok(
          answers.every((a) => a === answers[0]),
          'every request got that listing',
        );
        await catalog.listing('', 'esp8266');
        assert.equal(builds, 1, 'and it is kept');
      } finally {
        (listingModule as { buildListingInSlices: typeof real }).buildListingInSlices = real;
      }
      const entries = catalog.allEntries().filter((e) => e.dir === '');
      const direct = buildListing([...entries].sort(newestFirst), 'esp8266');
      const sliced = (await catalog.listing('', 'esp8266'))!;
      assert.equal(sliced.body.toString(), direct.body.toString(), 'the same bytes as a listing built in one piece');
      assert.equal(sliced.entries.length, 255);
      assert.equal(sliced.excluded.length, 145);
    } finally {
      await catalog?.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
