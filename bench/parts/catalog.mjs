// 3. Catalog: folders of 10, 100 and 1000 images (64 KB each). Latency of the device's `GET /_catalog?op=list&path=.`
// (new connection each, one after the other, connect → last body byte): warm; right after a change (a new image
// added, or removed again, then the request at once); and while 100 slow devices download (each reads at 40 KB/s
// and, done, asks for the next listed image: a steady ~60 downloads/s, from a second client process). Reference:
// nginx serving a static JSON file of exactly the same size, warm and while the same slow downloads run from nginx.

import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { tempDir, removeDir } from '../lib/cleanup.mjs';
import { startClient } from '../lib/clients.mjs';
import { httpExchange } from '../lib/device.mjs';
import { startOurServer, logLines } from '../lib/servers.mjs';
import { startNginx } from '../lib/nginx.mjs';
import { deviceCatalog, deviceDownload, esp8266Image, plainGet } from '../lib/support.mjs';
import { ms, percentile, ratio } from '../lib/stats.mjs';

const SLOW_DEVICES = 100;
const RATE = 40 * 1024;
/** Pause between two catalog requests: spreads the samples over several seconds of background load. */
const GAP_MS = 5;

export async function catalog({ quick, log, nginx }) {
  const sizes = [10, 100, 1000];
  const count = quick ? 100 : 500;
  const reps = quick ? 6 : 20;
  const smallSize = 64 * 1024;
  const rows = [];
  const notes = [];
  const client = startClient();
  try {
    for (const size of sizes) {
      const dir = tempDir(`catalog${size}`);
      try {
        const r = await measure({ dir, size, count, reps, smallSize, log, nginx, client });
        const p = (s) => `p50 ${ms(percentile(s, 50))} / p99 ${ms(percentile(s, 99))}`;
        const k = (a, b) =>
          b
            ? `${ratio(percentile(a, 50) / percentile(b, 50), 1)} / ${ratio(percentile(a, 99) / percentile(b, 99), 1)}`
            : '—';
        const target = size === 1000;
        const verdict = (s, errors) =>
          target ? (percentile(s, 99) < 20 && !errors ? 'MET' : 'MISSED') : errors ? 'ERRORS' : '';
        const what = `${size} images (${r.listed} listed, ${(r.length / 1024).toFixed(1)} KB)`;
        rows.push([
          'catalog',
          `${what}, warm`,
          p(r.warm.samples) + err(r.warm),
          r.nginxWarm ? `nginx ${p(r.nginxWarm.samples)}` : 'nginx missing',
          k(r.warm.samples, r.nginxWarm?.samples),
          target ? 'p99 < 20 ms' : '',
          verdict(r.warm.samples, r.warm.errors),
        ]);
        rows.push([
          'catalog',
          `${size} images, right after add/remove`,
          `${p(r.change.samples)}, ${r.change.fresh}/${reps} fresh${err(r.change)}`,
          r.nginxWarm ? `nginx warm ${p(r.nginxWarm.samples)}` : '',
          k(r.change.samples, r.nginxWarm?.samples),
          '',
          r.change.errors ? 'ERRORS' : '',
        ]);
        rows.push([
          'catalog',
          `${size} images, during ${SLOW_DEVICES} slow downloads`,
          p(r.loaded.samples) + err(r.loaded),
          r.nginxLoaded ? `nginx ${p(r.nginxLoaded.samples)}` : 'nginx missing',
          k(r.loaded.samples, r.nginxLoaded?.samples),
          target ? 'p99 < 20 ms' : '',
          verdict(r.loaded.samples, r.loaded.errors),
        ]);
        if (r.paired) {
          const [now, before] = r.paired;
          rows.push([
            'catalog',
            `${size} images, right after add/remove, against the previous build`,
            `${p(now.samples)}, ${now.fresh}/${r.pairedReps} fresh${err(now)}`,
            `previous build ${p(before.samples)}, ${before.fresh}/${r.pairedReps} fresh${err(before)}`,
            k(now.samples, before.samples),
            'p99 < 20 ms',
            percentile(now.samples, 99) < 20 && !now.errors ? 'MET' : 'MISSED',
          ]);
        }
        notes.push(...r.notes);
      } finally {
        removeDir(dir);
      }
    }
  } finally {
    await client.stop();
  }
  notes.push(
    `catalog: ratio column is ours/nginx at p50 / p99; ${count} requests per figure (${GAP_MS} ms apart) after 10 warm-up requests, ${reps} changes (every 300 ms)`,
  );
  return { rows, notes };
}

function err(r) {
  return r.errors ? ` — ${r.errors} ERRORS (${r.firstError ?? ''})` : '';
}

async function withSlowDevices(port, requests, fn) {
  const background = startClient();
  try {
    const started = await background.run(
      'slowStart',
      { port, requests, n: SLOW_DEVICES, rate: RATE, readSize: 4096, jitterMs: 1600 },
      60_000,
    );
    if (started.heads < SLOW_DEVICES)
      throw new Error(`only ${started.heads} of ${SLOW_DEVICES} slow downloads started`);
    const result = await fn();
    const bg = await background.run('slowStop', {}, 10_000);
    return { result, bg };
  } finally {
    await background.stop();
  }
}

async function measure({ dir, size, count, reps, smallSize, log, nginx, client }) {
  const catalogDir = join(dir, 'catalog');
  const staticDir = join(dir, 'static');
  mkdirSync(catalogDir);
  mkdirSync(staticDir);
  for (let i = 1; i <= size; i++)
    writeFileSync(join(catalogDir, `img-${String(i).padStart(4, '0')}.bin`), esp8266Image(smallSize, i));
  const notes = [];

  const logFile = join(dir, 'server.log');
  const t0 = performance.now();
  const server = await startOurServer({ catalogDir, logFile });
  const startMs = performance.now() - t0;
  const linesAtStart = logLines(logFile).length;
  let ng;
  try {
    const request = deviceCatalog(server.port);
    const first = await httpExchange({ port: server.port, request, keepBody: true, timeoutMs: 10_000 });
    if (!first.ok || first.status !== 200) throw new Error(`catalog request failed: ${first.error ?? first.status}`);
    const bins = JSON.parse(first.body.toString('utf8'))
      .filter((e) => e.type === 'bin')
      .map((e) => e.name);
    const listed = bins.length;
    writeFileSync(join(staticDir, 'catalog.json'), first.body);
    // nginx serves the same files: copies (a hard link would change the originals' ctime, a new version to our server)
    for (const name of bins) copyFileSync(join(catalogDir, name), join(staticDir, name));
    log(`catalog ${size}: server up in ${startMs.toFixed(0)} ms, ${listed} listed, body ${first.body.length} bytes`);

    const warm = await client.run('latency', { port: server.port, request, count, gapMs: GAP_MS }, 120_000);
    log(`catalog ${size}: warm p50 ${ms(percentile(warm.samples, 50))} p99 ${ms(percentile(warm.samples, 99))}`);
    const linesBefore = logLines(logFile).length;
    const change = await client.run(
      'changeLatency',
      { port: server.port, request, catalogDir, reps, gapMs: 300, imageSize: smallSize },
      reps * 2000 + 30_000,
    );
    const changeLines = logLines(logFile).length - linesBefore;
    const slowest = change.samples
      .map((v, i) => [v, i])
      .sort((x, y) => y[0] - x[0])
      .slice(0, 3)
      .map(([v, i]) => `#${i + 1} ${ms(v)}`);
    log(
      `catalog ${size}: after change p50 ${ms(percentile(change.samples, 50))} p99 ${ms(percentile(change.samples, 99))}, ${change.fresh}/${reps} fresh, ${changeLines} log lines; slowest: ${slowest.join(', ')}`,
    );
    const { result: loaded, bg } = await withSlowDevices(
      server.port,
      bins.map((b) => deviceDownload(`/${b}`, server.port)),
      () => client.run('latency', { port: server.port, request, count, gapMs: GAP_MS }, 120_000),
    );
    log(
      `catalog ${size}: under load p50 ${ms(percentile(loaded.samples, 50))} p99 ${ms(percentile(loaded.samples, 99))} (slow devices: ${bg.completed} downloads done, ${bg.errors} errors${bg.firstError ? `: ${bg.firstError}` : ''})`,
    );
    if (bg.errors) notes.push(`catalog ${size}: ${bg.errors} slow download(s) failed on our server: ${bg.firstError}`);
    notes.push(
      `catalog ${size}: server start (index ${size} images) ${startMs.toFixed(0)} ms; log lines: ${linesAtStart} at start, ${changeLines} during ${reps} changes`,
    );

    let nginxWarm;
    let nginxLoaded;
    if (nginx && !nginx.missing) {
      ng = await startNginx(nginx.path, staticDir);
      const nreq = plainGet('/catalog.json', ng.port, '1.1');
      nginxWarm = await client.run('latency', { port: ng.port, request: nreq, count, gapMs: GAP_MS }, 120_000);
      const nl = await withSlowDevices(
        ng.port,
        bins.map((b) => plainGet(`/${b}`, ng.port)),
        () => client.run('latency', { port: ng.port, request: nreq, count, gapMs: GAP_MS }, 120_000),
      );
      nginxLoaded = nl.result;
      if (nl.bg.errors)
        notes.push(`catalog ${size}: ${nl.bg.errors} slow download(s) failed on nginx: ${nl.bg.firstError}`);
      log(
        `catalog ${size}: nginx warm p99 ${ms(percentile(nginxWarm.samples, 99))}, under load p99 ${ms(percentile(nginxLoaded.samples, 99))}`,
      );
    }
    const previous = process.env.ACBENCH_BEFORE_CLI;
    let paired;
    const pairedReps = reps * 3;
    if (previous && size === 1000) {
      // The previous build on a copy of the same catalog, both servers up at once: the changes take turns.
      const beforeDir = join(dir, 'catalog-before');
      mkdirSync(beforeDir);
      for (let i = 1; i <= size; i++) {
        const name = `img-${String(i).padStart(4, '0')}.bin`;
        copyFileSync(join(catalogDir, name), join(beforeDir, name));
      }
      const other = await startOurServer({
        catalogDir: beforeDir,
        logFile: join(dir, 'server-before.log'),
        cli: previous,
      });
      try {
        const otherRequest = deviceCatalog(other.port);
        for (let i = 0; i < 10; i++) await httpExchange({ port: other.port, request: otherRequest, timeoutMs: 10_000 });
        paired = await client.run(
          'changeLatencyPair',
          {
            servers: [
              { port: server.port, request, catalogDir },
              { port: other.port, request: otherRequest, catalogDir: beforeDir },
            ],
            reps: pairedReps,
            gapMs: 300,
            imageSize: smallSize,
          },
          pairedReps * 4000 + 30_000,
        );
        const top = (samples) =>
          samples
            .map((v, i) => [v, i])
            .sort((x, y) => y[0] - x[0])
            .slice(0, 3)
            .map(([v, i]) => `#${i + 1} ${ms(v)}`)
            .join(', ');
        log(
          `catalog ${size}: after change, paired with ${previous}: now p50 ${ms(percentile(paired[0].samples, 50))} p99 ${ms(percentile(paired[0].samples, 99))} (slowest ${top(paired[0].samples)}), previous p50 ${ms(percentile(paired[1].samples, 50))} p99 ${ms(percentile(paired[1].samples, 99))} (slowest ${top(paired[1].samples)})`,
        );
        notes.push(
          `catalog ${size}: "against the previous build": ${previous} serves a copy of the catalog beside ours, ${pairedReps} changes each, taking turns (ACBENCH_BEFORE_CLI)`,
        );
      } finally {
        await other.stop();
      }
    }
    return {
      listed,
      length: first.body.length,
      warm,
      change,
      loaded,
      nginxWarm,
      nginxLoaded,
      notes,
      paired,
      pairedReps,
    };
  } finally {
    await server.stop();
    await ng?.stop();
  }
}
