// analyzeImage and runningImageMd5s never throw, whatever bytes a folder holds.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { analyzeImage } from '../../src/core/firmware/analyzeImage';
import type { ImageKind } from '../../src/core/firmware/imageInfo';
import { runningImageMd5s } from '../../src/core/firmware/runningMd5';
import { esp32App, esp8266ArduinoApp, gzipOf, mergedImage, pattern, truncate } from '../support/images';

const KINDS: ImageKind[] = ['app', 'bootloader', 'partition-table', 'ota-data', 'merged', 'filesystem', 'not-an-image'];

function check(bytes: Buffer, label: string): void {
  const info = analyzeImage(bytes, 'fuzz.bin');
  assert.ok(KINDS.includes(info.kind), label);
  assert.equal(typeof info.complete, 'boolean', label);
  if (!(info.kind === 'app' && info.complete)) assert.ok(info.reason, `${label}: no reason for ${info.kind}`);
  // analyzeImage's catch-all must not be what kept it from throwing.
  assert.doesNotMatch(info.reason ?? '', /could not be analysed/, label);
  assert.ok(runningImageMd5s(bytes, info).length >= 1, label);
}

describe('robustness', () => {
  it('random buffers, with and without a plausible magic byte', () => {
    for (let seed = 1; seed <= 300; seed++) {
      const bytes = pattern(1 + ((seed * 7919) % 9000), seed);
      check(bytes, `seed ${seed}`);
      for (const magic of [[0xe9], [0x1f, 0x8b], [0xaa, 0x50], [0xea]]) {
        const b = Buffer.from(bytes);
        Buffer.from(magic).copy(b);
        check(b, `seed ${seed} magic ${magic}`);
      }
      // ESP32-looking header over random content
      const e = Buffer.from(bytes.length >= 36 ? bytes : Buffer.concat([bytes, pattern(40, seed)]));
      e[0] = 0xe9;
      e[8] = 0xee;
      e.writeUInt16LE(9, 12);
      e[23] = seed & 1;
      check(e, `seed ${seed} esp32 header`);
      // ESP8266 header with small plausible segments, so walks get deep into random data
      const p = Buffer.from(e);
      p[8] = 0;
      p.writeUInt32LE(seed % 64, 12);
      check(p, `seed ${seed} esp8266 header`);
    }
  });

  it('every short prefix of real images', () => {
    const images = [
      esp8266ArduinoApp({ payloadSize: 20_000 }),
      esp32App({ payloadSize: 20_000 }),
      gzipOf(esp8266ArduinoApp({ payloadSize: 20_000 })),
    ];
    for (const img of images) {
      for (let n = 0; n <= 64; n++) check(truncate(img, n), `prefix ${n}`);
      for (let n = 64; n < img.length; n += 997) check(truncate(img, n), `prefix ${n}`);
    }
  });

  it('random single-byte damage of real images never yields a complete app with a changed body', () => {
    const images = [esp8266ArduinoApp({ payloadSize: 30_000 }), esp32App({ payloadSize: 30_000 })];
    for (const img of images) {
      for (let i = 0; i < 200; i++) {
        const offset = 8 + ((i * 104729) % (img.length - 8)); // leave the first header word alone
        const damaged = Buffer.from(img);
        damaged[offset] ^= 1 + (i % 255);
        const info = analyzeImage(damaged, 'f.bin');
        // Header bytes 2-3 (mode, size) and ESP8266 CRC-covered padding are the only bytes a checksum may not cover.
        if (info.kind === 'app' && info.complete) assert.ok(offset < 24, `offset ${offset} undetected`);
      }
    }
  });

  it('a merged image truncated anywhere never becomes a complete app', () => {
    for (const chip of ['esp32', 'esp32s3']) {
      const merged = mergedImage(chip, { payloadSize: 40_000 });
      for (let n = 1; n < merged.length; n += n < 64 ? 1 : 1543) {
        const info = analyzeImage(truncate(merged, n), 'fuzz.bin');
        assert.ok(!(info.kind === 'app' && info.complete), `${chip} cut ${n}`);
        // Beyond the descriptor offset a bootloader-first file can no longer pass for an app at all.
        if (n >= 36 && chip === 'esp32s3') assert.notEqual(info.kind, 'app', `${chip} cut ${n}`);
      }
    }
  });
});
