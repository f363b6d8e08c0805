// Preloaded after loopDelayPreload.cjs when the loop part runs with ACBENCH_LOOP_TRACE=1: finds where each long
// stretch of the server's event loop comes from. For every window (the same SIGUSR2 windows as the delay figures) it
// writes, into the folder ACBENCH_LOOP_TRACE_DIR:
//   - window-<seq>.cpuprofile: a V8 CPU profile of the window (inspector, in-process, 250 µs sampling);
//   - window-<seq>.json: the late loop turns seen by a 1 ms probe timer, each with the main thread's own run time and
//     its run-queue wait from /proc/self/task/<pid>/schedstat (waiting for a core = the machine, not us), and the GC
//     pauses of the window (perf_hooks 'gc' entries).
// bench/lib/loopTrace.mjs puts them together. Tracing costs CPU itself (the probe, the sampler), so the delay
// figures of a traced run are for finding causes, not for the table.
//
// Every time here is in µs of CLOCK_MONOTONIC, the clock of process.hrtime and of V8's profile timestamps.

'use strict';

const { Session } = require('node:inspector');
const { setInterval } = require('node:timers');
const { PerformanceObserver, performance } = require('node:perf_hooks');
const { mkdirSync, writeFileSync } = require('node:fs');
const { mainThreadSchedstat } = require('./schedstat.cjs');
const { join } = require('node:path');

const dir = process.env.ACBENCH_LOOP_TRACE_DIR;
if (dir) {
  mkdirSync(dir, { recursive: true });
  const LATE_US = 4000; // a turn this much later than the probe's 1 ms is recorded
  const nowUs = () => Number(process.hrtime.bigint() / 1000n);
  // performance.now() (ms since timeOrigin) to the hrtime µs clock
  const perfOffsetUs = nowUs() - performance.now() * 1000;
  const readSchedstat = mainThreadSchedstat();
  const sched = () => {
    if (!readSchedstat) return { runUs: 0, waitUs: 0 }; // not Linux: run and wait read 0
    const { runNs, waitNs } = readSchedstat();
    return { runUs: runNs / 1000, waitUs: waitNs / 1000 };
  };

  let late = [];
  let gc = [];
  let last = nowUs();
  let lastSched = sched();
  const probe = setInterval(() => {
    const t = nowUs();
    const s = sched();
    if (t - last > LATE_US)
      late.push({
        startUs: last,
        endUs: t,
        runUs: Math.round(s.runUs - lastSched.runUs),
        waitUs: Math.round(s.waitUs - lastSched.waitUs),
      });
    last = t;
    lastSched = s;
  }, 1);
  probe.unref();

  new PerformanceObserver((list) => {
    for (const e of list.getEntries())
      gc.push({
        startUs: Math.round(perfOffsetUs + e.startTime * 1000),
        us: Math.round(e.duration * 1000),
        kind: e.detail?.kind,
      });
  }).observe({ entryTypes: ['gc'] });

  const session = new Session();
  session.connect();
  const post = (method, params) =>
    new Promise((resolve, reject) =>
      session.post(method, params, (error, result) => (error ? reject(error) : resolve(result))),
    );
  // Where the garbage comes from: allocation sampling that keeps objects the GC has collected since.
  const startAllocations = () =>
    post('HeapProfiler.startSampling', {
      samplingInterval: 16384,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    });
  let started = post('Profiler.enable')
    .then(() => post('Profiler.setSamplingInterval', { interval: 250 }))
    .then(() => post('Profiler.start'))
    .then(startAllocations)
    .then(() => {
      last = nowUs(); // the profiler's own start is not the server's work
      lastSched = sched();
    });

  let seq = 0;
  // Registered after loopDelayPreload's handler, so the delay figures are taken before this work.
  process.on('SIGUSR2', () => {
    const n = ++seq;
    const window = { seq: n, late, gc };
    late = [];
    gc = [];
    started = started
      .then(() => post('Profiler.stop'))
      .then(({ profile }) => {
        writeFileSync(join(dir, `window-${n}.cpuprofile`), JSON.stringify(profile));
        writeFileSync(join(dir, `window-${n}.json`), JSON.stringify(window));
        return post('HeapProfiler.stopSampling');
      })
      .then(({ profile }) => {
        writeFileSync(join(dir, `window-${n}.heapprofile`), JSON.stringify(profile));
        return post('Profiler.start');
      })
      .then(startAllocations)
      .then(() => {
        // the dump and the profiler's restart (it logs every code object) are not the server's work
        last = nowUs();
        lastSched = sched();
      });
  });
}
