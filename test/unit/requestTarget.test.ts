import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isTargetRefusal, parseTarget } from '../../src/core/http/requestTarget';

function segments(target: string): string[] {
  const parsed = parseTarget(target);
  if (isTargetRefusal(parsed)) assert.fail(`refused ${target}: ${parsed.reason}`);
  return parsed.segments;
}

function refusal(target: string): number {
  const parsed = parseTarget(target);
  assert.ok(isTargetRefusal(parsed), `${target} should be refused`);
  return parsed.status;
}

describe('request target', () => {
  it('maps every form a device sends onto catalog segments', () => {
    assert.deepEqual(segments('/fw.bin'), ['fw.bin']);
    assert.deepEqual(segments('./fw.bin'), ['fw.bin']);
    assert.deepEqual(segments('bin/fw.bin'), ['bin', 'fw.bin']);
    assert.deepEqual(segments('bin//fw.bin'), ['bin', 'fw.bin']);
    assert.deepEqual(segments('/bin/./fw.bin'), ['bin', 'fw.bin']);
    assert.deepEqual(segments('http://192.168.1.10:8000/fw.bin'), ['fw.bin']);
  });

  it('keeps the query apart and drops a fragment', () => {
    const parsed = parseTarget('/_catalog?op=list&path=.#x');
    assert.ok(!isTargetRefusal(parsed));
    assert.deepEqual(parsed.segments, ['_catalog']);
    assert.equal(parsed.query, 'op=list&path=.');
    assert.deepEqual(segments('/fw.bin?x=1'), ['fw.bin']);
  });

  it('never resolves parent segments: they are refused', () => {
    assert.equal(refusal('/../secret.txt'), 403);
    assert.equal(refusal('/sub/../../secret.txt'), 403);
    assert.equal(refusal('../x'), 403);
    assert.equal(refusal('/a\\..\\b'), 403);
  });

  it('does not percent-decode: encoded dots stay a literal (absent) name', () => {
    assert.deepEqual(segments('/%2e%2e/secret.txt'), ['%2e%2e', 'secret.txt']);
    assert.deepEqual(segments('/..%2fsecret.txt'), ['..%2fsecret.txt']);
  });

  it('refuses asterisk-form', () => {
    assert.equal(refusal('*'), 400);
  });
});
