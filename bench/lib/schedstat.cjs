// The main thread's own CPU time and its run-queue wait (waiting for a core: the machine, not us), from
// /proc/self/task/<pid>/schedstat. One open descriptor read in place: the loop probes call this every millisecond.
'use strict';

const { Buffer } = require('node:buffer');
const { openSync, readSync } = require('node:fs');

/** A reader of { runNs, waitNs } so far, or undefined where there is no schedstat (not Linux). */
function mainThreadSchedstat() {
  let fd;
  try {
    fd = openSync(`/proc/self/task/${process.pid}/schedstat`, 'r');
  } catch {
    return undefined;
  }
  const buffer = Buffer.alloc(128);
  return () => {
    const n = readSync(fd, buffer, 0, buffer.length, 0);
    const [run, wait] = buffer.toString('latin1', 0, n).split(' ');
    return { runNs: Number(run), waitNs: Number(wait) };
  };
}

module.exports = { mainThreadSchedstat };
