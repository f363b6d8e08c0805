// The layer rules of eslint.config.mjs bite: planted violations fail the lint, the same imports from the right place
// pass. Linted as text under the path they would have, with the project's own configuration.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { ESLint } from 'eslint';

const root = join(__dirname, '..', '..', '..');
const eslint = new ESLint({ cwd: root });

async function importErrors(file: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: join(root, file) });
  return result!.messages.filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

describe('lint: layer boundaries', () => {
  it('src/core may not import vscode, the extension or the CLI', async () => {
    const file = 'src/core/catalog/planted.ts';
    assert.equal((await importErrors(file, "import * as vscode from 'vscode';\nvoid vscode;\n")).length, 1);
    assert.equal((await importErrors(file, "import { x } from '../../extension/format';\nvoid x;\n")).length, 1);
    assert.equal((await importErrors(file, "import { y } from '../../cli/options';\nvoid y;\n")).length, 1);
    assert.deepEqual(await importErrors(file, "import { z } from '../events';\nvoid z;\n"), []);
  });

  it('the fronts import the core only through src/core/index.ts', async () => {
    for (const file of ['src/extension/planted.ts', 'src/cli/planted.ts']) {
      const deep = await importErrors(
        file,
        "import { CatalogStore } from '../core/catalog/catalogStore';\nvoid CatalogStore;\n",
      );
      assert.equal(deep.length, 1, `${file}: a deep import is refused`);
      assert.match(deep[0]!, /src\/core\/index\.ts/);
      assert.equal((await importErrors(file, "import { a } from '../core/updateServer';\nvoid a;\n")).length, 1);
      assert.deepEqual(await importErrors(file, "import { UpdateService } from '../core';\nvoid UpdateService;\n"), []);
      assert.deepEqual(await importErrors(file, "import { b } from '../core/index';\nvoid b;\n"), []);
    }
  });
});
