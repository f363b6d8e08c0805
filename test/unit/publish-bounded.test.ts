// The publisher reads only regular files up to the image size limit, in bounded chunks (issue 8): the real CLI with
// --watch, a real 2 GB sparse build output, a real FIFO, a link to /etc/passwd and a file the server cannot read.
import * as fsProbe from 'node:fs';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { rawRequest } from '../support/rawHttp';
import { esp8266CatalogRequest, esp8266DownloadRequest } from '../support/deviceRequests';
import { esp8266ArduinoApp } from '../support/images';
import { md5 } from '../support/serverFixture';
import { MAX_IMAGE_BYTES } from '../../src/core/firmware/imageInfo';

// The server runs as `nobody`, who may not reach a checkout below a private folder (mktemp -d is 0700): it runs a
// world-readable copy of the bundles (the CLI and the image worker it starts from its own folder) and the preload.
const probeDir = fsProbe.mkdtempSync(join(tmpdir(), 'acus-probe-'));
fsProbe.chmodSync(probeDir, 0o755);
function readableCopy(from: string): string {
  const to = join(probeDir, basename(from));
  fsProbe.copyFileSync(from, to);
  fsProbe.chmodSync(to, 0o644);
  return to;
}
const dist = join(__dirname, '..', '..', '..', 'dist');
const cli = readableCopy(join(dist, 'cli.js'));
readableCopy(join(dist, 'imageWorker.js'));
const probe = readableCopy(join(__dirname, '..', 'support', 'memoryProbe.js'));
const NOBODY = 65534;

interface Memory {
  rss: number;
  maxRss: number;
}

async function until(predicate: () => boolean, what: string, output: () => string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; server said:\n${output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('publisher: bounded reads of build outputs', { skip: process.platform === 'win32' }, () => {
  it('publishes none of a 2 GB sparse file, a FIFO, a link to /etc/passwd, an unreadable file; stays small and serving', async () => {
    const base = mkdtempSync(join(tmpdir(), 'acus-bounded-'));
    const project = join(base, 'blinky');
    const catalog = join(base, 'catalog');
    const envs = ['big', 'fifo', 'passwd', 'locked', 'good'];
    for (const env of envs) mkdirSync(join(project, '.pio', 'build', env), { recursive: true });
    mkdirSync(catalog);
    writeFileSync(
      join(project, 'platformio.ini'),
      envs.map((env) => `[env:${env}]\nplatform = espressif8266\nboard = d1_mini\nframework = arduino\n`).join('\n'),
    );
    // Tests run as root here, and root reads any file whatever its mode: the server runs as nobody instead, so that
    // "unreadable" is real (EACCES from the kernel), as it is for a user's server.
    const asRoot = process.getuid?.() === 0;
    chmodSync(base, 0o755);
    if (asRoot) chownSync(catalog, NOBODY, NOBODY);
    const child = spawn(
      process.execPath,
      ['-r', probe, cli, '-p', '0', '-b', '127.0.0.1', '-d', catalog, '--watch', base],
      { stdio: ['ignore', 'pipe', 'pipe', 'ipc'], ...(asRoot ? { uid: NOBODY, gid: NOBODY } : {}) },
    );
    let out = '';
    child.stdout!.on('data', (c) => (out += c));
    child.stderr!.on('data', (c) => (out += c));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const memory = () =>
      new Promise<Memory>((resolve) => {
        child.once('message', (m) => resolve(m as Memory));
        child.send('memory');
      });
    try {
      await until(
        () => /listening on [^:]+:(\d+)/.test(out),
        'the banner',
        () => out,
      );
      const port = Number(/listening on [^:]+:(\d+)/.exec(out)![1]);
      await until(
        () => /publishing builds from/.test(out),
        'the publisher',
        () => out,
      );
      assert.equal((await rawRequest(port, esp8266CatalogRequest())).status, 200);
      const idle = await memory();

      const build = (env: string) => join(project, '.pio', 'build', env, 'firmware.bin');
      writeFileSync(build('big'), esp8266ArduinoApp({ payloadSize: 100_000, seed: 91 }).subarray(0, 4096));
      truncateSync(build('big'), 2 * 1024 ** 3); // 2 GB, sparse: a real ESP header, then zeros
      execFileSync('mkfifo', [build('fifo')]);
      symlinkSync('/etc/passwd', build('passwd'));
      writeFileSync(build('locked'), esp8266ArduinoApp({ payloadSize: 100_000, seed: 92 }));
      chmodSync(build('locked'), 0o000);
      // Written last: published means the publisher went through the others without hanging.
      const good = esp8266ArduinoApp({ payloadSize: 150_000, seed: 93 });
      writeFileSync(build('good'), good);

      await until(
        () => readdirSync(catalog).includes('blinky-good.bin'),
        'the good build published',
        () => out,
      );
      const reasons: Record<string, RegExp> = {
        big: /big\/firmware\.bin: is larger \(2147483648 bytes\) than any image/,
        fifo: /fifo\/firmware\.bin: is a FIFO, not a regular file/,
        passwd: /passwd\/firmware\.bin: is a link/,
        locked: /locked\/firmware\.bin: cannot be read \(EACCES\)/,
      };
      await until(
        () => Object.values(reasons).every((r) => r.test(out)),
        'a line for each skipped output',
        () => out,
      );
      for (const [env, reason] of Object.entries(reasons)) {
        const lines = out.split('\n').filter((line) => reason.test(line));
        assert.equal(lines.length, 1, `one log line for ${env}: ${lines.join(' | ')}`);
      }
      assert.deepEqual(
        readdirSync(catalog).filter((name) => name.endsWith('.bin')),
        ['blinky-good.bin'],
        'none of the others was published',
      );
      const download = await rawRequest(port, esp8266DownloadRequest('/blinky-good.bin', { freeSpace: 1 << 20 }));
      assert.equal(download.status, 200);
      assert.equal(download.headers.get('x-md5'), md5(good));

      const peak = await memory();
      const mb = (n: number) => `${(n / 1048576).toFixed(1)} MB`;
      console.log(
        `publisher RSS: idle ${mb(idle.rss)}, peak ${mb(peak.maxRss)}, bound ${mb(idle.rss + MAX_IMAGE_BYTES + (64 << 20))}`,
      );
      assert.ok(
        peak.maxRss <= idle.rss + MAX_IMAGE_BYTES + (64 << 20),
        `peak ${mb(peak.maxRss)} after idle ${mb(idle.rss)}`,
      );
    } finally {
      child.kill('SIGTERM');
      await exited;
      rmSync(base, { recursive: true, force: true });
    }
  });
});
