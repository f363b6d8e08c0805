// Everything the bench starts or creates is registered here and undone on every way out: normal end, an exception,
// Ctrl+C (SIGINT), SIGTERM, SIGHUP. Processes are ended by their own pid only (SIGTERM, then SIGKILL after a grace
// period); temp dirs are removed synchronously so that even `process.exit` inside a signal handler leaves nothing.

import { rmSync, mkdtempSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const children = new Set(); // ChildProcess
const dirs = new Set();
let installed = false;

function killNow(child, signal) {
  if (child.exitCode !== null || child.signalCode !== null || !child.pid) return;
  try {
    process.kill(child.pid, signal);
  } catch {
    // already gone
  }
}

/** Registers a child process; it is ended at exit if still running. Returns the child. */
export function track(child) {
  install();
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** Ends one child: SIGTERM, then SIGKILL if it is still there after `graceMs`. Resolves once it exited. */
export function stopChild(child, graceMs = 3000) {
  return new Promise((resolve) => {
    if (!child.pid || child.exitCode !== null || child.signalCode !== null) {
      children.delete(child);
      return resolve();
    }
    const timer = setTimeout(() => killNow(child, 'SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      children.delete(child);
      resolve();
    });
    killNow(child, 'SIGTERM');
  });
}

/** A fresh temp dir (real path), removed at exit unless removed before. */
export function tempDir(prefix) {
  install();
  const dir = realpathSync(mkdtempSync(join(tmpdir(), `acbench-${prefix}-`)));
  dirs.add(dir);
  return dir;
}

export function removeDir(dir) {
  rmSync(dir, { recursive: true, force: true });
  dirs.delete(dir);
}

/** Synchronous last resort: SIGKILL what is left, remove temp dirs. */
export function cleanupNow() {
  for (const child of children) killNow(child, 'SIGKILL');
  children.clear();
  for (const dir of dirs) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // best effort
    }
  }
  dirs.clear();
}

/** Graceful version for the normal end of a run. */
export async function cleanupAll() {
  await Promise.all([...children].map((child) => stopChild(child, 2000)));
  cleanupNow();
}

function install() {
  if (installed) return;
  installed = true;
  process.on('exit', cleanupNow);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(signal, () => {
      process.stderr.write(`\nbench: ${signal}, cleaning up\n`);
      cleanupNow();
      process.exit(signal === 'SIGINT' ? 130 : 143);
    });
  }
}
