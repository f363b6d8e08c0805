// analyzeImage: classification of every kind of file a build folder holds, header decoding, names as safety net.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { analyzeImage } from '../../src/core/firmware/analyzeImage';
import {
  esp32App,
  esp32Bootloader,
  esp8266ArduinoApp,
  esp8266PlainApp,
  gzipOf,
  littlefsImage,
  mergedImage,
  otaData,
  partitionTable,
  spiffsImage,
} from '../support/images';

const MB = 1024 * 1024;

describe('analyzeImage: builder outputs', () => {
  it('ESP8266 Arduino sketch is a complete esp8266 app', () => {
    const info = analyzeImage(esp8266ArduinoApp(), 'sketch.ino.bin');
    assert.equal(info.kind, 'app');
    assert.equal(info.family, 'esp8266');
    assert.equal(info.chip, 'esp8266');
    assert.equal(info.complete, true);
    assert.equal(info.compressed, false);
    assert.equal(info.reason, undefined);
    assert.equal(info.chipId, undefined);
    assert.equal(info.app, undefined);
  });

  it('plain (non-Arduino) ESP8266 image is checked by segment walk and XOR', () => {
    const info = analyzeImage(esp8266PlainApp(), 'app.bin');
    assert.equal(info.kind, 'app');
    assert.equal(info.family, 'esp8266');
    assert.equal(info.complete, true);
  });

  it('ESP32 app is a complete esp32 app with its descriptor and appended SHA-256', () => {
    const bytes = esp32App();
    const info = analyzeImage(bytes, 'firmware.bin');
    assert.equal(info.kind, 'app');
    assert.equal(info.family, 'esp32');
    assert.equal(info.chip, 'esp32');
    assert.equal(info.chipId, 0);
    assert.equal(info.complete, true);
    assert.equal(info.appendedSha256, bytes.subarray(bytes.length - 32).toString('hex'));
    assert.match(info.appendedSha256 ?? '', /^[0-9a-f]{64}$/);
  });

  it('ESP32 app without appended hash is complete by checksum alone', () => {
    const info = analyzeImage(esp32App({ hashAppended: false }), 'firmware.bin');
    assert.equal(info.kind, 'app');
    assert.equal(info.complete, true);
    assert.equal(info.appendedSha256, undefined);
  });

  it('ESP32 bootloader is a bootloader, never an app', () => {
    for (const chip of ['esp32', 'esp32s3', 'esp32c3']) {
      const info = analyzeImage(esp32Bootloader({ chip }), 'some.bin');
      assert.equal(info.kind, 'bootloader', chip);
      assert.equal(info.chip, chip);
      assert.equal(info.complete, true);
      assert.equal(info.reason, 'bootloader image, not an application');
    }
  });

  it('partition table', () => {
    const info = analyzeImage(partitionTable(), 'x.bin');
    assert.equal(info.kind, 'partition-table');
    assert.equal(info.complete, true);
    assert.match(info.reason ?? '', /partition table/);
  });

  it('ota data, with a selection entry (boot_app0-like) or blank', () => {
    assert.equal(analyzeImage(otaData(), 'x.bin').kind, 'ota-data');
    assert.equal(analyzeImage(otaData({ blank: true }), 'x.bin').kind, 'ota-data');
  });

  it('merged images for bootloader-at-0x1000, at-0 and at-0x2000 chips', () => {
    for (const chip of ['esp32', 'esp32s2', 'esp32s3', 'esp32c3', 'esp32c6', 'esp32p4']) {
      const info = analyzeImage(mergedImage(chip, { version: '7.7.7' }), 'firmware.bin');
      assert.equal(info.kind, 'merged', chip);
      assert.equal(info.chip, chip);
      assert.equal(info.family, 'esp32');
      assert.equal(info.app?.version, '7.7.7');
      assert.equal(info.complete, true);
      assert.match(info.reason ?? '', /merged/);
    }
  });

  it('littlefs and spiffs images are filesystems by content', () => {
    assert.equal(analyzeImage(littlefsImage(), 'data.bin').kind, 'filesystem');
    assert.equal(analyzeImage(spiffsImage(), 'data.bin').kind, 'filesystem');
    assert.equal(analyzeImage(spiffsImage({ blockSize: 4096 }), 'data.bin').kind, 'filesystem');
  });

  it('gzip of an ESP8266 app is a compressed esp8266 app', () => {
    const info = analyzeImage(gzipOf(esp8266ArduinoApp()), 'firmware.bin.gz');
    assert.equal(info.kind, 'app');
    assert.equal(info.family, 'esp8266');
    assert.equal(info.compressed, true);
    assert.equal(info.complete, true);
  });

  it('gzip of an ESP32 app is not an app', () => {
    const info = analyzeImage(gzipOf(esp32App({ chip: 'esp32c3' })), 'firmware.bin.gz');
    assert.notEqual(info.kind, 'app');
    assert.equal(info.family, 'esp32');
    assert.equal(info.chip, 'esp32c3');
    assert.equal(info.compressed, true);
    assert.equal(info.complete, false);
    assert.match(info.reason ?? '', /gzip/);
  });

  it('gzip of a non-image is not an app', () => {
    const info = analyzeImage(gzipOf(Buffer.from('hello world')), 'x.bin.gz');
    assert.equal(info.kind, 'not-an-image');
    assert.equal(info.compressed, true);
  });

  it('other content is not an image, with a reason', () => {
    const cases: Array<[Buffer, RegExp]> = [
      [Buffer.alloc(0), /empty/],
      [Buffer.from('just text, not firmware'), /not an esp image/],
      [Buffer.alloc(3000, 0xff), /blank/],
      [Buffer.from([0xea, 0x04, 0x00, 0x20, 0, 0, 0, 0]), /v2 image/],
    ];
    for (const [bytes, reason] of cases) {
      const info = analyzeImage(bytes, 'x.bin');
      assert.equal(info.kind, 'not-an-image');
      assert.equal(info.complete, false);
      assert.match(info.reason ?? '', reason);
    }
  });
});

describe('analyzeImage: chips and header fields', () => {
  const chips: Array<[string, number]> = [
    ['esp32', 0x00],
    ['esp32s2', 0x02],
    ['esp32c3', 0x05],
    ['esp32s3', 0x09],
    ['esp32c2', 0x0c],
    ['esp32c6', 0x0d],
    ['esp32h2', 0x10],
    ['esp32p4', 0x12],
    ['esp32c61', 0x14],
    ['esp32c5', 0x17],
  ];
  for (const [chip, id] of chips) {
    it(`chip id 0x${id.toString(16)} is ${chip}`, () => {
      const bytes = esp32App({ chip, payloadSize: 64 * 1024 });
      assert.equal(bytes.readUInt16LE(12), id);
      const info = analyzeImage(bytes, 'firmware.bin');
      assert.equal(info.chip, chip);
      assert.equal(info.chipId, id);
      assert.equal(info.kind, 'app');
      assert.equal(info.complete, true);
    });
  }

  it('an unknown chip id with no app descriptor is not taken as ESP32', () => {
    const bytes = esp32Bootloader();
    bytes.writeUInt16LE(0x0077, 12);
    assert.notEqual(analyzeImage(bytes, 'x.bin').family, 'esp32');
  });

  // Header byte 3 as esptool writes it (high nibble: size, low nibble: frequency), with the size esptool documents for
  // it: docs/en/advanced-topics/firmware-image-format.rst and esptool/targets/esp8266.py / esp32.py FLASH_SIZES. The
  // bytes are given raw, so these vectors do not go through our own table.
  const KB = 1024;
  const esp8266Vectors: Array<[byte3: number, size: number | undefined, what: string]> = [
    [0x00, 512 * KB, '512KB at 40 MHz'],
    [0x1f, 256 * KB, '256KB at 80 MHz'],
    [0x20, 1 * MB, '1MB at 40 MHz (ESP-01)'],
    [0x32, 2 * MB, '2MB at 20 MHz'],
    [0x40, 4 * MB, '4MB at 40 MHz (D1 mini, NodeMCU)'],
    [0x4f, 4 * MB, '4MB at 80 MHz'],
    [0x51, 2 * MB, '2MB-c1 at 26 MHz'],
    [0x60, 4 * MB, '4MB-c1 at 40 MHz'],
    [0x80, 8 * MB, '8MB'],
    [0x9f, 16 * MB, '16MB at 80 MHz'],
    [0x70, undefined, 'code 7 is not defined'],
    [0xa0, undefined, 'code 10 is not defined'],
    [0xff, undefined, 'code 15 is not defined'],
  ];
  const esp32Vectors: Array<[byte3: number, size: number | undefined, what: string]> = [
    [0x0f, 1 * MB, '1MB at 80 MHz'],
    [0x1f, 2 * MB, '2MB at 80 MHz'],
    [0x20, 4 * MB, '4MB at 40 MHz (the same code is 1MB on ESP8266)'],
    [0x2f, 4 * MB, '4MB at 80 MHz'],
    [0x3f, 8 * MB, '8MB'],
    [0x40, 16 * MB, '16MB at 40 MHz'],
    [0x5f, 32 * MB, '32MB'],
    [0x6f, 64 * MB, '64MB'],
    [0x7f, 128 * MB, '128MB'],
    [0x8f, undefined, 'code 8 is not defined'],
    [0xff, undefined, 'code 15 is not defined'],
  ];

  for (const [byte3, size, what] of esp8266Vectors) {
    it(`ESP8266 header byte 3 0x${byte3.toString(16).padStart(2, '0')} means ${size ?? 'no'} flash size: ${what}`, () => {
      const bytes = esp8266ArduinoApp({ flashSizeCode: byte3 >> 4, flashFreqCode: byte3 & 0xf, payloadSize: 64 * KB });
      assert.equal(bytes[3], byte3);
      const info = analyzeImage(bytes, 'a.bin');
      assert.equal(info.family, 'esp8266');
      assert.equal(info.flashSize, size);
      assert.equal(info.complete, true);
    });
  }

  for (const [byte3, size, what] of esp32Vectors) {
    it(`ESP32 header byte 3 0x${byte3.toString(16).padStart(2, '0')} means ${size ?? 'no'} flash size: ${what}`, () => {
      const bytes = esp32App({ flashSizeCode: byte3 >> 4, flashFreqCode: byte3 & 0xf, payloadSize: 64 * KB });
      assert.equal(bytes[3], byte3);
      const info = analyzeImage(bytes, 'a.bin');
      assert.equal(info.family, 'esp32');
      assert.equal(info.flashSize, size);
    });
  }

  it('flash mode from byte 2, on both families', () => {
    for (const mode of ['QIO', 'QOUT', 'DIO', 'DOUT'] as const) {
      assert.equal(
        analyzeImage(esp8266ArduinoApp({ flashMode: mode, payloadSize: 64 * 1024 }), 'a.bin').flashMode,
        mode,
      );
      assert.equal(analyzeImage(esp32App({ flashMode: mode, payloadSize: 64 * 1024 }), 'a.bin').flashMode, mode);
    }
  });

  it('app descriptor fields are read as NUL-terminated strings', () => {
    const info = analyzeImage(
      esp32App({
        version: 'v2.3.4-5-gdeadbee',
        projectName: 'weather-station',
        time: '08:15:00',
        date: 'Mar 14 2025',
        idfVer: 'v4.4.7-dirty',
      }),
      'firmware.bin',
    );
    assert.deepEqual(info.app, {
      version: 'v2.3.4-5-gdeadbee',
      projectName: 'weather-station',
      time: '08:15:00',
      date: 'Mar 14 2025',
      idfVersion: 'v4.4.7-dirty',
    });
  });

  it('a 31-character version (field full up to its NUL) is read whole', () => {
    const version = 'x'.repeat(31);
    assert.equal(analyzeImage(esp32App({ version }), 'f.bin').app?.version, version);
  });
});

describe('analyzeImage: file names as a safety net', () => {
  const neverApp: Array<[string, string]> = [
    ['firmware.merged.bin', 'merged'],
    ['firmware.factory.bin', 'merged'],
    ['Sketch.ino.with_bootloader.bin', 'merged'],
    ['bootloader.bin', 'bootloader'],
    ['Sketch.ino.bootloader.bin', 'bootloader'],
    ['bootloader_dio_80m.bin', 'bootloader'],
    ['partitions.bin', 'partition-table'],
    ['Sketch.ino.partitions.bin', 'partition-table'],
    ['partition-table.bin', 'partition-table'],
    ['boot_app0.bin', 'ota-data'],
    ['ota_data_initial.bin', 'ota-data'],
    ['build/esp32/BOOTLOADER.BIN', 'bootloader'],
    ['C:\\proj\\.pio\\build\\esp32\\firmware.factory.bin', 'merged'],
  ];
  for (const [name, kind] of neverApp) {
    it(`${name} with app content is ${kind}, not app`, () => {
      for (const bytes of [esp32App({ payloadSize: 64 * 1024 }), esp8266ArduinoApp({ payloadSize: 64 * 1024 })]) {
        const info = analyzeImage(bytes, name);
        assert.equal(info.kind, kind);
        assert.match(info.reason ?? '', /named like/);
      }
    });
  }

  it('content decides first: a bootloader named firmware.bin is still a bootloader', () => {
    assert.equal(analyzeImage(esp32Bootloader(), 'firmware.bin').kind, 'bootloader');
    assert.equal(analyzeImage(partitionTable(), 'firmware.bin').kind, 'partition-table');
  });

  it('ordinary app names stay apps', () => {
    for (const name of ['firmware.bin', 'Sketch.ino.bin', 'my-factory-reset.bin', 'bootloaderless.bin']) {
      assert.equal(analyzeImage(esp32App({ payloadSize: 64 * 1024 }), name).kind, 'app', name);
    }
  });

  it('filesystem names classify unrecognised content as filesystem', () => {
    for (const name of ['littlefs.bin', 'spiffs.bin', 'fatfs.bin']) {
      const info = analyzeImage(Buffer.alloc(4096, 0x5a), name);
      assert.equal(info.kind, 'filesystem', name);
    }
    assert.equal(analyzeImage(Buffer.alloc(4096, 0x5a), 'data.bin').kind, 'not-an-image');
  });
});
