// 8. The device inventory (issue 10's targets):
//  - a fleet of polling boards (ESP8266 requests every 2 s) on one build, then a new build: time until every board
//    has downloaded it and reported it back (confirmed), against the poll interval; 304s counted against file reads
//    (the server runs in this process here, so its ImageStore's read count is visible);
//  - the CLI's CPU while 300 boards poll every 2 s (from /proc, against the wall time);
//  - the state file of 1000 boards with 20 updates each: its size, and its load time against a bare JSON.parse of it.

import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { tempDir, removeDir } from '../lib/cleanup.mjs';
import { httpExchange } from '../lib/device.mjs';
import { cpuMs, startOurServer } from '../lib/servers.mjs';
import { ROOT, deviceRequests, esp8266Image, FREE_SPACE } from '../lib/support.mjs';
import { median, ms, ratio } from '../lib/stats.mjs';

const require = createRequire(import.meta.url);
const md5 = (b) => createHash('md5').update(b).digest('hex');
const POLL_MS = 2000;

function poll(port, mac, running) {
  const request = deviceRequests().esp8266DownloadRequest('/blinky-d1_mini.bin', {
    host: `127.0.0.1:${port}`,
    staMac: mac,
    sketchMd5: running,
    freeSpace: FREE_SPACE,
  });
  return httpExchange({ port, request, hash: true, timeoutMs: 10_000 });
}

const macOf = (i) =>
  `18:FE:34:${[i >> 16, i >> 8, i].map((n) => (n & 0xff).toString(16).padStart(2, '0').toUpperCase()).join(':')}`;

async function fleet({ quick, log }) {
  const { UpdateServer } = require(join(ROOT, 'out/src/core/updateServer.js'));
  const { DeviceInventory, defaultStateFile } = require(join(ROOT, 'out/src/core/devices/deviceInventory.js'));
  const { KnownImages } = require(join(ROOT, 'out/src/core/devices/knownImages.js'));
  const dir = tempDir('inventory');
  const catalog = join(dir, 'catalog');
  mkdirSync(catalog);
  const build1 = esp8266Image(400 * 1024, 9001);
  const build2 = esp8266Image(400 * 1024, 9002);
  writeFileSync(join(catalog, 'blinky-d1_mini.bin'), build1);
  const knownImages = new KnownImages();
  const inventory = new DeviceInventory({ logger: silent, knownImages });
  await inventory.open(defaultStateFile(catalog));
  const server = await UpdateServer.start({
    catalogDir: catalog,
    port: 0,
    host: '127.0.0.1',
    knownImages,
    isHeld: inventory.isHeld,
  });
  inventory.follow(server);
  const count = quick ? 20 : 50;
  const running = Array.from({ length: count }, () => md5(build1));
  const confirmedAt = new Array(count).fill(NaN);
  let published = NaN;
  let stop = false;
  let polls = 0;
  let notModified = 0;
  const loops = running.map(async (_, i) => {
    await sleep((POLL_MS * i) / count); // spread like boards started at different times
    while (!stop) {
      const r = await poll(server.port, macOf(i), running[i]);
      polls++;
      if (r.status === 304) {
        notModified++;
        if (running[i] === md5(build2) && Number.isNaN(confirmedAt[i])) confirmedAt[i] = performance.now();
      }
      if (r.status === 200 && r.ok && r.md5 === r.headers.get('x-md5'))
        running[i] = r.md5; // flashed, rebooted
      else await sleep(POLL_MS);
    }
  });
  await sleep(POLL_MS * 2);
  const readsBefore = server.catalog.images.fileReads;
  const notModifiedBefore = notModified;
  await sleep(POLL_MS * 2);
  const readsOn304 = server.catalog.images.fileReads - readsBefore;
  const polls304 = notModified - notModifiedBefore;
  writeFileSync(join(catalog, '.tmp-build'), build2);
  const { renameSync } = await import('node:fs');
  renameSync(join(catalog, '.tmp-build'), join(catalog, 'blinky-d1_mini.bin'));
  published = performance.now();
  const deadline = published + 30_000;
  while (confirmedAt.some((t) => Number.isNaN(t)) && performance.now() < deadline) await sleep(50);
  stop = true;
  await Promise.all(loops);
  await server.stop();
  await inventory.close();
  const { parseDeviceState } = require(join(ROOT, 'out/src/core/devices/deviceState.js'));
  const parsed = parseDeviceState(readFileSync(defaultStateFile(catalog), 'utf8'));
  if (!parsed.ok) throw new Error(`state file not readable: ${parsed.reason}`);
  const { doc } = parsed;
  const confirmedInFile = doc.devices.filter((d) =>
    d.updates.some((u) => u.outcome === 'confirmed' && u.md5 === md5(build2)),
  ).length;
  removeDir(dir);
  const last = Math.max(...confirmedAt) - published;
  const done = confirmedAt.filter((t) => !Number.isNaN(t)).length;
  log(`inventory: ${done}/${count} confirmed, last ${ms(last)} after the build; ${polls} polls`);
  return {
    rows: [
      [
        'inventory',
        `${count} boards polling every ${POLL_MS / 1000} s, new build → all confirmed`,
        `${done}/${count} in ${ms(last)} (state file: ${confirmedInFile} confirmed)`,
        `poll interval + 1 s = ${ms(POLL_MS + 1000)}`,
        ratio(last / (POLL_MS + 1000)),
        'within poll + 1 s',
        done === count && confirmedInFile === count && last <= POLL_MS + 1000 ? 'MET' : 'MISSED',
      ],
      [
        'inventory',
        '304 answers vs file reads while polling',
        `${polls304} × 304, ${readsOn304} file read(s)`,
        'one read per 304 (a server that reads to compare)',
        ratio(readsOn304 / Math.max(1, polls304)),
        'no read per 304',
        readsOn304 === 0 && polls304 > 0 ? 'MET' : 'MISSED',
      ],
    ],
    notes: [],
  };
}

/**
 * A fleet of `count` boards polling one server every POLL_MS (each with its own MAC, all running `build`): it runs
 * from start() until stop() resolves, the boards spread over the poll interval like boards started at other times.
 */
function pollingFleet({ server, count, build, macBase }) {
  let running = false;
  let loops = [];
  const statuses = new Map();
  return {
    statuses,
    start() {
      running = true;
      loops = Array.from({ length: count }, async (_, i) => {
        await sleep((POLL_MS * i) / count);
        while (running) {
          const r = await poll(server.port, macOf(i + macBase), md5(build));
          statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
          await sleep(POLL_MS);
        }
      });
    },
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}

/** CPU share of a process (all its threads) over `lengthMs`, from /proc. */
async function cpuShare(pid, lengthMs) {
  const c0 = cpuMs(pid);
  const t0 = performance.now();
  await sleep(lengthMs);
  return (cpuMs(pid) - c0) / (performance.now() - t0);
}

/**
 * CPU of our server and of the bare 304 server while `count` boards poll each every 2 s. Both servers run the whole
 * time; their fleets take turns, so that each steady figure is a median over turns spread across the same minutes
 * (on a shared machine the same process reads 30 % apart from one minute to the next). The first turn of each is
 * longer: its first 12 s show V8 still compiling the request path (at 150 requests a second it keeps optimising for
 * about 15 s), and it goes on until the process is warm.
 */
async function cpu({ quick, log }) {
  const dir = tempDir('inventory-cpu');
  const catalog = join(dir, 'catalog');
  mkdirSync(catalog);
  const build = esp8266Image(400 * 1024, 9003);
  writeFileSync(join(catalog, 'blinky-d1_mini.bin'), build);
  const count = quick ? 100 : 300;
  const windowMs = quick ? 6000 : 12_000;
  const settleMs = 4000; // a fleet that starts again: every board has asked once before the window opens
  const warmMs = quick ? 16_000 : 30_000;
  const turns = quick ? 2 : 4;
  const ours = await startOurServer({ catalogDir: catalog, logFile: join(dir, 'server.log') });
  const bare = await startBare304(join(dir, 'bare.log'));
  const fleets = {
    ours: pollingFleet({ server: ours, count, build, macBase: 1000 }),
    bare: pollingFleet({ server: bare, count, build, macBase: 1000 }),
  };
  const servers = { ours, bare };
  const first = {};
  const steady = { ours: [], bare: [] };
  try {
    for (let turn = 0; turn < turns; turn++) {
      for (const name of ['ours', 'bare']) {
        const fleet = fleets[name];
        const pid = servers[name].pid;
        const started = performance.now();
        fleet.start();
        await sleep(settleMs);
        const share = await cpuShare(pid, windowMs);
        if (turn === 0) {
          first[name] = share;
          await sleep(Math.max(0, started + warmMs - performance.now()));
        } else steady[name].push(share);
        await fleet.stop();
      }
    }
  } finally {
    await Promise.all(Object.values(fleets).map((f) => f.stop()));
    await ours.stop();
    await bare.stop();
  }
  removeDir(dir);
  const pct = (share) => `${(share * 100).toFixed(1)} %`;
  const range = (shares) => {
    const sorted = [...shares].sort((a, b) => a - b);
    return sorted.length > 1 ? `${pct(sorted[0])}–${pct(sorted.at(-1))}` : pct(sorted[0]);
  };
  const oursSteady = median(steady.ours);
  const bareSteady = median(steady.bare);
  const ratios = steady.ours.map((share, i) => share / steady.bare[i]);
  log(
    `inventory: ${count} polling boards: server CPU ${pct(first.ours)} of a core in the first ${windowMs / 1000} s, steady ${steady.ours.map(pct).join(', ')}; bare 304 server ${steady.bare.map(pct).join(', ')}`,
  );
  const label = `server CPU while ${count} boards poll every ${POLL_MS / 1000} s (304s)`;
  return {
    rows: [
      [
        'inventory',
        `${label}, first ${windowMs / 1000} s`,
        `${pct(first.ours)} of a core`,
        `bare 304 server ${pct(first.bare)}`,
        ratio(first.ours / first.bare),
        '',
        '',
      ],
      [
        'inventory',
        `${label}, steady (median of ${steady.ours.length} turns)`,
        `${pct(oursSteady)} of a core (${range(steady.ours)})`,
        `bare 304 server ${pct(bareSteady)} (${range(steady.bare)})`,
        ratio(median(ratios)),
        '< 5 %',
        oursSteady < 0.05 ? 'MET' : 'MISSED',
      ],
    ],
    notes: [
      `inventory: statuses ${[...fleets.ours.statuses].map(([s, n]) => `${s}×${n}`).join(', ')} (bare 304 server: ${[...fleets.bare.statuses].map(([s, n]) => `${s}×${n}`).join(', ')})`,
      `inventory: the bare 304 server (bench/lib/bare304.cjs) accepts, reads the head, answers 304 and closes: the floor of any Node server for the same polls. Both servers run throughout; their fleets take turns (${windowMs / 1000} s windows, ${settleMs / 1000} s after a fleet starts), ratio = median of the turns' ours/bare`,
    ],
  };
}

/** bench/lib/bare304.cjs in a process of its own, with the same handle as startOurServer's. */
async function startBare304(logFile) {
  return startOurServer({ cli: join(ROOT, 'bench/lib/bare304.cjs'), catalogDir: '.', logFile });
}

async function stateFile({ log }) {
  const { DeviceInventory } = require(join(ROOT, 'out/src/core/devices/deviceInventory.js'));
  const dir = tempDir('inventory-state');
  const file = join(dir, '.autoconnect-devices.json');
  const now = Date.now();
  const iso = (t) => new Date(Math.floor(t / 1000) * 1000).toISOString().replace('.000Z', 'Z');
  const hex = (n) => md5(Buffer.from(String(n)));
  const outcomes = ['confirmed', 'not-modified', 'refused', 'rolled-back', 'aborted'];
  const devices = Array.from({ length: 1000 }, (_, i) => ({
    mac: macOf(i),
    name: i % 3 === 0 ? `shelf ${i}` : undefined,
    family: 'esp8266',
    chip: 'esp8266',
    address: `192.168.${i >> 8}.${i & 0xff}`,
    firstSeen: iso(now - 86_400_000),
    lastSeen: iso(now - i * 1000),
    chipSize: 4194304,
    freeSpace: 1044480,
    sdkVersion: '2.2.2-dev(38a443e)',
    running: {
      md5: hex(i % 40),
      image: 'blinky-d1_mini.bin',
      project: 'blinky',
      environment: 'd1_mini',
      builtAt: iso(now - 3_600_000),
    },
    updates: Array.from({ length: 20 }, (_, j) => {
      const outcome = outcomes[j % outcomes.length];
      const update = { image: 'blinky-d1_mini.bin', md5: hex(j), at: iso(now - j * 60_000), outcome };
      if (outcome === 'refused')
        Object.assign(update, {
          status: 403,
          reason: 'blinky-d1_mini.bin: image is 1.2 MB, the device has 1020 KB free for it',
        });
      if (outcome === 'aborted') update.reason = 'connection reset by the device';
      if (outcome === 'rolled-back') update.reason = 'the device still runs the build it had before the update';
      if (outcome === 'not-modified') update.count = 40;
      return update;
    }),
  }));
  const builds = Array.from({ length: 40 }, (_, i) => ({
    md5: hex(i),
    image: 'blinky-d1_mini.bin',
    project: 'blinky',
    environment: 'd1_mini',
    builtAt: iso(now - i * 3_600_000),
    seenAt: iso(now - i * 3_600_000),
    size: 409600,
  }));
  // Written by the inventory itself (its format), from the records restored above.
  const writer = new DeviceInventory({ logger: silent });
  await writer.open(file);
  writer.registry.restore(devices);
  writer.builds.restore(builds);
  writer.registry.rename(devices[0].mac, 'shelf zero'); // a change, so it is written
  await writer.saveNow();
  writer.dispose();
  const bytes = statSync(file).size;
  const loads = [];
  const parses = [];
  for (let i = 0; i < 10; i++) {
    const t0 = performance.now();
    const reader = new DeviceInventory({ logger: silent });
    await reader.open(file);
    loads.push(performance.now() - t0);
    if (reader.registry.list().length !== 1000) throw new Error('state file did not load whole');
    reader.dispose();
    const t1 = performance.now();
    JSON.parse(readFileSync(file, 'utf8'));
    parses.push(performance.now() - t1);
  }
  removeDir(dir);
  const load = median(loads);
  log(`inventory: state file ${(bytes / 1048576).toFixed(2)} MB, loads in ${ms(load)}`);
  return {
    rows: [
      [
        'inventory',
        'state file, 1000 boards × 20 updates: load (read, check, restore)',
        `median ${ms(load)}`,
        `bare JSON.parse ${ms(median(parses))}`,
        ratio(load / median(parses)),
        '< 100 ms',
        load < 100 ? 'MET' : 'MISSED',
      ],
      [
        'inventory',
        'state file, 1000 boards × 20 updates: size',
        `${(bytes / 1048576).toFixed(2)} MB (${bytes} bytes)`,
        '2 MB',
        ratio(bytes / (2 * 1048576)),
        '< 2 MB',
        bytes < 2 * 1048576 ? 'MET' : 'MISSED',
      ],
    ],
    notes: [],
  };
}

const silent = { trace() {}, debug() {}, info() {}, warn() {}, error() {} };

export async function inventory(options) {
  const parts = [await stateFile(options), await fleet(options), await cpu(options)];
  return { rows: parts.flatMap((p) => p.rows), notes: parts.flatMap((p) => p.notes) };
}
