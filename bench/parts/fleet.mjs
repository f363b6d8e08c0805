// 1. Fleet: N simulated ESP8266 devices request the same image at the same moment and each reads it at ~40 KB/s.
// Figure: time until the last device has its last byte, over the time one device alone takes (same run). Memory:
// the server process's peak RSS during the run over its idle RSS (after start and one warm-up download).

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { tempDir, removeDir } from '../lib/cleanup.mjs';
import { startClient } from '../lib/clients.mjs';
import { startOurServer, memory, resetPeak, sampleMemory, logLines } from '../lib/servers.mjs';
import { deviceDownload, esp8266Image } from '../lib/support.mjs';
import { MB, mb, ratio, secs, sizeText } from '../lib/stats.mjs';

export async function fleet({ quick, log }) {
  const size = quick ? 256 * 1024 : 1024 * 1024;
  const rate = 40 * 1024;
  const counts = quick ? [1, 10, 100] : [1, 10, 100, 300];
  const dir = tempDir('fleet');
  const catalog = join(dir, 'catalog');
  mkdirSync(catalog);
  const image = esp8266Image(size, 7);
  writeFileSync(join(catalog, 'fleet.bin'), image);
  const idealMs = (image.length / rate) * 1000;
  const client = startClient();
  const runs = [];
  try {
    for (const n of counts) {
      const server = await startOurServer({ catalogDir: catalog, logFile: join(dir, `server-${n}.log`) });
      try {
        const request = deviceDownload('/fleet.bin', server.port);
        const warm = await client.run('latency', { port: server.port, request, count: 1, warmup: 0 }, 30_000);
        if (warm.errors) throw new Error(`warm-up download failed: ${warm.firstError}`);
        await sleep(500);
        const idle = memory(server.pid).rss;
        const peakReset = resetPeak(server.pid);
        const sampler = sampleMemory(server.pid, 50);
        log(`fleet: ${n} device(s) × ${sizeText(image.length)} at ${rate / 1024} KB/s (ideal ${secs(idealMs)})`);
        const r = await client.run(
          'fleet',
          { port: server.port, request, n, rate, readSize: 4096, timeoutMs: idealMs * 3 + 60_000 },
          idealMs * 3 + 90_000,
        );
        const mem = sampler.stop();
        const peak = Math.max(mem.maxRss, peakReset ? mem.hwm : 0);
        const ok = r.devices.filter((d) => d.ok).length;
        const firstError = r.devices.find((d) => !d.ok)?.error;
        const heads = r.devices.map((d) => d.head);
        const warnings = logLines(server.logFile).length;
        runs.push({
          n,
          tAll: r.tAll,
          ok,
          firstError,
          idle,
          peak,
          peakReset,
          lastHead: Math.max(...heads),
          warnings,
          kernelTcp: mem.maxKernelTcp,
        });
        log(
          `fleet: N=${n}: all done in ${secs(r.tAll)}, ${ok}/${n} ok, last response head after ${Math.max(...heads).toFixed(0)} ms, RSS idle ${mb(idle)} peak ${mb(peak)}`,
        );
      } finally {
        await server.stop();
      }
    }
  } finally {
    await client.stop();
    removeDir(dir);
  }

  const one = runs.find((r) => r.n === 1)?.tAll ?? NaN;
  const rows = [];
  const targets = { 100: 1.2, 300: 1.5 };
  for (const r of runs) {
    const k = r.tAll / one;
    const target = targets[r.n];
    const okText = r.ok === r.n ? '' : ` — ${r.n - r.ok} FAILED: ${r.firstError}`;
    rows.push([
      'fleet',
      `N=${r.n} × ${sizeText(image.length)} @40 KB/s, all done`,
      `${secs(r.tAll)} (${r.ok}/${r.n} ok)${okText}`,
      r.n === 1 ? `ideal ${secs(idealMs)}` : `N=1: ${secs(one)}`,
      r.n === 1 ? '1.00×' : ratio(k, 3),
      target ? `≤ ${target}×` : '',
      target ? (k <= target && r.ok === r.n ? 'MET' : 'MISSED') : r.ok === r.n ? '' : 'ERRORS',
    ]);
  }
  for (const r of runs) {
    const over = r.peak - r.idle;
    const target = r.n === 300 ? 64 * MB : undefined;
    rows.push([
      'fleet RSS',
      `N=${r.n}: server peak RSS${r.peakReset ? '' : ' (sampled)'}`,
      mb(r.peak),
      `idle ${mb(r.idle)}`,
      `+${mb(over)}`,
      target ? '< idle + 64 MB' : '',
      target ? (over < target ? 'MET' : 'MISSED') : '',
    ]);
  }
  const notes = [];
  notes.push(
    `fleet: kernel TCP buffer memory at its peak (whole machine, /proc/net/sockstat): ${runs.map((r) => `N=${r.n} ${mb(r.kernelTcp)}`).join(', ')} — on loopback the kernel takes in most of each ${sizeText(image.length)} response at once, so the server's own buffers stay small either way (see bench/README.md)`,
  );
  for (const r of runs) if (r.warnings) notes.push(`fleet N=${r.n}: the server logged ${r.warnings} warning line(s)`);
  return { rows, notes, raw: runs };
}
