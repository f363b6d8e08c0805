// The decision before a byte is sent, per client dialect: who asks (deviceRequest) and what they may get (policy).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { analyzeImage } from '../../src/core/firmware/analyzeImage';
import { readDeviceRequest, type DeviceIdentity } from '../../src/core/devices/deviceRequest';
import { decideUpdate, requestedKind } from '../../src/core/devices/updatePolicy';
import { esp32App, esp8266ArduinoApp, gzipOf, littlefsImage, spiffsImage } from '../support/images';

function headers(lines: Record<string, string>): Map<string, string> {
  return new Map(Object.entries(lines).map(([k, v]) => [k.toLowerCase(), v]));
}

const esp32Headers = {
  'User-Agent': 'ESP32-http-Update',
  'x-ESP32-STA-MAC': '24:0A:C4:00:00:01',
  'x-ESP32-AP-MAC': '24:0A:C4:00:00:02',
  'x-ESP32-free-space': '1966080',
  'x-ESP32-sketch-size': '912384',
  'x-ESP32-sketch-md5': '00112233445566778899aabbccddeeff',
  'x-ESP32-chip-size': '4194304',
  'x-ESP32-sdk-version': 'v5.5.1',
};

function device(extra: Record<string, string> = {}): DeviceIdentity {
  const check = readDeviceRequest(headers({ ...esp32Headers, ...extra }));
  assert.ok(check.ok);
  return check.device;
}

function decide(d: DeviceIdentity, bytes: Buffer, name: string, answerNotModified = true) {
  const info = analyzeImage(bytes, name);
  return decideUpdate(d, { name, size: bytes.length, md5: 'x', info, runningMd5s: ['x'] }, undefined, {
    answerNotModified,
  });
}

describe('who asks', () => {
  it('reads the version header and the 3.x modes; recognises esp_http_client without any device header', () => {
    const d = device({ 'x-ESP32-mode': 'LittleFS', 'x-ESP32-version': ' 2.1.0 ' });
    assert.equal(d.client, 'arduino');
    assert.equal(d.mode, 'littlefs');
    assert.equal(d.currentVersion, ' 2.1.0 ');
    assert.equal(requestedKind(d), 'filesystem');
    const idf = readDeviceRequest(headers({ 'User-Agent': 'ESP32 HTTP Client/1.0', Host: '10.0.0.2:8000' }));
    assert.ok(idf.ok);
    assert.deepEqual(
      { client: idf.device.client, family: idf.device.family, mac: idf.device.staMac },
      { client: 'esp-idf', family: 'esp32', mac: '' },
    );
    assert.equal(requestedKind(idf.device), 'app');
    // Another HTTP client is still no update client.
    assert.equal(readDeviceRequest(headers({ 'User-Agent': 'curl/8.5.0' })).ok, false);
  });
});

describe('what they get', () => {
  const app = esp32App({ version: '2.1.0', seed: 3 });
  const fs = littlefsImage();

  it('a sketch update gets apps only, a filesystem update filesystems only', () => {
    assert.equal(decide(device(), app, 'a.bin').action, 'serve');
    assert.equal(decide(device({ 'x-ESP32-mode': 'sketch' }), fs, 'site.littlefs.bin').action, 'refuse');
    assert.equal(decide(device({ 'x-ESP32-mode': 'spiffs' }), fs, 'site.littlefs.bin').action, 'serve');
    assert.equal(decide(device({ 'x-ESP32-mode': 'spiffs' }), app, 'a.bin').action, 'refuse');
    assert.equal(decide(device({ 'x-ESP32-mode': 'littlefs' }), spiffsImage(), 's.spiffs.bin').action, 'refuse');
    assert.equal(decide(device({ 'x-ESP32-mode': 'flashfs' }), spiffsImage(), 's.spiffs.bin').action, 'serve');
    // A filesystem image bigger than the sketch's free space still goes: that header is not the partition's size.
    assert.equal(decide(device({ 'x-ESP32-mode': 'spiffs', 'x-ESP32-free-space': '10' }), fs, 'f.bin').action, 'serve');
    // gzip is inflated by eboot for sketches only.
    assert.equal(decide(device({ 'x-ESP32-mode': 'spiffs' }), gzipOf(fs), 'f.bin.gz').action, 'refuse');
    const unknown = decide(device({ 'x-ESP32-mode': 'version' }), app, 'a.bin');
    assert.equal(unknown.action, 'refuse');
  });

  it('304 "already at version X" only when the versions are equal, and only when 304s are on', () => {
    const same = decide(device({ 'x-ESP32-version': '2.1.0' }), app, 'a.bin');
    assert.deepEqual(same, { action: 'not-modified', reason: 'already at version 2.1.0' });
    assert.equal(decide(device({ 'x-ESP32-version': '2.1.1' }), app, 'a.bin').action, 'serve');
    assert.equal(decide(device({ 'x-ESP32-version': '2.1.0' }), app, 'a.bin', false).action, 'serve');
    assert.equal(decide(device({ 'x-ESP32-version': 'v'.repeat(10240) }), app, 'a.bin').action, 'serve');
    // An ESP8266 image carries no version; a filesystem neither.
    const e8 = readDeviceRequest(
      headers({
        'User-Agent': 'ESP8266-http-Update',
        'x-ESP8266-STA-MAC': '18:FE:AA:AA:AA:AA',
        'x-ESP8266-AP-MAC': '1A:FE:AA:AA:AA:AA',
        'x-ESP8266-free-space': '671744',
        'x-ESP8266-sketch-size': '373940',
        'x-ESP8266-sketch-md5': 'a56f8ef78a0bebd812f62067daf1408a',
        'x-ESP8266-chip-size': '4194304',
        'x-ESP8266-sdk-version': '2.2.2-dev(38a443e)',
        'x-ESP8266-version': '1.0.0',
      }),
    );
    assert.ok(e8.ok);
    assert.equal(decide(e8.device, esp8266ArduinoApp({ seed: 4 }), 'e.bin').action, 'serve');
    assert.equal(decide(device({ 'x-ESP32-mode': 'spiffs', 'x-ESP32-version': '2.1.0' }), fs, 'f.bin').action, 'serve');
  });

  it('an ESP-IDF client gets ESP32 apps on the image alone, never ESP8266, gzip or filesystem images', () => {
    const idf = readDeviceRequest(headers({ 'User-Agent': 'ESP32 HTTP Client/1.0' }));
    assert.ok(idf.ok);
    assert.equal(decide(idf.device, esp32App({ chip: 'esp32c3', seed: 5 }), 'c3.bin').action, 'serve');
    assert.equal(decide(idf.device, esp8266ArduinoApp({ seed: 6 }), 'e.bin').action, 'refuse');
    assert.equal(decide(idf.device, fs, 'f.bin').action, 'refuse');
  });
});
