// The command-line front as a user runs it: a real process, real signals, a real port.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, readdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { portIsFree, rawRequest } from '../support/rawHttp';
import { esp8266CatalogRequest, esp8266DownloadRequest } from '../support/deviceRequests';
import { esp8266ArduinoApp, esp32Bootloader } from '../support/images';
import { md5 } from '../support/serverFixture';

const cli = join(__dirname, '..', '..', '..', 'dist', 'cli.js');

interface Running {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

function run(args: string[], cwd?: string, env: NodeJS.ProcessEnv = process.env): Running {
  const child = spawn(process.execPath, [cli, ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (c) => (out += c));
  child.stderr!.on('data', (c) => (err += c));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, stdout: () => out, stderr: () => err, exited };
}

async function until(predicate: () => boolean, what: string, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function listeningPort(output: string): number {
  const match = /listening on [^:]+:(\d+)/.exec(output);
  return match ? Number(match[1]) : 0;
}

describe('command line (updateserver.py drop-in)', () => {
  it('serves the catalog folder, prints where devices reach it, and stops cleanly on SIGTERM and SIGINT', async () => {
    const catalog = mkdtempSync(join(tmpdir(), 'acus-cli-'));
    const image = esp8266ArduinoApp({ payloadSize: 100_000, seed: 60 });
    writeFileSync(join(catalog, 'blink.bin'), image);
    try {
      for (const signal of ['SIGTERM', 'SIGINT'] as const) {
        const server = run(['-p', '0', '-b', '127.0.0.1', '-d', catalog, '-l', 'info']);
        await until(() => listeningPort(server.stdout()) > 0, 'the banner');
        const port = listeningPort(server.stdout());
        assert.match(server.stdout(), /127\.0\.0\.1:\d+/);
        assert.match(server.stdout(), /AutoConnectUpdate update\("127\.0\.0\.1", \d+\);/);
        const list = await rawRequest(port, esp8266CatalogRequest());
        assert.equal(JSON.parse(list.body.toString())[0].name, 'blink.bin');
        const download = await rawRequest(port, esp8266DownloadRequest('/blink.bin'));
        assert.equal(download.headers.get('x-md5'), md5(image));
        server.child.kill(signal);
        assert.equal(await server.exited, 0, signal);
        assert.ok(await portIsFree(port), `port free after ${signal}`);
        assert.match(server.stderr(), /INFO .*GET \/_catalog\?op=list&path=\. 200/);
        assert.match(server.stderr(), /download #1 blink\.bin to 18:FE:AA:AA:AA:AA \(127\.0\.0\.1\) downloaded/);
      }
    } finally {
      rmSync(catalog, { recursive: true, force: true });
    }
  });

  it('exits non-zero naming the port when it is taken', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    try {
      const server = run(['--port', String(port), '--bind', '127.0.0.1', '--catalog', tmpdir()]);
      assert.equal(await server.exited, 1);
      assert.match(server.stderr(), new RegExp(`port ${port} is already in use`));
    } finally {
      blocker.close();
    }
  });

  it('exits non-zero with a clear message for a missing catalog or a bad flag', async () => {
    // A folder of our own that is surely missing: a fixed name in the shared tmp may exist for another run.
    const parent = mkdtempSync(join(tmpdir(), 'acus-cli-missing-'));
    const missing = run(['-p', '0', '-b', '127.0.0.1', '-d', join(parent, 'no-such-catalog-acus')]);
    assert.equal(await missing.exited, 1);
    assert.match(missing.stderr(), /catalog folder .*no-such-catalog-acus does not exist/);
    rmSync(parent, { recursive: true, force: true });
    const bad = run(['--port', 'eighty']);
    assert.equal(await bad.exited, 2);
    assert.match(bad.stderr(), /invalid port/);
    const help = run(['--help']);
    assert.equal(await help.exited, 0);
    assert.match(help.stdout(), /--catalog CATALOG/);
  });

  it('publishes PlatformIO builds from --watch folders into the catalog, never the bootloader', async () => {
    const base = mkdtempSync(join(tmpdir(), 'acus-cli-watch-'));
    const project = join(base, 'blinky');
    const build = join(project, '.pio', 'build', 'd1_mini');
    const catalog = join(base, 'catalog');
    mkdirSync(build, { recursive: true });
    mkdirSync(catalog);
    writeFileSync(
      join(project, 'platformio.ini'),
      '[env:d1_mini]\nplatform = espressif8266\nboard = d1_mini\nframework = arduino\n',
    );
    const server = run(['-p', '0', '-b', '127.0.0.1', '-d', catalog, '--watch', base]);
    try {
      await until(() => listeningPort(server.stdout()) > 0, 'the banner');
      const port = listeningPort(server.stdout());
      const image = esp8266ArduinoApp({ payloadSize: 120_000, seed: 61 });
      writeFileSync(join(build, 'bootloader.bin'), esp32Bootloader());
      writeFileSync(join(build, 'firmware.bin'), image);
      await until(() => readdirSync(catalog).includes('blinky-d1_mini.bin'), 'the published build');
      const download = await rawRequest(port, esp8266DownloadRequest('/blinky-d1_mini.bin'));
      assert.equal(download.headers.get('x-md5'), md5(image));
      assert.ok(!readdirSync(catalog).some((name) => name.includes('bootloader')));
    } finally {
      server.child.kill('SIGTERM');
      assert.equal(await server.exited, 0);
      rmSync(base, { recursive: true, force: true });
    }
  });

  it('--key auto generates a key, prints it in the sketch line, and serves the catalog only below it', async () => {
    const catalog = mkdtempSync(join(tmpdir(), 'acus-cli-key-'));
    const image = esp8266ArduinoApp({ payloadSize: 80_000, seed: 62 });
    writeFileSync(join(catalog, 'blink.bin'), image);
    const server = run(['-p', '0', '-b', '127.0.0.1', '-d', catalog, '--key', 'auto']);
    try {
      await until(() => listeningPort(server.stdout()) > 0, 'the banner');
      const port = listeningPort(server.stdout());
      const key = /AutoConnectUpdate update\("127\.0\.0\.1", \d+, "([A-Za-z0-9_-]{22})"\);/.exec(server.stdout())?.[1];
      assert.ok(key, server.stdout());
      assert.match(server.stdout(), new RegExp(`catalog key: ${key} \\(generated for this run\\)`));
      assert.equal((await rawRequest(port, esp8266CatalogRequest())).status, 404);
      assert.equal((await rawRequest(port, esp8266DownloadRequest('/blink.bin'))).status, 404);
      const list = await rawRequest(port, esp8266CatalogRequest(key));
      assert.equal(JSON.parse(list.body.toString())[0].name, 'blink.bin');
      const download = await rawRequest(port, esp8266DownloadRequest(`${key}/blink.bin`));
      assert.equal(download.headers.get('x-md5'), md5(image));
      server.child.kill('SIGTERM');
      assert.equal(await server.exited, 0);
      assert.equal(server.stderr().includes(key), false, 'the log never holds the key');
      assert.match(server.stderr(), /path=<key> 200/);
    } finally {
      server.child.kill('SIGTERM');
      rmSync(catalog, { recursive: true, force: true });
    }
    const bad = run(['--key', 'short']);
    assert.equal(await bad.exited, 2);
    assert.match(bad.stderr(), /argument --key: a catalog key needs at least 8 characters/);
  });

  it('warns in one line when it serves a network without --key that --allow does not name', async () => {
    const base = mkdtempSync(join(tmpdir(), 'acus-cli-net-'));
    const networks = join(base, 'networks.json');
    writeFileSync(
      networks,
      JSON.stringify([
        { interfaceName: 'wlan0', kind: 'wifi', address: '10.20.3.4', range: '10.20.0.0/16', ssid: 'CafeGuest' },
        { interfaceName: 'eth0', kind: 'wired', address: '203.0.113.5', range: '203.0.113.0/24' },
      ]),
    );
    const env = { ...process.env, AUTOCONNECT_NETWORKS_FILE: networks };
    const warning = /WARNING serving Wi-Fi "CafeGuest" · 10\.20\.0\.0\/16 without --key: anyone on that network/;
    const cases: Array<[string[], boolean]> = [
      [['-b', '0.0.0.0'], true],
      [['-b', '0.0.0.0', '--key', 'kitchen-door-42'], false],
      [['-b', '0.0.0.0', '--allow', '10.20.0.0/16'], false],
      [['-b', '127.0.0.1'], false],
    ];
    try {
      for (const [args, warns] of cases) {
        const server = run(['-p', '0', '-d', base, ...args], undefined, env);
        await until(() => listeningPort(server.stdout()) > 0, 'the banner');
        // The warning follows the banner; a request answered after it proves it had its chance.
        await rawRequest(
          listeningPort(server.stdout()),
          esp8266CatalogRequest(args.includes('--key') ? 'kitchen-door-42' : '.'),
        );
        server.child.kill('SIGTERM');
        assert.equal(await server.exited, 0);
        const lines = server
          .stderr()
          .split('\n')
          .filter((l) => warning.test(l));
        assert.equal(lines.length, warns ? 1 : 0, `${args.join(' ')}: ${server.stderr()}`);
      }
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  });
});
