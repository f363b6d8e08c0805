// Forks a client worker (bench/lib/clientWorker.mjs) and runs jobs in it, each bounded by a timeout.

import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { track, stopChild } from './cleanup.mjs';

const WORKER = fileURLToPath(new URL('./clientWorker.mjs', import.meta.url));

export function startClient() {
  const child = track(fork(WORKER, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  const pending = new Map();
  let nextId = 1;
  child.on('message', ({ id, result, error }) => {
    const p = pending.get(id);
    if (!p) return;
    pending.delete(id);
    clearTimeout(p.timer);
    if (error) p.reject(new Error(`client worker: ${error}`));
    else p.resolve(result);
  });
  child.on('exit', (code, signal) => {
    for (const p of pending.values()) {
      clearTimeout(p.timer);
      p.reject(new Error(`client worker exited (${code ?? signal})`));
    }
    pending.clear();
  });
  return {
    pid: child.pid,
    run(job, args, timeoutMs) {
      return new Promise((resolve, reject) => {
        const id = nextId++;
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new Error(`client job ${job} took longer than ${timeoutMs} ms`));
        }, timeoutMs);
        pending.set(id, { resolve, reject, timer });
        child.send({ id, job, args });
      });
    },
    stop: () => stopChild(child, 2000),
  };
}
