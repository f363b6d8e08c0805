// A crash between the state file's temp write and its rename leaves `.<name>.<hex>.tmp` (`..autoconnect-devices.json.<hex>.tmp`) behind: the state file's
// owner removes its own stale temps when it opens the file, and nothing else. Real files in a real folder.

import { strict as assert } from 'node:assert';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { DeviceStateFile } from '../../src/core/devices/stateFile';
import { silentLogger } from '../../src/core/log';

describe('device state file: temps left by a crash', () => {
  it('removes its own temps older than a minute when it loads, and leaves everything else', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'state-temps-'));
    try {
      const file = path.join(dir, '.autoconnect-devices.json');
      const twoMinutesAgo = new Date(Date.now() - 120_000);
      const names = {
        // The writer's temp: a dot, the file's own name (a dotfile too), 12 hex digits.
        stale: '..autoconnect-devices.json.0123456789ab.tmp',
        fresh: '..autoconnect-devices.json.ba9876543210.tmp', // another process's write may be under way
        publish: '.publish-blink.bin.0123456789ab.tmp', // the Catalog's, not ours
        other: '..autoconnect-devices.jsonx.0123456789ab.tmp',
        build: 'blink.bin',
      };
      for (const name of Object.values(names)) await fs.writeFile(path.join(dir, name), 'x');
      for (const name of [names.stale, names.publish, names.other, names.build]) {
        await fs.utimes(path.join(dir, name), twoMinutesAgo, twoMinutesAgo);
      }
      const state = new DeviceStateFile(file, silentLogger);
      await state.load();
      const left = (await fs.readdir(dir)).sort();
      assert.deepEqual(left, [names.fresh, names.other, names.publish, names.build].sort());
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
