// analyzeImage: telling a whole image from one still being written or damaged (protocol.md §8).

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { analyzeImage } from '../../src/core/firmware/analyzeImage';
import { crc32mpeg2 } from '../../src/core/firmware/crc32mpeg2';
import {
  esp32App,
  esp32Bootloader,
  esp8266ArduinoApp,
  esp8266PlainApp,
  flipByte,
  gzipOf,
  partitionTable,
  pattern,
  signedOf,
  truncate,
} from '../support/images';

/** elf2bin.py crc8266 transcribed bit by bit, to check the table-driven CRC and the builder against it. */
function crc8266(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of data) {
    for (let mask = 0x80; mask; mask >>= 1) {
      let bit = crc & 0x80000000 ? 1 : 0;
      if (byte & mask) bit ^= 1;
      crc = (crc << 1) >>> 0;
      if (bit) crc = (crc ^ 0x04c11db7) >>> 0;
    }
  }
  return crc;
}

describe('CRC-32/MPEG-2', () => {
  it('matches the check value and elf2bin crc8266', () => {
    assert.equal(crc32mpeg2(Buffer.from('123456789')), 0x0376e6e7);
    const data = pattern(777, 3);
    assert.equal(crc32mpeg2(data), crc8266(data));
    assert.equal(crc32mpeg2(data.subarray(100), crc32mpeg2(data.subarray(0, 100))), crc8266(data));
  });

  it('the builder stores length and CRC (of the file with both words zero) little-endian at 0x1010/0x1014', () => {
    const bin = esp8266ArduinoApp({ payloadSize: 50_000 });
    assert.equal(bin.readUInt32LE(0x1010), bin.length);
    const zeroed = Buffer.from(bin);
    zeroed.fill(0, 0x1010, 0x1018);
    assert.equal(bin.readUInt32LE(0x1014), crc8266(zeroed));
  });
});

describe('ESP8266 Arduino image completeness', () => {
  const bin = esp8266ArduinoApp({ payloadSize: 120_000 });

  it('every cut point is incomplete', () => {
    // 0xadf/0xae0: the eboot checksum byte and the exact end of eboot.
    const cuts = [
      1, 7, 8, 9, 100, 0xa9c, 0xaa0, 0xadf, 0xae0, 0xfff, 0x1000, 0x1001, 0x1008, 0x1010, 0x1017, 0x1018, 0x2000,
    ];
    cuts.push(bin.length >> 1, bin.length - 17, bin.length - 16, bin.length - 2, bin.length - 1);
    for (const n of cuts) {
      const info = analyzeImage(truncate(bin, n), 'sketch.ino.bin');
      assert.equal(info.complete, false, `cut at ${n}`);
      assert.equal(info.kind, 'app', `cut at ${n}`);
      assert.match(info.reason ?? '', /^incomplete/, `cut at ${n}: ${info.reason}`);
    }
  });

  it('a cut after the length word reports bytes of total', () => {
    const info = analyzeImage(truncate(bin, 12288), 'a.bin');
    assert.equal(info.reason, `incomplete: 12288 of ${bin.length} bytes`);
  });

  it('length and CRC words not yet written (elf2bin between write_bin and add_crc) is incomplete', () => {
    const early = Buffer.from(bin);
    early.fill(0, 0x1010, 0x1018);
    const info = analyzeImage(early, 'a.bin');
    assert.equal(info.complete, false);
    assert.match(info.reason ?? '', /not written yet/);
  });

  it('a flipped byte in a sketch segment fails the CRC', () => {
    for (const offset of [0x1020, 0x4000, bin.length - 100]) {
      const info = analyzeImage(flipByte(bin, offset), 'a.bin');
      assert.equal(info.complete, false);
      assert.equal(info.reason, 'ESP8266 image CRC mismatch');
    }
  });

  it('a flipped byte in eboot fails the eboot checksum', () => {
    const info = analyzeImage(flipByte(bin, 0x100), 'a.bin');
    assert.equal(info.complete, false);
    assert.match(info.reason ?? '', /checksum mismatch/);
  });

  it('a pre-CRC core image (no length/CRC words) is complete by its XOR checksum', () => {
    // Older cores' sketches begin .irom0.text with code, not two zero words: emulate by rebuilding the checksum.
    const legacy = Buffer.from(bin);
    legacy.write('LEGACY!!', 0x1010, 'latin1');
    const sum = [...legacy.subarray(0x1010, 0x1018)].reduce((a, b) => a ^ b, 0);
    legacy[legacy.length - 1] ^= sum;
    const info = analyzeImage(legacy, 'a.bin');
    assert.equal(info.complete, true, info.reason);
    legacy[0x3000] ^= 1;
    assert.equal(analyzeImage(legacy, 'a.bin').reason, 'ESP8266 image checksum mismatch');
  });

  it('a signed image (signature and its length appended) is complete and marked signed', () => {
    const info = analyzeImage(signedOf(bin), 'a.bin.signed');
    assert.equal(info.kind, 'app');
    assert.equal(info.complete, true);
    assert.equal(info.signed, true);
  });

  it('junk after the image makes it not an app', () => {
    const info = analyzeImage(Buffer.concat([bin, pattern(5000, 9)]), 'a.bin');
    assert.equal(info.kind, 'not-an-image');
    assert.match(info.reason ?? '', /unexpected 5000 bytes after the image/);
  });

  it('plain images: truncation and flipped bytes', () => {
    const plain = esp8266PlainApp();
    for (const n of [8, 20, 5000, plain.length - 1])
      assert.equal(analyzeImage(truncate(plain, n), 'p.bin').complete, false);
    assert.equal(analyzeImage(flipByte(plain, 300), 'p.bin').reason, 'ESP8266 image checksum mismatch');
  });
});

describe('ESP32 image completeness', () => {
  const app = esp32App({ chip: 'esp32s3', payloadSize: 100_000 });
  const checksumOffset = app.length - 33;

  it('cuts at many points are incomplete; cuts past the descriptor keep kind app', () => {
    const cuts = [24, 31, 32, 40, 200, 300, 4096, app.length >> 1, checksumOffset - 1];
    for (const n of cuts) {
      const info = analyzeImage(truncate(app, n), 'firmware.bin');
      assert.equal(info.complete, false, `cut at ${n}`);
      assert.equal(info.family, 'esp32', `cut at ${n}`);
      assert.equal(info.kind, 'app', `cut at ${n}`);
      assert.match(info.reason ?? '', /^incomplete/, `cut at ${n}`);
    }
  });

  it('cut right before the checksum byte', () => {
    const info = analyzeImage(truncate(app, checksumOffset), 'firmware.bin');
    assert.equal(info.complete, false);
    assert.equal(info.reason, `incomplete: ${checksumOffset} of ${app.length} bytes`);
  });

  it('cut in the middle of the appended SHA-256, and one byte short', () => {
    for (const n of [checksumOffset + 1, app.length - 16, app.length - 1]) {
      const info = analyzeImage(truncate(app, n), 'firmware.bin');
      assert.equal(info.complete, false);
      assert.equal(info.reason, `incomplete: ${n} of ${app.length} bytes`);
    }
  });

  it('a flipped byte inside a segment fails the checksum', () => {
    const info = analyzeImage(flipByte(app, 24 + 8 + 256 + 10), 'firmware.bin');
    assert.equal(info.complete, false);
    assert.equal(info.reason, 'ESP32 image checksum mismatch');
  });

  it('two flips that cancel in the XOR still fail the SHA-256', () => {
    const bytes = flipByte(flipByte(app, 1000), 2000);
    const info = analyzeImage(bytes, 'firmware.bin');
    assert.equal(info.complete, false);
    assert.equal(info.reason, 'ESP32 image SHA-256 mismatch');
  });

  it('a damaged stored checksum byte or SHA fails', () => {
    assert.equal(analyzeImage(flipByte(app, checksumOffset), 'f.bin').reason, 'ESP32 image checksum mismatch');
    assert.equal(analyzeImage(flipByte(app, app.length - 5), 'f.bin').reason, 'ESP32 image SHA-256 mismatch');
  });

  it('0xFF padding after the image (esptool --pad-to-size) is fine; other data is not', () => {
    const padded = Buffer.concat([app, Buffer.alloc(4096 - (app.length % 4096), 0xff)]);
    assert.equal(analyzeImage(padded, 'f.bin').complete, true);
    const junk = analyzeImage(Buffer.concat([app, pattern(70_000, 4)]), 'f.bin');
    assert.equal(junk.kind, 'not-an-image');
    assert.match(junk.reason ?? '', /unexpected 70000 bytes/);
  });

  it('a truncated bootloader is still a bootloader, and incomplete', () => {
    const boot = esp32Bootloader();
    const info = analyzeImage(truncate(boot, boot.length - 40), 'x.bin');
    assert.equal(info.kind, 'bootloader');
    assert.equal(info.complete, false);
  });

  it('a truncated partition table is incomplete', () => {
    const info = analyzeImage(truncate(partitionTable(), 100), 'x.bin');
    assert.equal(info.kind, 'partition-table');
    assert.equal(info.complete, false);
  });

  it('an absurd segment length is corrupt, not a huge incomplete app', () => {
    const bytes = Buffer.from(app);
    bytes.writeUInt32LE(0xfffffff0, 24 + 4);
    const info = analyzeImage(bytes, 'f.bin');
    assert.equal(info.kind, 'not-an-image');
    assert.match(info.reason ?? '', /corrupt/);
  });
});

describe('gzip completeness', () => {
  const gz = gzipOf(esp8266ArduinoApp({ payloadSize: 80_000 }));

  it('a truncated gzip of an ESP8266 app is an incomplete compressed app', () => {
    for (const n of [10, 100, gz.length >> 1, gz.length - 8, gz.length - 1]) {
      const info = analyzeImage(truncate(gz, n), 'firmware.bin.gz');
      assert.equal(info.complete, false, `cut at ${n}`);
      assert.equal(info.compressed, true);
      assert.match(info.reason ?? '', /^incomplete/);
    }
    const mid = analyzeImage(truncate(gz, gz.length >> 1), 'firmware.bin.gz');
    assert.equal(mid.kind, 'app');
    assert.equal(mid.family, 'esp8266');
  });

  it('a damaged gzip stream is not complete', () => {
    const info = analyzeImage(flipByte(gz, gz.length - 6), 'firmware.bin.gz');
    assert.equal(info.complete, false);
  });

  it('gzip of a truncated image is incomplete', () => {
    const info = analyzeImage(gzipOf(truncate(esp8266ArduinoApp(), 50_000)), 'firmware.bin.gz');
    assert.equal(info.complete, false);
    assert.equal(info.compressed, true);
  });

  it('signed gzip (signature after the stream) is complete and signed', () => {
    const info = analyzeImage(signedOf(gz, 512), 'firmware.bin.gz.signed');
    assert.equal(info.kind, 'app');
    assert.equal(info.complete, true);
    assert.equal(info.signed, true);
  });
});

describe('megabyte images', () => {
  it('1 MB and 4 MB images build and analyse quickly', () => {
    const started = Date.now();
    for (const payloadSize of [1024 * 1024, 4 * 1024 * 1024]) {
      const a = esp8266ArduinoApp({ payloadSize, flashSize: 4 * 1024 * 1024 });
      const b = esp32App({ payloadSize });
      assert.ok(Math.abs(a.length - payloadSize) < 64);
      assert.ok(Math.abs(b.length - payloadSize) < 64);
      assert.equal(analyzeImage(a, 'a.bin').complete, true);
      assert.equal(analyzeImage(b, 'b.bin').complete, true);
    }
    assert.ok(Date.now() - started < 5000, 'took too long');
  });

  it('different seeds give different builds; the same seed the same build', () => {
    assert.notDeepEqual(esp32App({ seed: 1 }), esp32App({ seed: 2 }));
    assert.deepEqual(esp8266ArduinoApp({ seed: 5 }), esp8266ArduinoApp({ seed: 5 }));
    assert.notDeepEqual(esp8266ArduinoApp({ seed: 5 }), esp8266ArduinoApp({ seed: 6 }));
  });
});
