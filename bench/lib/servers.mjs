// The server under test as its own process (the CLI, dist/cli.js), plus /proc readings of its memory and CPU.

import { spawn, execFileSync } from 'node:child_process';
import { openSync, closeSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { join } from 'node:path';
import { ROOT } from './support.mjs';
import { track, stopChild } from './cleanup.mjs';

/** A free TCP port on 127.0.0.1 (for servers that cannot take port 0). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Resolves once something accepts connections on the port, rejects after timeoutMs. */
export async function waitForPort(port, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise((resolve) => {
      const s = connect({ port, host: '127.0.0.1' });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Environment for the server: ours, minus PlatformIO overrides that would move build folders. */
function serverEnv() {
  const env = { ...process.env };
  for (const key of Object.keys(env)) if (key.startsWith('PLATFORMIO_')) delete env[key];
  return env;
}

/**
 * Starts `node dist/cli.js -p 0 -b 127.0.0.1 -d CATALOG [--watch DIR] -l WARNING`; resolves when it printed
 * `listening on HOST:PORT`. Its stderr (the log) goes to `logFile`. With `loopFile`, the process runs with
 * bench/lib/loopDelayPreload.cjs preloaded (`node -r`), which writes its event-loop delay there on SIGUSR2.
 */
export async function startOurServer({
  catalogDir,
  watch = [],
  logFile,
  loopFile,
  cli = process.env.ACBENCH_CLI ?? join(ROOT, 'dist/cli.js'), // ACBENCH_CLI: another build, for before/after runs
  startTimeoutMs = 60_000,
}) {
  const args = [cli, '-p', '0', '-b', '127.0.0.1', '-d', catalogDir, '-l', 'WARNING'];
  for (const dir of watch) args.push('--watch', dir);
  const env = serverEnv();
  if (loopFile) {
    rmSync(loopFile, { force: true }); // a previous server's figures
    args.unshift('-r', join(ROOT, 'bench/lib/loopDelayPreload.cjs'));
    env.ACBENCH_LOOP_FILE = loopFile;
    if (process.env.ACBENCH_LOOP_TRACE) {
      // where each late turn comes from (bench/lib/loopTracePreload.cjs); read with bench/lib/loopTrace.mjs
      args.splice(2, 0, '-r', join(ROOT, 'bench/lib/loopTracePreload.cjs'));
      env.ACBENCH_LOOP_TRACE_DIR = `${loopFile}.trace`;
    }
  }
  // ACBENCH_CPU_PROF=DIR: a V8 CPU profile of each server process, written into DIR when it exits.
  if (process.env.ACBENCH_CPU_PROF) args.unshift('--cpu-prof', `--cpu-prof-dir=${process.env.ACBENCH_CPU_PROF}`);
  const logFd = openSync(logFile, 'a');
  const child = track(spawn(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', logFd] }));
  closeSync(logFd);
  let out = '';
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`server did not start within ${startTimeoutMs} ms; log: ${tail(logFile)}`)),
      startTimeoutMs,
    );
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const m = /listening on ([\d.]+):(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[2]));
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`server exited (${code ?? signal}) before listening; log: ${tail(logFile)}`));
    });
  });
  child.stdout.resume();
  return {
    port,
    pid: child.pid,
    child,
    logFile,
    loopFile,
    stop: () => stopChild(child, 5000),
  };
}

/**
 * Ends the server's current event-loop delay window (SIGUSR2 to a server started with `loopFile`) and resolves with
 * its figures in ms: { seq, windowMs, count, p50, p99, max, mean }.
 */
export async function loopDelayWindow(server, timeoutMs = 10_000) {
  const previous = readLoopFile(server.loopFile)?.seq ?? 0;
  process.kill(server.pid, 'SIGUSR2');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const snapshot = readLoopFile(server.loopFile);
    if (snapshot && snapshot.seq > previous) return snapshot;
    if (Date.now() > deadline) throw new Error(`server ${server.pid} wrote no event-loop figures in ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function readLoopFile(file) {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

export function tail(file, lines = 10) {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

export function logLines(file) {
  try {
    const text = readFileSync(file, 'utf8');
    return text ? text.trimEnd().split('\n') : [];
  } catch {
    return [];
  }
}

/** { rss, hwm } in bytes from /proc/<pid>/status, or undefined when the process is gone. */
export function memory(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (name) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
    return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
  } catch {
    return undefined;
  }
}

/** Resets VmHWM to the current RSS (writing 5 to clear_refs); false when not permitted. */
export function resetPeak(pid) {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

let clockTicks;
/** CPU time (user + system) of a process in ms, from /proc/<pid>/stat. */
export function cpuMs(pid) {
  clockTicks ??= Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / clockTicks;
  } catch {
    return NaN;
  }
}

/** Bytes of TCP socket buffers the kernel holds right now (all sockets of the machine), from /proc/net/sockstat. */
export function kernelTcpBytes() {
  try {
    const pages = Number(/^TCP:.* mem (\d+)/m.exec(readFileSync('/proc/net/sockstat', 'utf8'))?.[1] ?? NaN);
    return pages * 4096;
  } catch {
    return NaN;
  }
}

/**
 * Samples a process's RSS (and the kernel's TCP buffer memory) every `everyMs` until stopped;
 * returns { stop() → { maxRss, hwm, maxKernelTcp, samples } }.
 */
export function sampleMemory(pid, everyMs = 100) {
  let maxRss = 0;
  let maxKernelTcp = 0;
  let samples = 0;
  const sample = () => {
    const m = memory(pid);
    if (m) {
      samples++;
      maxRss = Math.max(maxRss, m.rss);
    }
    const k = kernelTcpBytes();
    if (Number.isFinite(k)) maxKernelTcp = Math.max(maxKernelTcp, k);
    return m;
  };
  const timer = setInterval(sample, everyMs);
  return {
    stop() {
      clearInterval(timer);
      const m = sample();
      return { maxRss, hwm: m?.hwm ?? NaN, maxKernelTcp, samples };
    },
  };
}
