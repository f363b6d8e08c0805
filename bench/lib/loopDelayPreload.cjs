// Preloaded into the server under test (`node -r ./bench/lib/loopDelayPreload.cjs dist/cli.js …`): samples the
// process's own event-loop delay with perf_hooks.monitorEventLoopDelay at 1 ms resolution. On SIGUSR2 it writes what
// it saw since the previous signal (or since start) to the file named in ACBENCH_LOOP_FILE, as one JSON object with a
// sequence number, and starts a new window. The handler runs on the loop, so a window includes any block that
// delayed the signal.
//
// CommonJS and `-r` rather than `--import`: the CLI's bundle then runs in the same turn as this file, so the first
// setImmediate below comes after it and the first window starts with the server's own work. Loading the bundle is
// reported apart (loadMs): it is the same for any program and not work the server does.

'use strict';

const { monitorEventLoopDelay, performance } = require('node:perf_hooks');
const { renameSync, writeFileSync } = require('node:fs');

const file = process.env.ACBENCH_LOOP_FILE;
if (file) {
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  const preloaded = performance.now();
  let loadMs;
  let seq = 0;
  let since = preloaded;
  setImmediate(() => {
    since = performance.now();
    loadMs = since - preloaded;
    histogram.enable();
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
    histogram.reset();
    since = now;
    writeFileSync(`${file}.tmp`, JSON.stringify(snapshot));
    renameSync(`${file}.tmp`, file);
  });
}
