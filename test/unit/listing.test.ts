// Listing rules that need many entries: case-folded duplicates, the 255-entry cap, unsafe names.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildListing } from '../../src/core/catalog/listing';
import type { CatalogEntry } from '../../src/core/catalog/catalogEntry';
import { analyzeImage } from '../../src/core/firmware/analyzeImage';
import { esp8266ArduinoApp } from '../support/images';

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
});
