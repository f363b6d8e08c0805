// The chip table against esptool's own list: every chip esptool knows is recognised in an image header and shown
// by the name esptool gives it, in the views and in the log.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { analyzeImage } from '../../src/core/firmware/analyzeImage';
import { CHIPS } from '../../src/core/firmware/chips';
import { notOfferedReason } from '../../src/core/catalog/listing';
import { chipLabel, familyLabel } from '../../src/extension/format';
import { esp32App, esp8266ArduinoApp } from '../support/images';

// esptool/targets/*.py (CHIP_DEFS key, IMAGE_CHIP_ID, CHIP_NAME), esptool master of 2026-08; the same ids as
// ESP-IDF's esp_chip_id_t (esp_app_format.h).
const ESPTOOL_CHIPS: Array<[name: string, imageChipId: number, chipName: string]> = [
  ['esp32', 0, 'ESP32'],
  ['esp32s2', 2, 'ESP32-S2'],
  ['esp32c3', 5, 'ESP32-C3'],
  ['esp32s3', 9, 'ESP32-S3'],
  ['esp32c2', 12, 'ESP32-C2'],
  ['esp32c6', 13, 'ESP32-C6'],
  ['esp32h2', 16, 'ESP32-H2'],
  ['esp32p4', 18, 'ESP32-P4'],
  ['esp32c61', 20, 'ESP32-C61'],
  ['esp32c5', 23, 'ESP32-C5'],
  ['esp32h21', 25, 'ESP32-H21'],
  ['esp32h4', 28, 'ESP32-H4'],
  ['esp32e22', 31, 'ESP32-E22'],
  ['esp32s31', 32, 'ESP32-S31'],
];

describe('chips', () => {
  for (const [name, id, chipName] of ESPTOOL_CHIPS) {
    it(`chip_id ${id} in an image header is ${chipName}, in the catalog view and in the log`, () => {
      const info = analyzeImage(esp32App({ chipId: id, payloadSize: 64 * 1024 }), 'app.bin');
      assert.equal(info.kind, 'app');
      assert.equal(info.family, 'esp32');
      assert.equal(info.chip, name);
      assert.equal(info.complete, true);
      assert.equal(chipLabel(info), chipName);
      const entry = { name: 'app.bin', relPath: 'app.bin', isDirectory: false, version: { info } };
      assert.equal(
        notOfferedReason(entry as Parameters<typeof notOfferedReason>[0], 'esp8266'),
        `${chipName} image, not for ESP8266`,
      );
    });
  }

  it('knows exactly the chips esptool knows, ESP8266 included', () => {
    assert.deepEqual(CHIPS.map((c) => c.name).sort(), ['esp8266', ...ESPTOOL_CHIPS.map(([name]) => name)].sort());
    const info = analyzeImage(esp8266ArduinoApp(), 'sketch.bin');
    assert.equal(chipLabel(info), 'ESP8266');
    assert.equal(familyLabel('esp32'), 'ESP32');
  });

  it('an id esptool does not know is not taken for an ESP32 image', () => {
    const info = analyzeImage(esp32App({ chipId: 0x21, payloadSize: 64 * 1024 }), 'app.bin');
    assert.notEqual(info.family, 'esp32');
  });
});
