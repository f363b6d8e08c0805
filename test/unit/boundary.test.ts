// The core must run in plain Node: nothing under src/core or src/cli may import the editor API.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

const root = join(__dirname, '..', '..', '..');

function* files(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* files(path);
    else if (path.endsWith('.ts')) yield path;
  }
}

describe('core / editor boundary', () => {
  for (const folder of ['src/core', 'src/cli']) {
    it(`${folder} has no vscode import`, () => {
      const offenders = [...files(join(root, folder))].filter((file) =>
        /(from\s+['"]vscode['"]|require\(\s*['"]vscode['"]\s*\)|import\(\s*['"]vscode['"]\s*\))/.test(
          readFileSync(file, 'utf8'),
        ),
      );
      assert.deepEqual(offenders, []);
    });
  }

  it('src/core imports nothing from the extension or the CLI', () => {
    const offenders = [...files(join(root, 'src/core'))].filter((file) =>
      /from\s+['"][./]*\/(extension|cli)\//.test(readFileSync(file, 'utf8')),
    );
    assert.deepEqual(offenders, []);
  });
});
