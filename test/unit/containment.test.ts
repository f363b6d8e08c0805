// No byte from outside the catalog, even while the folder changes under the server (issue 8): real files, real
// links swapped in by real renames, a real server on port 0, raw sockets.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { linkSync, mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { setTimeout as sleep } from 'node:timers/promises';
import { rawRequest, type RawResponse } from '../support/rawHttp';
import { esp8266CatalogRequest, esp8266DownloadRequest } from '../support/deviceRequests';
import { md5, startServer } from '../support/serverFixture';
import { esp8266ArduinoApp } from '../support/images';
import type { UpdateServer } from '../../src/core/updateServer';

const roomy = { freeSpace: 16 << 20 };

interface Scene {
  base: string;
  catalog: string;
  secret: string;
  inside: Buffer;
  outside: Buffer;
  server: UpdateServer;
  port: number;
}

/** catalog/box/fw.bin (inside) and secret-folder/fw.bin + secret-only.bin (outside), served on port 0. */
async function scene(): Promise<Scene> {
  const base = mkdtempSync(join(tmpdir(), 'acus-inside-'));
  const catalog = join(base, 'catalog');
  const secret = join(base, 'secret-folder');
  mkdirSync(join(catalog, 'box'), { recursive: true });
  mkdirSync(secret);
  const inside = esp8266ArduinoApp({ payloadSize: 200_000, seed: 81 });
  const outside = esp8266ArduinoApp({ payloadSize: 200_000, seed: 82 });
  writeFileSync(join(catalog, 'box', 'fw.bin'), inside);
  writeFileSync(join(secret, 'fw.bin'), outside);
  writeFileSync(join(secret, 'secret-only.bin'), outside);
  const { server } = await startServer(catalog);
  return { base, catalog, secret, inside, outside, server, port: server.port };
}

async function dispose(s: Scene): Promise<void> {
  await s.server.stop();
  rmSync(s.base, { recursive: true, force: true });
}

function containsOutside(response: RawResponse, outside: Buffer): boolean {
  // From the middle of the seeded payload: no other image holds these bytes.
  const middle = outside.subarray(outside.length >> 1, (outside.length >> 1) + 64);
  return (
    response.body.includes(middle) ||
    response.body.includes(Buffer.from('wifi password')) ||
    response.headers.get('x-md5') === md5(outside)
  );
}

/** Names a catalog request lists, or undefined when it is not a 200. */
function listed(response: RawResponse): string[] | undefined {
  if (response.status !== 200) return undefined;
  return (JSON.parse(response.body.toString('utf8')) as Array<{ name: string }>).map((item) => item.name);
}

describe('containment: a folder swapped for a link', () => {
  let s: Scene;
  before(async () => (s = await scene()));
  after(() => dispose(s));

  for (const form of ['relative', 'absolute'] as const) {
    for (const delayMs of [0, 5, 20, 100]) {
      it(`lists and serves nothing of the outside folder ${delayMs} ms after box/ became a ${form} link`, async () => {
        // Indexed first: the folder listed and a download from it, as the attacker does.
        assert.deepEqual(listed(await rawRequest(s.port, esp8266CatalogRequest('box'))), ['fw.bin']);
        const first = await rawRequest(s.port, esp8266DownloadRequest('/box/fw.bin', roomy));
        assert.equal(first.status, 200);
        assert.ok(first.body.equals(s.inside));

        renameSync(join(s.catalog, 'box'), join(s.catalog, '.box-old'));
        symlinkSync(form === 'relative' ? '../secret-folder' : s.secret, join(s.catalog, 'box'));
        try {
          if (delayMs > 0) await sleep(delayMs);
          const [list, download, only] = await Promise.all([
            rawRequest(s.port, esp8266CatalogRequest('box')),
            rawRequest(s.port, esp8266DownloadRequest('/box/fw.bin', roomy)),
            rawRequest(s.port, esp8266DownloadRequest('/box/secret-only.bin', roomy)),
          ]);
          assert.equal(list.status, 404, 'the folder is dropped as soon as a request touches it');
          assert.ok(!/secret-only/.test(list.body.toString('latin1')));
          for (const response of [download, only]) {
            assert.equal(response.status, 404);
            assert.equal(containsOutside(response, s.outside), false);
            assert.equal(response.headers.get('x-md5'), undefined);
          }
          const root = listed(await rawRequest(s.port, esp8266CatalogRequest('.')));
          assert.ok(root && !root.includes('box'), 'the link is not listed in its parent either');
        } finally {
          rmSync(join(s.catalog, 'box'));
          renameSync(join(s.catalog, '.box-old'), join(s.catalog, 'box'));
        }
      });
    }
  }
});

describe('containment: links inside and out', () => {
  let s: Scene;
  let v3: Buffer;
  before(async () => {
    s = await scene();
    v3 = esp8266ArduinoApp({ payloadSize: 150_000, seed: 83 });
    writeFileSync(join(s.catalog, 'blink-v3.bin'), v3);
    symlinkSync('blink-v3.bin', join(s.catalog, 'latest.bin'));
    symlinkSync('box', join(s.catalog, 'current'));
    symlinkSync('../secret-folder/fw.bin', join(s.catalog, 'rel-out.bin'));
    symlinkSync(join(s.secret, 'fw.bin'), join(s.catalog, 'abs-out.bin'));
    symlinkSync('../secret-folder', join(s.catalog, 'rel-out-dir'));
    symlinkSync(s.secret, join(s.catalog, 'abs-out-dir'));
    await s.server.catalog.rescanAll();
  });
  after(() => dispose(s));

  it('lists and serves an inside link (latest.bin → blink-v3.bin, current → box)', async () => {
    const root = listed(await rawRequest(s.port, esp8266CatalogRequest('.')));
    assert.ok(root?.includes('latest.bin') && root.includes('current'), JSON.stringify(root));
    const latest = await rawRequest(s.port, esp8266DownloadRequest('/latest.bin', roomy));
    assert.equal(latest.status, 200);
    assert.ok(latest.body.equals(v3));
    assert.equal(latest.headers.get('x-md5'), md5(v3));
    assert.deepEqual(listed(await rawRequest(s.port, esp8266CatalogRequest('current'))), ['fw.bin']);
    const current = await rawRequest(s.port, esp8266DownloadRequest('/current/fw.bin', roomy));
    assert.equal(current.status, 200);
    assert.ok(current.body.equals(s.inside));
  });

  it('never lists or serves a link out of the catalog: file and folder, relative and absolute', async () => {
    const root = listed(await rawRequest(s.port, esp8266CatalogRequest('.')))!;
    for (const name of ['rel-out.bin', 'abs-out.bin', 'rel-out-dir', 'abs-out-dir']) assert.ok(!root.includes(name));
    for (const dir of ['rel-out-dir', 'abs-out-dir']) {
      assert.equal((await rawRequest(s.port, esp8266CatalogRequest(dir))).status, 404);
    }
    for (const target of ['/rel-out.bin', '/abs-out.bin', '/rel-out-dir/fw.bin', '/abs-out-dir/secret-only.bin']) {
      const response = await rawRequest(s.port, esp8266DownloadRequest(target, roomy));
      assert.equal(response.status, 404, target);
      assert.equal(containsOutside(response, s.outside), false, target);
    }
  });

  it('never serves a file or folder swapped for an outside link after it was indexed', async () => {
    for (const form of ['relative', 'absolute'] as const) {
      const later = esp8266ArduinoApp({ payloadSize: 100_000, seed: form === 'relative' ? 84 : 85 });
      writeFileSync(join(s.catalog, 'later.bin'), later);
      mkdirSync(join(s.catalog, 'laterdir'));
      writeFileSync(join(s.catalog, 'laterdir', 'fw.bin'), later);
      for (const target of ['/later.bin', '/laterdir/fw.bin']) {
        const indexed = await rawRequest(s.port, esp8266DownloadRequest(target, roomy));
        assert.equal(indexed.status, 200, target);
      }
      symlinkSync(form === 'relative' ? '../secret-folder/fw.bin' : join(s.secret, 'fw.bin'), join(s.catalog, '.l'));
      renameSync(join(s.catalog, '.l'), join(s.catalog, 'later.bin'));
      renameSync(join(s.catalog, 'laterdir'), join(s.catalog, '.laterdir-old'));
      symlinkSync(form === 'relative' ? '../secret-folder' : s.secret, join(s.catalog, 'laterdir'));
      for (const target of ['/later.bin', '/laterdir/fw.bin']) {
        const response = await rawRequest(s.port, esp8266DownloadRequest(target, roomy));
        assert.equal(response.status, 404, `${form} ${target}`);
        assert.equal(containsOutside(response, s.outside), false);
      }
      assert.equal((await rawRequest(s.port, esp8266CatalogRequest('laterdir'))).status, 404);
      rmSync(join(s.catalog, 'later.bin'));
      rmSync(join(s.catalog, 'laterdir'));
      rmSync(join(s.catalog, '.laterdir-old'), { recursive: true });
    }
  });
});

/**
 * Renames toc.bin back and forth between a real image (a hard link of .toc-real, so always the same inode) and a link
 * to an image outside, as fast as it can, in another thread: the swaps race the server's thread-pool calls for real.
 */
function startSwapper(catalog: string, outsideFile: string) {
  const counter = new Int32Array(new SharedArrayBuffer(8));
  const code = `
    const { workerData } = require('node:worker_threads');
    const fs = require('node:fs');
    const path = require('node:path');
    const { catalog, outsideFile, counter } = workerData;
    const tmp = path.join(catalog, '.toc-tmp');
    const toc = path.join(catalog, 'toc.bin');
    for (let i = 0; Atomics.load(counter, 1) === 0; i++) {
      fs.rmSync(tmp, { force: true });
      if (i % 2 === 0) fs.symlinkSync(outsideFile, tmp);
      else fs.linkSync(path.join(catalog, '.toc-real'), tmp);
      fs.renameSync(tmp, toc);
      Atomics.add(counter, 0, 1);
      Atomics.wait(counter, 1, 0, 0.2); // 0.2 ms: let the server's threads in between swaps
    }
  `;
  const worker = new Worker(code, { eval: true, workerData: { catalog, outsideFile, counter } });
  return {
    swaps: () => Atomics.load(counter, 0),
    stop: async () => {
      Atomics.store(counter, 1, 1);
      await new Promise((resolve) => worker.once('exit', resolve));
    },
  };
}

describe('containment: a file swapped for a link while 8 devices download it', () => {
  for (const run of [1, 2, 3]) {
    it(`run ${run}: at least 500 swaps, no outside byte, every 200 the inside image with its x-MD5`, async () => {
      const s = await scene();
      try {
        writeFileSync(join(s.catalog, '.toc-real'), s.inside);
        linkSync(join(s.catalog, '.toc-real'), join(s.catalog, 'toc.bin'));
        assert.equal((await rawRequest(s.port, esp8266DownloadRequest('/toc.bin', roomy))).status, 200);
        const swapper = startSwapper(s.catalog, join(s.secret, 'fw.bin'));
        const counts = { downloads: 0, ok: 0, outside: 0, other: new Map<number, number>() };
        const device = async () => {
          // Until the inside image has been served too (on a busy machine the swaps can win many requests in a
          // row): a run that only ever saw 404s would prove nothing about what a 200 carries.
          while (swapper.swaps() < 500 || counts.downloads < 200 || (counts.ok === 0 && counts.downloads < 20_000)) {
            const response = await rawRequest(s.port, esp8266DownloadRequest('/toc.bin', roomy));
            counts.downloads++;
            if (containsOutside(response, s.outside)) counts.outside++;
            if (response.status === 200) {
              counts.ok++;
              assert.ok(response.body.equals(s.inside), 'a 200 carries exactly the inside image');
              assert.equal(response.headers.get('x-md5'), md5(s.inside));
            } else {
              // 404 (a link now, or proven outside), or 403 when the swaps kept moving the inode's ctime while read.
              assert.ok([403, 404].includes(response.status), `${response.status} ${response.body.toString('latin1')}`);
              counts.other.set(response.status, (counts.other.get(response.status) ?? 0) + 1);
            }
          }
        };
        try {
          await Promise.all(Array.from({ length: 8 }, device));
        } finally {
          await swapper.stop();
        }
        console.log(
          `file-swap run ${run}: ${swapper.swaps()} swaps, ${counts.downloads} downloads, ${counts.ok} × 200, ` +
            `${counts.other.get(404) ?? 0} × 404, ${counts.other.get(403) ?? 0} × 403, ${counts.outside} with outside bytes`,
        );
        assert.equal(counts.outside, 0);
        assert.ok(swapper.swaps() >= 500);
        assert.ok(counts.ok > 0, 'the inside image was served between the swaps');
      } finally {
        await dispose(s);
      }
    });
  }
});
