// The load generator, always a child process of its own (forked by bench/lib/clients.mjs), so that neither the
// server under test nor the orchestrator shares an event loop with the clients. Jobs arrive over IPC; each answers
// with one message. The worker exits when its parent goes away.

import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { httpExchange } from './device.mjs';
import { esp8266Image } from './support.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const jobs = {
  /** N devices start at once, each reading at `rate` B/s; times relative to the common start. */
  async fleet({ port, request, n, rate, readSize, timeoutMs }) {
    const t0 = performance.now();
    const results = await Promise.all(
      Array.from({ length: n }, () => httpExchange({ port, request, rate, readSize, hash: true, timeoutMs })),
    );
    const tAll = performance.now() - t0;
    return {
      tAll,
      devices: results.map((r) => ({
        ok: r.ok && r.status === 200 && r.md5 !== undefined && r.md5 === r.headers.get('x-md5'),
        status: r.status,
        error:
          r.error ??
          (r.ok && r.md5 !== r.headers.get('x-md5')
            ? `body md5 ${r.md5} != x-MD5 ${r.headers.get('x-md5')}`
            : undefined),
        bytes: r.bodyBytes,
        head: r.tHead - t0,
        end: r.tEnd - t0,
        single: r.tEnd - r.tStart,
      })),
    };
  },

  /** `conns` clients each download in a loop at full speed for `durationMs`; bytes counted as they arrive. */
  async throughput({ port, request, conns, durationMs, expectLength }) {
    const buffer = Buffer.allocUnsafe(256 * 1024); // shared: chunks are consumed synchronously
    let bytes = 0;
    let complete = 0;
    const errors = [];
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const deadline = t0 + durationMs;
    const loop = async () => {
      while (performance.now() < deadline) {
        const r = await httpExchange({
          port,
          request,
          buffer,
          deadline,
          timeoutMs: durationMs + 10_000,
          onBytes: (n) => {
            bytes += n;
          },
        });
        if (r.cut) break;
        if (r.ok && r.status === 200 && r.contentLength === expectLength) complete++;
        else if (errors.length < 5)
          errors.push(r.error ?? `status ${r.status}, ${r.bodyBytes}/${r.contentLength} bytes`);
        else errors.push('');
      }
    };
    await Promise.all(Array.from({ length: conns }, loop));
    const elapsed = Math.max(durationMs, performance.now() - t0);
    const cpu = process.cpuUsage(cpu0);
    return {
      bytes,
      complete,
      errors: errors.length,
      firstErrors: errors.filter(Boolean).slice(0, 3),
      elapsed,
      clientCpuMs: (cpu.user + cpu.system) / 1000,
    };
  },

  /** `count` requests one after the other, each on a new connection; latency from connect to the last body byte. */
  async latency({ port, request, count, warmup = 10, gapMs = 0 }) {
    const samples = [];
    let errors = 0;
    let firstError;
    let length = 0;
    for (let i = 0; i < warmup + count; i++) {
      const r = await httpExchange({ port, request, timeoutMs: 10_000 });
      if (!r.ok || r.status !== 200) {
        errors++;
        firstError ??= r.error ?? `status ${r.status}`;
        continue;
      }
      length = r.bodyBytes;
      if (i >= warmup) samples.push(r.tEnd - r.tStart);
      if (gapMs) await sleep(gapMs);
    }
    return { samples, errors, firstError, length };
  },

  /**
   * Changes the catalog folder (adds, then removes, a new image) and requests the catalog at once, `reps` times.
   * Latency from the end of the file operation to the last body byte; `fresh` counts replies that show the change.
   */
  async changeLatency({ port, request, catalogDir, reps, gapMs, imageSize }) {
    const samples = [];
    let fresh = 0;
    let errors = 0;
    const name = 'bench-change.bin';
    const file = join(catalogDir, name);
    for (let i = 0; i < reps; i++) {
      const adding = i % 2 === 0;
      if (adding) await fs.writeFile(file, esp8266Image(imageSize, 100_000 + i));
      else await fs.rm(file, { force: true });
      const r = await httpExchange({ port, request, keepBody: true, timeoutMs: 10_000 });
      if (!r.ok || r.status !== 200) errors++;
      else {
        samples.push(r.tEnd - r.tStart + 0); // connect → last byte, issued right after the change
        if (r.body.includes(`"${name}"`) === adding) fresh++;
      }
      await sleep(gapMs);
    }
    await fs.rm(file, { force: true });
    return { samples, fresh, errors };
  },

  /**
   * changeLatency against two servers at once (the build under test and a previous build, each with a catalog of
   * its own), taking turns change by change and swapping who goes first, so both meet the same moments of machine
   * load. Returns the samples of each.
   */
  async changeLatencyPair({ servers, reps, gapMs, imageSize }) {
    const results = servers.map(() => ({ samples: [], fresh: 0, errors: 0 }));
    const name = 'bench-change.bin';
    for (let i = 0; i < reps; i++) {
      const adding = i % 2 === 0;
      const image = adding ? esp8266Image(imageSize, 100_000 + i) : undefined;
      const order = i % 4 < 2 ? [0, 1] : [1, 0];
      for (const k of order) {
        const { port, request, catalogDir } = servers[k];
        const file = join(catalogDir, name);
        if (adding) await fs.writeFile(file, image);
        else await fs.rm(file, { force: true });
        const r = await httpExchange({ port, request, keepBody: true, timeoutMs: 10_000 });
        if (!r.ok || r.status !== 200) results[k].errors++;
        else {
          results[k].samples.push(r.tEnd - r.tStart + 0);
          if (r.body.includes(`"${name}"`) === adding) results[k].fresh++;
        }
        await sleep(gapMs / 2);
      }
    }
    for (const { catalogDir } of servers) await fs.rm(join(catalogDir, name), { force: true });
    return results;
  },
};

/** Background slow devices: each loops downloading at `rate` until told to stop. */
let background;
jobs.slowStart = async ({ port, requests, n, rate, readSize, jitterMs = 0, headsTimeoutMs = 30_000 }) => {
  const state = { running: true, completed: 0, errors: 0, firstError: undefined, bytes: 0, heads: 0 };
  let headsSeen;
  const allHeads = new Promise((resolve) => {
    headsSeen = resolve;
  });
  const device = async (i) => {
    let first = true;
    if (jitterMs) await sleep(Math.random() * jitterMs); // spread the starts: a steady stream, not one burst
    while (state.running) {
      const r = await httpExchange({
        port,
        request: requests[i % requests.length],
        rate,
        readSize,
        timeoutMs: 120_000,
        onBytes: (bytes) => {
          state.bytes += bytes;
          if (first) {
            first = false;
            if (++state.heads === n) headsSeen();
          }
        },
      });
      if (!state.running) break;
      if (r.ok && r.status === 200) state.completed++;
      else {
        state.errors++;
        state.firstError ??= r.error ?? `status ${r.status}`;
        await sleep(100);
      }
    }
  };
  state.done = Promise.all(Array.from({ length: n }, (_, i) => device(i)));
  background = { state, sockets: n };
  const t0 = performance.now();
  await Promise.race([allHeads, sleep(headsTimeoutMs)]);
  return { heads: state.heads, waitedMs: performance.now() - t0 };
};
jobs.slowStop = async () => {
  if (!background) return { completed: 0, errors: 0, bytes: 0 };
  const { state } = background;
  state.running = false;
  background = undefined;
  // In-flight downloads end with the process (or their own timeout); report what finished.
  return { completed: state.completed, errors: state.errors, firstError: state.firstError, bytes: state.bytes };
};

process.on('message', async ({ id, job, args }) => {
  try {
    const result = await jobs[job](args);
    process.send({ id, result });
  } catch (error) {
    process.send({ id, error: error?.stack ?? String(error) });
  }
});
process.on('disconnect', () => process.exit(0));
