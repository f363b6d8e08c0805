// 5. Hash work: how many times the server hashes file bytes (the catalog's onDidAnalyzeImage 'hash' events, counted
// from before the catalog is indexed) for 1000 device downloads, with an in-process Catalog and UpdateServer from out/
// (the events are not visible from outside) and its default options, as the CLI uses them. Reference: updateserver.py recomputes
// the MD5 on every request (protocol.md §3.4), i.e. 1000. Target: one MD5 per file version.
//   A. 1000 downloads of one image (its one hash happened at indexing, before the downloads);
//   B. 1000 downloads while the image is replaced by a new build every 100 downloads (10 new versions);
//   C. 1000 downloads spread over 100 different 1 MB images (100 versions; more bytes than the image cache holds).
//   D. published builds: an in-process UpdateService serving a catalog and watching a PlatformIO project; 10 builds
//      (keep 3: each also keeps the previous one under a dated name), a catalog request after each. Figure: the
//      analyses and MD5 passes per published build, of the publisher and the served catalog together. Target 1 and
//      1; reference: 2, where issue 9 started (the publisher analysed and hashed a build, then the served catalog).
// Besides the counter, the MD5 passes and bytes the server's image work actually ran are read from its own figures
// (ImageStore.workFigures, counted where each MD5 is computed, in the worker thread or on the main thread):
// analysing an ESP8266 version may also hash the flash-mode/size variants a device may report (runningMd5.ts),
// which the counter does not count. Ratio = bytes hashed / updateserver.py's bytes.

import { createHash } from 'node:crypto';
import { mkdirSync, renameSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir, removeDir } from '../lib/cleanup.mjs';
import { httpExchange } from '../lib/device.mjs';
import { ROOT, core, deviceCatalog, deviceDownload, esp8266Image } from '../lib/support.mjs';
import { createRequire } from 'node:module';
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
  const { Catalog } = createRequire(import.meta.url)(join(ROOT, 'out/src/core/catalog/catalog.js'));
  const { KnownImages } = createRequire(import.meta.url)(join(ROOT, 'out/src/core/devices/knownImages.js'));
  // The catalog made first, as UpdateService makes it, so its indexing is counted too.
  const catalog = new Catalog({ root: catalogDir });
  const knownImages = new KnownImages();
  let hashes = 0;
  catalog.onDidAnalyzeImage((analysis) => {
    knownImages.learn(analysis);
    if (analysis.work === 'hash') hashes++;
  });
  await catalog.open();
  const server = await UpdateServer.start({ catalogDir, catalog, knownImages, port: 0, host: '127.0.0.1' });
  try {
    const work = () => catalog.workFigures;
    let mark = { md5Passes: 0, md5Bytes: 0 }; // from the start: indexing included
    const hashed = {
      /** MD5 passes and bytes since the last mark. */
      since: () => ({ passes: work().md5Passes - mark.md5Passes, bytes: work().md5Bytes - mark.md5Bytes }),
      mark: () => (mark = { ...work() }),
    };
    return await fn(server, () => hashes, hashed);
  } finally {
    await server.stop();
    await catalog.dispose();
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
    rows.push(await publishedBuilds(join(dir, 'd'), size, log));
  } finally {
    removeDir(dir);
  }
  const notes = [
    `hash: in-process UpdateServer (out/src/core) with default options, ${CONCURRENCY} devices downloading at once; MD5 work as the server's image work counts it (worker thread and main thread)`,
  ];
  return { rows, notes };
}

/** D: analyses and MD5 passes per published build (publisher + served catalog), as UpdateService composes them. */
async function publishedBuilds(dir, size, log) {
  const { UpdateService } = createRequire(import.meta.url)(join(ROOT, 'out/src/core/index.js'));
  const builds = 10;
  const project = join(dir, 'blink');
  const buildDir = join(project, '.pio', 'build', 'd1_mini');
  const catalogDir = join(dir, 'catalog');
  mkdirSync(buildDir, { recursive: true });
  mkdirSync(catalogDir);
  writeFileSync(join(project, 'platformio.ini'), '[env:d1_mini]\nplatform = espressif8266\nboard = d1_mini\n');
  const service = new UpdateService();
  let errors = 0;
  let firstError;
  try {
    await service.update({
      catalogDir,
      keep: 3,
      serve: { port: 0, host: '127.0.0.1' },
      publish: { roots: [dir], pollMs: 200 },
    });
    const port = service.server.port;
    for (let k = 0; k < builds; k++) {
      const image = esp8266Image(size, 7000 + k);
      const published = new Promise((resolve) => {
        const subscription = service.onDidPublish((event) => {
          subscription.dispose();
          resolve(event);
        });
      });
      // Builds a minute apart (kept builds are named by their build time, to the second).
      const builtAt = new Date(Date.UTC(2026, 0, 1, 12, k));
      writeFileSync(join(buildDir, '.firmware.tmp'), image);
      utimesSync(join(buildDir, '.firmware.tmp'), builtAt, builtAt);
      renameSync(join(buildDir, '.firmware.tmp'), join(buildDir, 'firmware.bin'));
      const event = await published;
      if (event.md5 !== md5Of(image)) {
        errors++;
        firstError ??= `published md5 ${event.md5}, built ${md5Of(image)}`;
      }
      const listing = await httpExchange({ port, request: deviceCatalog(port), keepBody: true, timeoutMs: 10_000 });
      if (listing.status !== 200 || !listing.body.includes('"blink-d1_mini.bin"')) {
        errors++;
        firstError ??= `catalog answer ${listing.status}`;
      }
    }
    const publisher = service.publisher.workFigures;
    const catalog = service.catalog.workFigures;
    const analyses = publisher.inWorker + publisher.inThread + catalog.inWorker + catalog.inThread;
    const passes = publisher.md5Passes + catalog.md5Passes;
    log(
      `hash: ${builds} published builds: publisher ${publisher.inWorker + publisher.inThread} analyses / ${publisher.md5Passes} MD5 passes, catalog ${catalog.inWorker + catalog.inThread} / ${catalog.md5Passes}, ${errors} errors`,
    );
    return [
      'hash',
      `${builds} published builds of ${sizeText(size)} (keep 3), publisher + served catalog`,
      `${(analyses / builds).toFixed(2)} analyses and ${(passes / builds).toFixed(2)} MD5 per build (catalog: ${catalog.md5Passes} MD5 in all)${errors ? ` — ${errors} ERRORS (${firstError})` : ''}`,
      'issue 9 start: 2 per build (publisher, then catalog)',
      `${(passes / builds / 2).toFixed(2)}×`,
      '1 analysis + 1 MD5 per build',
      analyses <= builds && passes <= builds && !errors ? 'MET' : 'MISSED',
    ];
  } finally {
    await service.dispose();
  }
}
