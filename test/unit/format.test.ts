import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chipLabel, formatAgo, formatBytes, formatFlash, sketchSnippet } from '../../src/extension/format';

describe('view formatting', () => {
  it('formats sizes, flash, chips and times for people', () => {
    assert.equal(formatBytes(512), '512 B');
    assert.equal(formatBytes(380 * 1024), '380 KB');
    assert.equal(formatBytes(12 * 1024 * 1024), '12.0 MB');
    assert.equal(formatFlash(4 << 20), '4 MB flash');
    assert.equal(formatFlash(512 << 10), '512 KB flash');
    assert.equal(chipLabel({ chip: 'esp32s3', family: 'esp32' }), 'ESP32-S3');
    assert.equal(chipLabel({ family: 'esp8266' }), 'ESP8266');
    assert.equal(formatAgo(1000, 3000), 'just now');
    assert.equal(formatAgo(0, 120_000), '2 min ago');
    assert.equal(sketchSnippet('192.168.1.20', 8000), 'AutoConnectUpdate update("192.168.1.20", 8000);');
  });
});
