import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isInside, isSameOrInside } from '../../src/core/paths';

describe('path containment', () => {
  it('tells below from beside, including names that start with two dots', () => {
    assert.ok(isInside('/srv/ota', '/srv/ota/a.bin'));
    assert.ok(isInside('/srv/ota', '/srv/ota/..cache/a.bin'));
    assert.ok(!isInside('/srv/ota', '/srv/ota'));
    assert.ok(!isInside('/srv/ota', '/srv/ota-x/a.bin'));
    assert.ok(!isInside('/srv/ota', '/srv/a.bin'));
    assert.ok(isSameOrInside('/srv/ota', '/srv/ota'));
    assert.ok(!isSameOrInside('/srv/ota', '/etc/passwd'));
  });
});
