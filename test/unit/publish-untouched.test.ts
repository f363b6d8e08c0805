// Opening a workspace must not write into it: the catalog folder appears with the first published build.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BuildPublisher } from '../../src/core/publish/buildPublisher';
import { silentLogger } from '../../src/core/log';
import { esp8266ArduinoApp } from '../support/images';

describe('publisher and the workspace', () => {
  it('creates no catalog folder until something is published', async () => {
    const root = mkdtempSync(join(tmpdir(), 'acus-untouched-'));
    const catalog = join(root, '.autoconnect', 'catalog');
    mkdirSync(join(root, 'notes'));
    const publisher = new BuildPublisher({ roots: [root], catalogDir: catalog, logger: silentLogger, debounceMs: 30 });
    try {
      await publisher.start();
      assert.equal(existsSync(catalog), false);
      const file = join(root, 'fw.bin');
      writeFileSync(file, esp8266ArduinoApp({ payloadSize: 60_000, seed: 90 }));
      const outcome = await publisher.publishFile(file);
      assert.equal(outcome.published, true);
      assert.equal(existsSync(catalog), true);
    } finally {
      await publisher.dispose();
      rmSync(root, { recursive: true, force: true });
    }
  });
});
