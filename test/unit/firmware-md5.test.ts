// runningImageMd5s: what a device running an image reports as x-ESP8266-sketch-md5.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { analyzeImage } from '../../src/core/firmware/analyzeImage';
import { runningImageMd5s } from '../../src/core/firmware/runningMd5';
import { esp32App, esp32Bootloader, esp8266ArduinoApp, esp8266PlainApp, gzipOf, signedOf } from '../support/images';

const md5 = (b: Uint8Array) => createHash('md5').update(b).digest('hex');

function md5s(bytes: Buffer): string[] {
  return runningImageMd5s(bytes, analyzeImage(bytes, 'firmware.bin'));
}

/** ESP.getSketchSize() transcribed (Esp.cpp:603-633): walk segment headers from 0x1000, `(pos + 16) & ~15`. */
function getSketchSize(flash: Buffer): number {
  let pos = 0x1000;
  const count = flash[pos + 1];
  pos += 8;
  for (let i = 0; i < count; i++) pos += 8 + flash.readUInt32LE(pos + 4);
  return (pos + 16) & ~15;
}

/** What Updater::_writeBuffer leaves in flash when the chip runs in `chipMode` (Updater.cpp:387-423). */
function afterOta(bin: Buffer, chipMode: number): Buffer {
  const flash = Buffer.from(bin);
  if (flash[0] !== 0x1f) flash[2] = chipMode;
  return flash;
}

describe('runningImageMd5s', () => {
  const bin = esp8266ArduinoApp({ flashMode: 'DIO', flashSize: 1024 * 1024, payloadSize: 200_001 });

  it('ESP.getSketchSize() of an elf2bin image is the file length (checksum byte ends on a 16-byte boundary)', () => {
    for (const payloadSize of [50_000, 50_003, 50_009, 200_001]) {
      const b = esp8266ArduinoApp({ payloadSize });
      assert.equal(getSketchSize(b), b.length, `payload ${payloadSize}`);
      assert.equal(b.length % 16, 0);
    }
  });

  it('starts with the file MD5, all lowercase hex, no duplicates', () => {
    const list = md5s(bin);
    assert.equal(list[0], md5(bin));
    for (const h of list) assert.match(h, /^[0-9a-f]{32}$/);
    assert.equal(new Set(list).size, list.length);
  });

  it('covers the flash-mode byte rewritten by the Updater for every chip mode', () => {
    const list = md5s(bin);
    for (const chipMode of [0, 1, 2, 3]) {
      const flash = afterOta(bin, chipMode);
      assert.ok(list.includes(md5(flash.subarray(0, getSketchSize(flash)))), `mode ${chipMode}`);
    }
  });

  it('covers the size nibble rewritten by esptool --flash_size detect on serial upload', () => {
    const list = md5s(bin);
    for (const code of [0, 1, 2, 3, 4, 8, 9]) {
      const flash = Buffer.from(bin);
      flash[3] = (code << 4) | (bin[3] & 0x0f);
      assert.ok(list.includes(md5(flash)), `size code ${code}`);
    }
  });

  it('does not include other bytes changed', () => {
    const other = Buffer.from(bin);
    other[1000] ^= 1;
    assert.ok(!md5s(bin).includes(md5(other)));
  });

  it('a signed image: the device hashes the image without the signature', () => {
    const signed = signedOf(bin);
    const list = md5s(signed);
    assert.equal(list[0], md5(signed));
    assert.ok(list.includes(md5(bin)));
    assert.ok(list.includes(md5(afterOta(bin, 3))));
  });

  it('gzip: the device runs (and hashes) the inflated image', () => {
    const gz = gzipOf(bin);
    const list = md5s(gz);
    assert.equal(list[0], md5(gz));
    assert.ok(list.includes(md5(gunzipSync(gz))));
    assert.ok(list.includes(md5(afterOta(bin, 0))));
  });

  it('plain ESP8266 image: whole file and its header variants', () => {
    const plain = esp8266PlainApp();
    const list = md5s(plain);
    assert.equal(list[0], md5(plain));
    assert.ok(list.includes(md5(afterOta(plain, 2))));
  });

  it('ESP32: only the file MD5', () => {
    const app = esp32App();
    assert.deepEqual(md5s(app), [md5(app)]);
  });

  it('non-apps and broken input: only the file MD5', () => {
    const boot = esp32Bootloader();
    assert.deepEqual(md5s(boot), [md5(boot)]);
    const junk = Buffer.from('junk');
    assert.deepEqual(md5s(junk), [md5(junk)]);
    const lying = runningImageMd5s(junk, { kind: 'app', family: 'esp8266', compressed: true, complete: true });
    assert.deepEqual(lying, [md5(junk)]);
  });
});
