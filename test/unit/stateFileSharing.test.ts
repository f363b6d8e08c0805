// Two instances on one catalog folder share its device state file: an editor window with its server stopped (its
// catalog is open for the Firmware Catalog view) beside the CLI, or two windows. Each takes in what the other wrote
// before it writes, so neither writes away the other's boards. Real services, a real socket, real files.

import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { UpdateService, type UpdateServiceOptions } from '../../src/core';
import { rawRequest } from '../support/rawHttp';
import { esp8266DownloadRequest } from '../support/deviceRequests';
import { esp8266ArduinoApp } from '../support/images';

const BOARD_A = 'AA:BB:CC:DD:EE:01';
const BOARD_B = 'AA:BB:CC:DD:EE:02';

function fixture(): { catalogDir: string; stateFile: string; base: UpdateServiceOptions } {
  const catalogDir = mkdtempSync(join(tmpdir(), 'acus-state-share-'));
  writeFileSync(join(catalogDir, 'a.bin'), esp8266ArduinoApp({ payloadSize: 20_000, seed: 1 }));
  return { catalogDir, stateFile: join(catalogDir, '.autoconnect-devices.json'), base: { catalogDir, keep: 3 } };
}

function storedBoards(stateFile: string): Array<{ mac: string; name?: string }> {
  const doc = JSON.parse(readFileSync(stateFile, 'utf8')) as { devices: Array<{ mac: string; name?: string }> };
  return doc.devices
    .map(({ mac, name }) => (name ? { mac, name } : { mac }))
    .sort((a, b) => a.mac.localeCompare(b.mac));
}

async function download(service: UpdateService, mac: string): Promise<void> {
  const response = await rawRequest(
    service.server!.port,
    esp8266DownloadRequest('/a.bin', { staMac: mac, sketchMd5: '0'.repeat(32) }),
  );
  assert.equal(response.status, 200);
}

/** Waits until the registry holds `mac` with a finished download (the close has been seen). */
async function untilRecorded(service: UpdateService, mac: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const outcome = service.devices.get(mac)?.updates[0]?.outcome;
    if (outcome && outcome !== 'downloading') return;
    await new Promise((r) => setTimeout(r, 25));
  }
  assert.fail(`${mac} was never recorded`);
}

describe('device state file shared by two instances', () => {
  it('a stopped instance does not write away the boards a serving one recorded', async () => {
    const { catalogDir, stateFile, base } = fixture();
    const serving = new UpdateService({});
    const stopped = new UpdateService({});
    try {
      await stopped.update(base);
      await serving.update({ ...base, serve: { port: 0, host: '127.0.0.1' } });
      await download(serving, BOARD_A);
      await untilRecorded(serving, BOARD_A);
      await serving.dispose();
      assert.deepEqual(storedBoards(stateFile), [{ mac: BOARD_A }], 'the serving instance saved the board');

      // A build dropped in by hand: the stopped instance learns it and writes the file.
      writeFileSync(join(catalogDir, 'b.bin'), esp8266ArduinoApp({ payloadSize: 20_000, seed: 2 }));
      await stopped.catalog?.rescanAll();
      await stopped.inventory.whenCatalogLearnt();
      await stopped.inventory.saveNow();
      assert.deepEqual(storedBoards(stateFile), [{ mac: BOARD_A }], 'the board is still in the file');
      const doc = JSON.parse(readFileSync(stateFile, 'utf8')) as { builds: unknown[] };
      assert.equal(doc.builds.length, 2, 'and both builds are remembered');
      assert.ok(stopped.devices.get(BOARD_A), 'the stopped instance now knows the board too');
    } finally {
      await serving.dispose();
      await stopped.dispose();
    }
  });

  it('a rename in one instance and a new board in the other both survive', async () => {
    const { stateFile, base } = fixture();
    const first = new UpdateService({});
    const second = new UpdateService({});
    try {
      await first.update({ ...base, serve: { port: 0, host: '127.0.0.1' } });
      await download(first, BOARD_A);
      await untilRecorded(first, BOARD_A);
      await first.inventory.saveNow();

      await second.update({ ...base, serve: { port: 0, host: '127.0.0.1' } });
      assert.ok(second.devices.get(BOARD_A), 'the second instance read the first board');
      await download(second, BOARD_B);
      await untilRecorded(second, BOARD_B);
      await second.inventory.saveNow();

      // The first instance never saw board B; its rename of board A must not drop B from the file.
      assert.equal(first.devices.rename(BOARD_A, 'bench sensor'), true);
      await first.inventory.saveNow();
      assert.deepEqual(storedBoards(stateFile), [{ mac: BOARD_A, name: 'bench sensor' }, { mac: BOARD_B }]);

      // Forgetting a board in one instance removes it from the file, and the other does not bring it back.
      assert.equal(second.devices.forget(BOARD_B), true);
      await second.inventory.saveNow();
      assert.deepEqual(storedBoards(stateFile), [{ mac: BOARD_A, name: 'bench sensor' }]);
      first.devices.rename(BOARD_A, 'bench sensor 2');
      await first.inventory.saveNow();
      assert.deepEqual(storedBoards(stateFile), [{ mac: BOARD_A, name: 'bench sensor 2' }]);
      assert.equal(first.devices.get(BOARD_B), undefined, 'the forgotten board left the other instance too');
    } finally {
      await second.dispose();
      await first.dispose();
    }
  });
});
