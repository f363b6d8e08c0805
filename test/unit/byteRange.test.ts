import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseRange } from '../../src/core/http/byteRange';

describe('Range header (one byte range of one image)', () => {
  it('reads the forms esp_https_ota sends, clamping an end past the image', () => {
    assert.deepEqual(parseRange(undefined, 100), { kind: 'whole' });
    assert.deepEqual(parseRange('bytes=0-', 100), { kind: 'range', start: 0, end: 99 });
    assert.deepEqual(parseRange('bytes=40-', 100), { kind: 'range', start: 40, end: 99 });
    assert.deepEqual(parseRange('bytes=0-49', 100), { kind: 'range', start: 0, end: 49 });
    assert.deepEqual(parseRange('bytes=50-100', 100), { kind: 'range', start: 50, end: 99 });
    assert.deepEqual(parseRange('bytes=99-99', 100), { kind: 'range', start: 99, end: 99 });
    assert.deepEqual(parseRange('bytes=-10', 100), { kind: 'range', start: 90, end: 99 });
    assert.deepEqual(parseRange('bytes=-500', 100), { kind: 'range', start: 0, end: 99 });
    assert.deepEqual(parseRange('Bytes = 5 - 6', 100), { kind: 'range', start: 5, end: 6 });
  });

  it('refuses what it cannot answer with exactly one range', () => {
    for (const header of [
      'bytes=100-',
      'bytes=1000-2000',
      'bytes=5-4',
      'bytes=0-1,3-4',
      'bytes=',
      'bytes=-',
      'bytes=-0',
      'items=0-1',
      'bytes=a-b',
      'bytes=1-2-3',
      `bytes=${'9'.repeat(16)}-`,
      '',
    ]) {
      const r = parseRange(header, 100);
      assert.equal(r.kind, 'unsatisfiable', header);
    }
    assert.equal(parseRange('bytes=0-', 0).kind, 'unsatisfiable');
    assert.equal(parseRange('bytes=-5', 0).kind, 'unsatisfiable');
  });
});
