// The patterns nginx uses to pick a catalog answer accept exactly the raw `path=` values our server resolves to the
// same folder: checked against the server's own query decoding and path rules on many generated values.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isTargetRefusal, splitCatalogPath } from '../../src/core/http/requestTarget';
import {
  BACKSLASH_PATTERN,
  CONTROL_PATTERN,
  PARENT_PATTERN,
  encodedValuePattern,
  folderPathPattern,
} from '../../src/core/export/queryPatterns';

/** What our server makes of a raw `path=` value: a folder, or a refusal status. */
function oursFor(raw: string): string | number {
  const decoded = new URLSearchParams(`path=${raw}`).get('path') ?? '.';
  const split = splitCatalogPath(decoded === '' ? '.' : decoded);
  return isTargetRefusal(split) ? split.status : split.segments.join('/');
}

/** What the generated map makes of it, in the map's order. */
function nginxFor(raw: string, folders: string[]): string | number {
  if (new RegExp(BACKSLASH_PATTERN).test(raw)) return 403;
  if (new RegExp(CONTROL_PATTERN).test(raw)) return 400;
  if (new RegExp(PARENT_PATTERN).test(raw)) return 403;
  if (raw === '') return '';
  return folders.find((folder) => new RegExp(folderPathPattern(folder)).test(raw)) ?? 404;
}

const PIECES = [
  'sub',
  'deep',
  'a+b',
  'v1.2',
  '.',
  '..',
  '/',
  '//',
  '%2F',
  '%2f',
  '%2e',
  '%2E%2e',
  '%73',
  'S',
  '+',
  '%2B',
  '%5C',
  '\\',
  '%00',
  '%7f',
  'x',
  '~',
];

function* values(depth: number, prefix = ''): Generator<string> {
  yield prefix;
  if (depth === 0) return;
  for (const piece of PIECES) yield* values(depth - 1, prefix + piece);
}

describe('catalog path patterns for nginx', () => {
  it('match exactly the raw paths our server resolves to each folder, refusals included', () => {
    const folders = ['', 'sub', 'sub/deep', 'a+b', 'v1.2', 'sub/v1.2'];
    let checked = 0;
    for (const raw of values(3)) {
      const ours = oursFor(raw);
      const expected = typeof ours === 'string' && !folders.includes(ours) ? 404 : ours;
      assert.equal(nginxFor(raw, folders), expected, `path=${raw}`);
      checked++;
    }
    assert.ok(checked > 10_000);
  });

  it('match an encoded op as our server decodes it, and nothing else', () => {
    const list = new RegExp(encodedValuePattern('list'));
    for (const raw of ['list', '%6cist', '%6Cis%74', 'LIST', 'lis', 'listt', 'list ', '']) {
      assert.equal(list.test(raw), new URLSearchParams(`op=${raw}`).get('op') === 'list', raw);
    }
  });
});
