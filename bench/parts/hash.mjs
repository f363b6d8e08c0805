// 5. Hash work: how many times the server hashes file bytes (the catalog's onDidAnalyzeImage 'hash' events, counted
// from the moment before the first download) for 1000 device downloads, with an in-process UpdateServer from out/
// (the events are not visible from outside) and its default options, as the CLI uses them. Reference: updateserver.py recomputes
// the MD5 on every request (protocol.md §3.4), i.e. 1000. Target: one MD5 per file version.
//   A. 1000 downloads of one image (its one hash happened at indexing, before the downloads);
//   B. 1000 downloads while the image is replaced by a new build every 100 downloads (10 new versions);
//   C. 1000 downloads spread over 100 different 1 MB images (100 versions; more bytes than the image cache holds).
// Besides the counter, the MD5 passes and bytes the server's image work actually ran are read from its own figures
// (ImageStore.workFigures, counted where each MD5 is computed, in the worker thread or on the main thread):
// analysing an ESP8266 version may also hash the flash-mode/size variants a device may report (runningMd5.ts),
// which the counter does not count. Ratio = bytes hashed / updateserver.py's bytes.

import { createHash } from 'node:crypto';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir, removeDir } from '../lib/cleanup.mjs';
import { httpExchange } from '../lib/device.mjs';
import { core, deviceDownload, esp8266Image } from '../lib/support.mjs';
import { MB, sizeText } from '../lib/stats.mjs';

const CONCURRENCY = 8;
const TOTAL = 1000;
const md5Of = (b) => createHash('md5').update(b).digest('hex');

/** TOTAL downloads by CONCURRENCY devices; `requestFor(i)` picks the request, `before(i)` may change the catalog. */
async function downloads(port, requestFor, expected, before) {
  let next = 0;
  let errors = 0;
  let firstError;
  const buffer = Buffer.allocUnsafe(64 * 1024);
  const worker = async () => {
    while (next < TOTAL) {
      const i = next++;
      before?.(i);
      const r = await httpExchange({ port, request: requestFor(i), buffer, hash: true, timeoutMs: 20_000 });
      const xmd5 = r.headers.get('x-md5');
      if (!r.ok || r.status !== 200 || r.md5 !== xmd5 || !expected.has(xmd5)) {
        errors++;
        firstError ??= r.error ?? `status ${r.status}, x-MD5 ${xmd5}, body md5 ${r.md5}`;
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return { errors, firstError };
}

async function withServer(catalogDir, fn) {
  const { UpdateServer } = core();
  const server = await UpdateServer.start({ catalogDir, port: 0, host: '127.0.0.1' });
  let hashes = 0;
  server.catalog.onDidAnalyzeImage((analysis) => {
    if (analysis.work === 'hash') hashes++;
  });
  try {
    const work = () => server.catalog.images.workFigures;
    let mark = { md5Passes: 0, md5Bytes: 0 }; // from the start: indexing included
    const hashed = {
      /** MD5 passes and bytes since the last mark. */
      since: () => ({ passes: work().md5Passes - mark.md5Passes, bytes: work().md5Bytes - mark.md5Bytes }),
      mark: () => (mark = { ...work() }),
    };
    return await fn(server, () => hashes, hashed);
  } finally {
    await server.stop();
  }
}

export async function hash({ quick, log }) {
  const size = quick ? 256 * 1024 : 1024 * 1024;
  const dir = tempDir('hash');
  const rows = [];
  const row = (what, r, computations, versions, imageBytes, work) => {
    const pyBytes = TOTAL * imageBytes;
    rows.push([
      'hash',
      what,
      `${computations} MD5 for ${versions} version${versions > 1 ? 's' : ''}; ${(work.bytes / MB).toFixed(0)} MB hashed in ${work.passes} passes${r.errors ? ` — ${r.errors} ERRORS (${r.firstError})` : ''}`,
      `updateserver.py ${TOTAL} MD5, ${(pyBytes / MB).toFixed(0)} MB`,
      `${(work.bytes / pyBytes).toFixed(3)}×`,
      '1 per file version',
      computations <= versions && !r.errors ? 'MET' : 'MISSED',
    ]);
    log(
      `hash: ${what}: ${computations} MD5 computation(s) for ${versions} version(s), ${work.passes} MD5 passes over ${(work.bytes / MB).toFixed(1)} MB, ${r.errors} errors`,
    );
  };
  try {
    // A and B: one image.
    const a = join(dir, 'a');
    mkdirSync(a);
    const builds = Array.from({ length: 11 }, (_, k) => esp8266Image(size, 21 + k));
    writeFileSync(join(a, 'fw.bin'), builds[0]);
    await withServer(a, async (server, count, hashed) => {
      const request = deviceDownload('/fw.bin', server.port);
      const atIndex = count();
      let c0 = count();
      const ra = await downloads(server.port, () => request, new Set([md5Of(builds[0])]));
      row(
        `${TOTAL} downloads of one ${sizeText(size)} image (incl. indexing)`,
        ra,
        count() - c0 + atIndex,
        1,
        size,
        hashed.since(),
      );
      // Replace it (write aside, rename over: how publishing replaces entries) every 100 downloads.
      c0 = count();
      hashed.mark();
      const rb = await downloads(
        server.port,
        () => request,
        new Set(builds.map(md5Of)),
        (i) => {
          if (i % 100 === 50) {
            writeFileSync(join(a, '.fw.bin.tmp'), builds[1 + Math.floor(i / 100)]);
            renameSync(join(a, '.fw.bin.tmp'), join(a, 'fw.bin'));
          }
        },
      );
      row(`${TOTAL} downloads, image replaced by a new build 10×`, rb, count() - c0, 10, size, hashed.since());
    });
    // C: many images, more bytes than the default image cache.
    const c = join(dir, 'c');
    mkdirSync(c);
    const images = 100;
    const names = Array.from({ length: images }, (_, k) => `fw-${String(k).padStart(3, '0')}.bin`);
    const expected = new Set();
    for (const [k, name] of names.entries()) {
      const image = esp8266Image(1024 * 1024, 1000 + k);
      expected.add(md5Of(image));
      writeFileSync(join(c, name), image);
    }
    await withServer(c, async (server, count, hashed) => {
      const atIndex = count();
      const c0 = count();
      const rc = await downloads(server.port, (i) => deviceDownload(`/${names[i % images]}`, server.port), expected);
      row(
        `${TOTAL} downloads over ${images} × 1 MB images (incl. indexing)`,
        rc,
        count() - c0 + atIndex,
        images,
        1024 * 1024,
        hashed.since(),
      );
    });
  } finally {
    removeDir(dir);
  }
  const notes = [
    `hash: in-process UpdateServer (out/src/core) with default options, ${CONCURRENCY} devices downloading at once; MD5 work as the server's image work counts it (worker thread and main thread)`,
  ];
  return { rows, notes };
}
