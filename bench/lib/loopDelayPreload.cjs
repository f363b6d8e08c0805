// Preloaded into the server under test (`node -r ./bench/lib/loopDelayPreload.cjs dist/cli.js …`): samples the
// process's own event-loop delay with perf_hooks.monitorEventLoopDelay at 1 ms resolution. On SIGUSR2 it writes what
// it saw since the previous signal (or since start) to the file named in ACBENCH_LOOP_FILE, as one JSON object with a
// sequence number, and starts a new window. The handler runs on the loop, so a window includes any block that
// delayed the signal.
//
// CommonJS and `-r` rather than `--import`: the CLI's bundle then runs in the same turn as this file, so the first
// setImmediate below comes after it and the first window starts with the server's own work. Loading the bundle is
// reported apart (loadMs): it is the same for any program and not work the server does.

//
// On a shared machine most of a late turn can be time the main thread spent waiting for a core, which no code of ours
// can shorten. So a 1 ms probe also reads the main thread's run time and run-queue wait
// (/proc/self/task/<pid>/schedstat, Linux) and gives, per window, the longest "own" stretch: the most CPU the main
// thread used between two probe turns (ownMaxMs), the thread's CPU in all (cpuMs) and its time waiting for a core
// (waitMs).

'use strict';

const { monitorEventLoopDelay, performance } = require('node:perf_hooks');
const { renameSync, writeFileSync } = require('node:fs');
const { mainThreadSchedstat } = require('./schedstat.cjs');
const { setInterval } = require('node:timers');

const file = process.env.ACBENCH_LOOP_FILE;
if (file) {
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  const preloaded = performance.now();
  let loadMs;
  let seq = 0;
  let since = preloaded;
  const readSchedstat = mainThreadSchedstat(); // undefined where there is none: no own-CPU figures
  const sched = () => {
    const { runNs, waitNs } = readSchedstat();
    return [runNs / 1e6, waitNs / 1e6]; // ms
  };
  let ownMax = 0;
  let windowStart;
  let lastRun = 0;
  const startOwn = () => {
    if (!readSchedstat) return;
    windowStart = sched();
    lastRun = windowStart[0];
    ownMax = 0;
  };
  setImmediate(() => {
    since = performance.now();
    loadMs = since - preloaded;
    histogram.enable();
    if (!readSchedstat) return;
    startOwn();
    setInterval(() => {
      const [run] = sched();
      ownMax = Math.max(ownMax, run - lastRun);
      lastRun = run;
    }, 1).unref();
  });
  process.on('SIGUSR2', () => {
    const now = performance.now();
    const ms = (ns) => ns / 1e6;
    const snapshot = {
      seq: ++seq,
      windowMs: now - since,
      count: histogram.count,
      p50: ms(histogram.percentile(50)),
      p99: ms(histogram.percentile(99)),
      max: ms(histogram.max),
      mean: ms(histogram.mean),
      ...(seq === 1 ? { loadMs } : {}),
    };
    if (readSchedstat && windowStart) {
      const [run, wait] = sched();
      Object.assign(snapshot, {
        ownMaxMs: Math.max(ownMax, run - lastRun),
        cpuMs: run - windowStart[0],
        waitMs: wait - windowStart[1],
      });
      startOwn();
    }
    histogram.reset();
    since = now;
    writeFileSync(`${file}.tmp`, JSON.stringify(snapshot));
    renameSync(`${file}.tmp`, file);
  });
}
