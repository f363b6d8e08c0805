// Many devices asking at the same moment share the index's freshness checks (one folder walk, one lstat of the file):
// every one still gets the build that is in the catalog when it asks, byte-exact, and a build replaced between two
// bursts is what the second burst gets. A real server over raw sockets, with ESP8266 download requests.

import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { esp8266DownloadRequest } from '../support/deviceRequests';
import { esp8266ArduinoApp } from '../support/images';
import { rawRequest } from '../support/rawHttp';
import { md5, startServer } from '../support/serverFixture';
import type { UpdateServer } from '../../src/core/updateServer';

describe('a burst of devices asking at once', () => {
  const base = mkdtempSync(join(tmpdir(), 'burst-'));
  const build1 = esp8266ArduinoApp({ payloadSize: 200_000, seed: 301 });
  const build2 = esp8266ArduinoApp({ payloadSize: 200_000, seed: 302 });
  let server: UpdateServer;
  before(async () => {
    writeFileSync(join(base, 'fw.bin'), build1);
    ({ server } = await startServer(base));
  });
  after(async () => {
    await server.stop();
    rmSync(base, { recursive: true, force: true });
  });

  const burst = (n: number) =>
    Promise.all(
      Array.from({ length: n }, (_, i) =>
        rawRequest(
          server.port,
          esp8266DownloadRequest('/fw.bin', { staMac: `18:FE:34:00:01:${(i & 0xff).toString(16).padStart(2, '0')}` }),
          { timeoutMs: 30_000 },
        ),
      ),
    );

  it('gives every device of the burst the build, and the next burst the build that replaced it', async () => {
    for (const [build, what] of [
      [build1, 'the first build'],
      [build2, 'the build renamed over it'],
    ] as const) {
      if (build === build2) {
        writeFileSync(join(base, '.fw.bin.tmp'), build2);
        renameSync(join(base, '.fw.bin.tmp'), join(base, 'fw.bin'));
      }
      const replies = await burst(100);
      for (const reply of replies) {
        assert.equal(reply.status, 200, what);
        assert.equal(reply.headers.get('x-md5'), md5(build), what);
        assert.ok(reply.body.equals(build), `${what}: byte-exact`);
      }
    }
  });

  it('answers every device of a burst that shuts its sending side right after the request (heads parsed later)', async () => {
    const bytes = readFileSync(join(base, 'fw.bin'));
    const replies = await Promise.all(
      Array.from(
        { length: 150 },
        (_, i) =>
          new Promise<Buffer>((resolve, reject) => {
            const socket = connect({ port: server.port, host: '127.0.0.1' });
            const chunks: Buffer[] = [];
            socket.on('data', (chunk: Buffer) => chunks.push(chunk));
            socket.on('end', () => resolve(Buffer.concat(chunks)));
            socket.on('error', reject);
            socket.setTimeout(30_000, () => reject(new Error('no answer')));
            const mac = `18:FE:34:00:02:${(i & 0xff).toString(16).padStart(2, '0')}`;
            socket.end(esp8266DownloadRequest('/fw.bin', { staMac: mac }));
          }),
      ),
    );
    for (const raw of replies) {
      const split = raw.indexOf('\r\n\r\n');
      assert.match(raw.subarray(0, split).toString('latin1'), /^HTTP\/1\.[01] 200 /);
      assert.ok(raw.subarray(split + 4).equals(bytes), 'the whole image');
    }
  });
});
