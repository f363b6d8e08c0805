// 6. Event loop: how long the server process's event loop is held while it works. Inside VS Code the server shares
// the extension host's loop with every other extension, so a long synchronous stretch freezes the editor. The CLI
// runs with bench/lib/loopDelayPreload.cjs preloaded (node -r) (monitorEventLoopDelay, 1 ms resolution); each phase below is
// one window of its figures (p50 / p99 / max). Reference: the same server idle for a window of the same kind; for the
// full-speed phase, a plain node:http server (bench/lib/bareHttp.cjs) under the same clients right after ours.
//
// Phases (issue 13):
//   1. start on 1000 images, until the first catalog answer
//   2. 20 catalog changes, a catalog request after each
//   3. a rescan of 1000 images that are all new versions (replaced by rename), until the catalog answers
//   4. a new 16 MB build, hashed and analysed on its first download
//   5. 64 clients downloading a 4 MB image at full speed
//   6. 300 devices starting a 4 MB download at once, read at 40 KB/s (the first seconds)

import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { traceReport } from '../lib/loopTrace.mjs';
import { setTimeout as sleep } from 'node:timers/promises';
import { tempDir, removeDir } from '../lib/cleanup.mjs';
import { startClient } from '../lib/clients.mjs';
import { httpExchange } from '../lib/device.mjs';
import { startOurServer, loopDelayWindow, logLines } from '../lib/servers.mjs';
import { deviceCatalog, deviceDownload, deviceRequests, esp8266Image, images } from '../lib/support.mjs';
import { MB, mbps, ms, ratio, sizeText } from '../lib/stats.mjs';

const TARGET_MAX = 20;
const TARGET_P99 = 5;
const IDLE_MS = 2000;

export async function loop({ quick, log }) {
  const imageCount = quick ? 200 : 1000;
  const smallSize = 64 * 1024;
  const buildSize = quick ? 4 * MB : 16 * MB;
  const clients = quick ? 16 : 64;
  const devices = quick ? 100 : 300;
  const rows = [];
  const notes = [];
  const phases = [];
  const dir = tempDir('loop');
  const client = startClient();
  const traces = []; // ACBENCH_LOOP_TRACE=1: one report per server, see bench/lib/loopTracePreload.cjs
  const trace = (server, list) => {
    if (process.env.ACBENCH_LOOP_TRACE)
      traces.push(
        traceReport(
          `${server.loopFile}.trace`,
          list.filter((p) => p.w).map((p) => ({ seq: p.w.seq, what: p.what })),
        ),
      );
  };
  try {
    // --- server A: a catalog of many small images (phases 1-3)
    const catalogA = join(dir, 'catalogA');
    mkdirSync(catalogA);
    const name = (i) => `img-${String(i).padStart(4, '0')}.bin`;
    for (let i = 1; i <= imageCount; i++) writeFileSync(join(catalogA, name(i)), esp8266Image(smallSize, i));
    const a = await startOurServer({
      catalogDir: catalogA,
      logFile: join(dir, 'serverA.log'),
      loopFile: join(dir, 'loopA.json'),
    });
    try {
      const request = deviceCatalog(a.port);
      const first = await httpExchange({ port: a.port, request, timeoutMs: 30_000 });
      if (!first.ok || first.status !== 200) throw new Error(`catalog request failed: ${first.error ?? first.status}`);
      const start = await loopDelayWindow(a); // since the process started
      phases.push({
        what: `start on ${imageCount} images, until the first catalog answer`,
        w: start,
        work: `answer ${ms(start.windowMs)} after the bundle was loaded (loading took ${ms(start.loadMs)})`,
      });
      log(`loop: start ${fmt(start)} (${start.windowMs.toFixed(0)} ms window)`);

      await sleep(500);
      await loopDelayWindow(a);
      await sleep(IDLE_MS);
      const idleA = await loopDelayWindow(a);

      const reps = quick ? 6 : 20;
      const change = await client.run(
        'changeLatency',
        { port: a.port, request, catalogDir: catalogA, reps, gapMs: 300, imageSize: smallSize },
        reps * 2000 + 30_000,
      );
      const changes = await loopDelayWindow(a);
      phases.push({
        what: `${reps} catalog changes, a catalog request after each`,
        w: changes,
        idle: idleA,
        work: `${change.fresh}/${reps} fresh${change.errors ? `, ${change.errors} ERRORS` : ''}`,
        failed: change.errors > 0,
      });
      log(`loop: changes ${fmt(changes)}`);

      // Every image replaced by a new build at once (written aside, renamed over): the next request rescans them all.
      await sleep(500);
      for (let i = 1; i <= imageCount; i++) {
        const aside = join(catalogA, `.new-${i}`);
        writeFileSync(aside, esp8266Image(smallSize, 50_000 + i));
        renameSync(aside, join(catalogA, name(i)));
      }
      await loopDelayWindow(a); // the writes themselves happen in this process; start the window now
      const rescan = await httpExchange({ port: a.port, request, timeoutMs: 30_000 });
      if (!rescan.ok || rescan.status !== 200)
        throw new Error(`catalog after rescan: ${rescan.error ?? rescan.status}`);
      await sleep(1000); // the watcher's own rescans of the same changes
      const rescanW = await loopDelayWindow(a);
      phases.push({
        what: `rescan of ${imageCount} new image versions, until the catalog answers`,
        w: rescanW,
        idle: idleA,
        work: `answer after ${ms(rescan.tEnd - rescan.tStart)}`,
      });
      log(`loop: rescan ${fmt(rescanW)}, answer after ${ms(rescan.tEnd - rescan.tStart)}`);
      const warnings = logLines(a.logFile).length;
      if (warnings)
        notes.push(`loop: server A logged ${warnings} warning line(s), e.g. ${logLines(a.logFile)[0]?.slice(0, 160)}`);
      await a.stop();
      trace(a, [...phases, { what: 'idle A (reference)', w: idleA }]);
    } finally {
      await a.stop();
    }

    // --- server B: a 4 MB image and a new 16 MB build (phases 4-6)
    const catalogB = join(dir, 'catalogB');
    mkdirSync(catalogB);
    writeFileSync(join(catalogB, 'fw.bin'), esp8266Image(4 * MB, 11));
    const b = await startOurServer({
      catalogDir: catalogB,
      logFile: join(dir, 'serverB.log'),
      loopFile: join(dir, 'loopB.json'),
    });
    const client2 = startClient();
    try {
      const download = deviceDownload('/fw.bin', b.port);
      const warm = await client.run(
        'fleet',
        { port: b.port, request: download, n: 1, rate: 0, timeoutMs: 20_000 },
        30_000,
      );
      if (!warm.devices[0].ok) throw new Error(`warm-up download failed: ${warm.devices[0].error}`);
      await sleep(500);
      await loopDelayWindow(b);
      await sleep(IDLE_MS);
      const idleB = await loopDelayWindow(b);

      // A new build of buildSize bytes, renamed into the catalog (how publishing writes), then downloaded once.
      const build = images().esp8266ArduinoApp({ payloadSize: buildSize, seed: 4242, flashSize: 16 * MB });
      const buildRequest = deviceRequests().esp8266DownloadRequest('/big.bin', {
        host: `127.0.0.1:${b.port}`,
        freeSpace: 2 * build.length,
        chipSize: 16 * MB,
      });
      await loopDelayWindow(b);
      writeFileSync(join(catalogB, '.big.tmp'), build);
      renameSync(join(catalogB, '.big.tmp'), join(catalogB, 'big.bin'));
      const big = await client.run(
        'fleet',
        { port: b.port, request: buildRequest, n: 1, rate: 0, readSize: 65536, timeoutMs: 30_000 },
        40_000,
      );
      await sleep(300);
      const buildW = await loopDelayWindow(b);
      const bigOk = big.devices[0].ok;
      phases.push({
        what: `a new ${sizeText(build.length)} build, hashed and analysed on its first download`,
        w: buildW,
        idle: idleB,
        work: bigOk ? `downloaded in ${ms(big.devices[0].end)}` : `FAILED: ${big.devices[0].error}`,
        failed: !bigOk,
      });
      log(`loop: new build ${fmt(buildW)}`);

      // Full-speed clients, split over two client processes (one alone cannot take in what the server sends). On two
      // cores they compete with the server for the CPU, so the same load is put on the plainest Node server too
      // (bench/lib/bareHttp.cjs, same preload): what any event loop gets here under it.
      const durationMs = quick ? 2000 : 3000;
      const fullSpeed = async (server) => {
        await sleep(500);
        await loopDelayWindow(server);
        const request = deviceDownload('/fw.bin', server.port);
        const parts = await Promise.all(
          [
            [client, Math.ceil(clients / 2)],
            [client2, Math.floor(clients / 2)],
          ].map(([cl, conns]) =>
            cl.run(
              'throughput',
              { port: server.port, request, conns, durationMs, expectLength: 4 * MB },
              durationMs + 60_000,
            ),
          ),
        );
        const w = await loopDelayWindow(server);
        const bytes = parts.reduce((sum, p) => sum + p.bytes, 0);
        const elapsed = Math.max(...parts.map((p) => p.elapsed));
        return { w, rate: (bytes / elapsed) * 1000, errors: parts.reduce((sum, p) => sum + p.errors, 0) };
      };
      const fast = await fullSpeed(b);
      const bare = await startOurServer({
        cli: join(import.meta.dirname, '../lib/bareHttp.cjs'),
        catalogDir: catalogB,
        logFile: join(dir, 'bareHttp.log'),
        loopFile: join(dir, 'loopBare.json'),
      });
      let peer;
      try {
        peer = await fullSpeed(bare);
      } finally {
        await bare.stop();
      }
      phases.push({
        what: `${clients} clients downloading a 4 MB image at full speed`,
        w: fast.w,
        peer: peer.w,
        work: `${mbps(fast.rate)}${fast.errors ? `, ${fast.errors} ERRORS` : ''}; node:http ${mbps(peer.rate)}`,
        failed: fast.errors > 0,
      });
      log(
        `loop: ${clients} fast clients ${fmt(fast.w)}, ${mbps(fast.rate)}; node:http ${fmt(peer.w)}, ${mbps(peer.rate)}`,
      );

      // Slow devices starting at the same moment; the window covers the start and the first seconds of reading.
      await sleep(1000);
      await loopDelayWindow(b);
      const fleet = startClient();
      try {
        const started = await fleet.run(
          'slowStart',
          { port: b.port, requests: [download], n: devices, rate: 40 * 1024, readSize: 4096, jitterMs: 0 },
          60_000,
        );
        await sleep(3000);
        const fleetW = await loopDelayWindow(b);
        const bg = await fleet.run('slowStop', {}, 10_000);
        phases.push({
          what: `${devices} devices starting a 4 MB download at once, read at 40 KB/s`,
          w: fleetW,
          idle: idleB,
          work: `${started.heads}/${devices} receiving after ${ms(started.waitedMs)}${bg.errors ? `, ${bg.errors} ERRORS: ${bg.firstError}` : ''}`,
          failed: started.heads < devices || bg.errors > 0,
        });
        log(`loop: ${devices} slow devices ${fmt(fleetW)}, all heads after ${ms(started.waitedMs)}`);
      } finally {
        await fleet.stop();
      }
      await b.stop();
      trace(b, [...phases.slice(3), { what: 'idle B (reference)', w: idleB }]);
    } finally {
      await client2.stop();
      await b.stop();
    }
  } finally {
    await client.stop();
    removeDir(dir);
  }
  if (traces.length) {
    const file = join(import.meta.dirname, '../results/loop-trace.txt');
    mkdirSync(join(import.meta.dirname, '../results'), { recursive: true });
    writeFileSync(file, `${traces.join('\n\n')}\n`);
    notes.push(`event loop: traced (ACBENCH_LOOP_TRACE): where each late turn went is in bench/results/loop-trace.txt`);
  }

  for (const p of phases) {
    const met = p.w.max < TARGET_MAX && p.w.p99 < TARGET_P99;
    rows.push([
      'event loop',
      p.what,
      `${fmt(p.w)}${own(p.w)}`,
      p.peer ? `node:http ${fmt(p.peer)}${own(p.peer)}` : p.idle ? `idle ${fmt(p.idle)}${own(p.idle)}` : (p.work ?? ''),
      p.peer || p.idle ? `p99 ${ratio(p.w.p99 / (p.peer ?? p.idle).p99, 1)}` : '',
      `max < ${TARGET_MAX} ms, p99 < ${TARGET_P99} ms`,
      p.failed ? 'ERRORS' : met ? 'MET' : 'MISSED',
    ]);
  }
  if (phases.some((p) => p.w.cpuMs !== undefined))
    notes.push(
      `event loop: "own" is the longest stretch of main-thread CPU between two 1 ms probe turns (schedstat), so a turn spent waiting for a core does not count; main-thread CPU / time waiting for a core per phase: ${phases.map((p) => `${p.what.split(',')[0]}: ${ms(p.w.cpuMs)} / ${ms(p.w.waitMs)}`).join('; ')}`,
    );
  notes.push(
    `event loop: delay of the server process's loop (monitorEventLoopDelay, 1 ms resolution, preloaded with node -r; an idle loop reads about 1.1 ms); per phase: ${phases.map((p) => `${p.what.split(',')[0]}: ${p.work ?? ''} (${(p.w.windowMs / 1000).toFixed(1)} s window, ${p.w.count} samples)`).join('; ')}`,
  );
  return { rows, notes };
}

/** The longest stretch of the main thread's own CPU between two probe turns (its waits for a core left out). */
function own(w) {
  return w.ownMaxMs === undefined ? '' : `, own ${ms(w.ownMaxMs)}`;
}

function fmt(w) {
  return `p50 ${ms(w.p50)} / p99 ${ms(w.p99)} / max ${ms(w.max)}`;
}
