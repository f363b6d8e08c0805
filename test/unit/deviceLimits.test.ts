import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { entryPoolCost, unsafeNameReason } from '../../src/core/catalog/deviceLimits';

describe('device limits', () => {
  it('costs a python-style bin entry 128 + name bytes, as ArduinoJson 6 on ESP8266/ESP32 (protocol.md §1.3)', () => {
    const entry = (name: string) => ({ name, type: 'bin', date: '03/01/23', time: '09:05:12', size: 301168 });
    assert.equal(entryPoolCost(entry('a.bin')), 128 + 5);
    assert.equal(entryPoolCost(entry('x'.repeat(128))), 256);
    assert.equal(entryPoolCost(entry('x'.repeat(129))), 257);
  });

  it('costs file and directory entries by their two members', () => {
    assert.equal(entryPoolCost({ name: 'a', type: 'file' }), 16 + 5 + 2 + 16 + 5 + 5);
  });

  it('refuses names that break the request line or the portal page', () => {
    assert.equal(unsafeNameReason('sensor-1.2.3_esp8266.bin'), undefined);
    assert.match(unsafeNameReason('my fw.bin') ?? '', /space/);
    assert.match(unsafeNameReason('a?.bin') ?? '', /'\?'/);
    assert.match(unsafeNameReason('a#b.bin') ?? '', /'#'/);
    assert.match(unsafeNameReason('<b>.bin') ?? '', /'<'/);
    assert.match(unsafeNameReason('a%20.bin') ?? '', /'%'/);
    assert.match(unsafeNameReason('fürmware.bin') ?? '', /U\+00FC/);
  });
});
