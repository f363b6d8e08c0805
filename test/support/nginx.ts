// The real nginx (Debian's `nginx` package, installed by scripts/install-test-host.sh) running an export as a user
// would: `nginx -p DIR -c nginx.conf`, in the foreground so the test owns the process. A missing nginx fails the
// test with the command that installs it; it is never skipped.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';

const CANDIDATES = ['/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/local/nginx/sbin/nginx', '/usr/bin/nginx'];

export function nginxBinary(): string {
  for (const path of CANDIDATES) if (existsSync(path)) return path;
  const found = spawnSync('sh', ['-c', 'command -v nginx'], { encoding: 'utf8' }).stdout.trim();
  if (found) return found;
  throw new Error(
    'nginx is not installed: the nginx export is tested against the real one. Install it with ' +
      '`bash scripts/install-test-host.sh` (as root) or `sudo apt-get install -y nginx`.',
  );
}

export interface RunningNginx {
  child: ChildProcess;
  stderr(): string;
  reload(): void;
  stop(): Promise<void>;
}

/** Starts nginx on an export folder and resolves once `port` accepts connections. */
export async function startNginx(dir: string, port: number): Promise<RunningNginx> {
  const binary = nginxBinary();
  const args = ['-p', dir, '-c', 'nginx.conf'];
  const test = spawnSync(binary, ['-t', ...args], { encoding: 'utf8' });
  if (test.status !== 0) throw new Error(`nginx -t rejected the export: ${test.stderr}`);
  const child = spawn(binary, [...args, '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const deadline = Date.now() + 10_000;
  while (!(await accepts(port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`nginx did not start on port ${port}: ${stderr}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    child,
    stderr: () => stderr,
    reload: () => {
      const result = spawnSync(binary, [...args, '-s', 'reload'], { encoding: 'utf8' });
      if (result.status !== 0) throw new Error(`nginx -s reload failed: ${result.stderr}`);
    },
    stop: async () => {
      if (child.exitCode !== null) return;
      child.kill('SIGQUIT');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
