// 7. The nginx export: a catalog of 1000 images (64 KB) plus one 4 MB image, exported with
// `autoconnect-update-server export --nginx`, served by nginx running the generated nginx.conf (single process, as
// the reference). Figures: the 4 MB image at 64 clients from the export (ESP8266 device requests, through the
// generated maps and checks) against the same nginx serving the same file as a plain static file; and the
// device's `/_catalog?op=list&path=.` from the export (p50 / p99), against nginx serving the same JSON file plainly.

import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir, removeDir, track, stopChild } from '../lib/cleanup.mjs';
import { startClient } from '../lib/clients.mjs';
import { httpExchange } from '../lib/device.mjs';
import { startNginx } from '../lib/nginx.mjs';
import { freePort, waitForPort, tail } from '../lib/servers.mjs';
import { ROOT, deviceCatalog, deviceDownload, esp8266Image, plainGet } from '../lib/support.mjs';
import { MB, mbps, median, ms, percentile, ratio } from '../lib/stats.mjs';

async function nginxExport({ quick, log, nginx }) {
  if (!nginx || nginx.missing) {
    return { rows: [['export', 'nginx export', 'nginx missing', '', '', '', 'ERROR']], notes: [] };
  }
  const images = quick ? 200 : 1000;
  const rounds = quick ? 1 : 5;
  const durationMs = quick ? 1500 : 2000;
  const count = quick ? 200 : 1000;
  const dir = tempDir('export');
  chmodSync(dir, 0o755);
  const catalog = join(dir, 'catalog');
  const plain = join(dir, 'plain');
  const out = join(dir, 'nginx');
  mkdirSync(catalog);
  mkdirSync(plain);
  for (let i = 1; i <= images; i++)
    writeFileSync(join(catalog, `img-${String(i).padStart(4, '0')}.bin`), esp8266Image(64 * 1024, i));
  const big = esp8266Image(4 * MB, 11);
  writeFileSync(join(catalog, 'fw.bin'), big);
  writeFileSync(join(plain, 'fw.bin'), big);

  const port = await freePort();
  const t0 = Date.now();
  const exported = spawnSync(
    process.execPath,
    [
      join(ROOT, 'dist/cli.js'),
      'export',
      '--nginx',
      out,
      '--catalog',
      catalog,
      '--port',
      String(port),
      '-l',
      'WARNING',
    ],
    { encoding: 'utf8' },
  );
  if (exported.status !== 0) throw new Error(`export failed: ${exported.stderr}`);
  const exportMs = Date.now() - t0;
  log(`export: ${images + 1} images exported in ${exportMs} ms`);

  // The export's own nginx.conf, in one process like the reference (bench/lib/nginx.mjs).
  const child = track(
    spawn(nginx.path, ['-p', out, '-c', 'nginx.conf', '-g', 'daemon off; master_process off;'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    }),
  );
  let stderr = '';
  child.stderr.on('data', (c) => (stderr += c));
  const client = startClient();
  const client2 = startClient();
  let reference;
  const results = { export: [], plain: [] };
  let catalogSamples;
  let plainCatalogSamples;
  let catalogBody;
  try {
    await waitForPort(port, 10_000).catch((error) => {
      throw new Error(
        `nginx on the export did not start: ${error.message} ${stderr} ${tail(join(out, 'run/error.log'))}`,
      );
    });
    const catalogRequest = deviceCatalog(port);
    const first = await httpExchange({ port, request: catalogRequest, keepBody: true, timeoutMs: 10_000 });
    if (!first.ok || first.status !== 200) throw new Error(`export catalog: ${first.error ?? first.status}`);
    catalogBody = first.body;
    writeFileSync(join(plain, 'catalog.json'), catalogBody);
    reference = await startNginx(nginx.path, plain);

    const servers = [
      { name: 'export', port, request: deviceDownload('/fw.bin', port) },
      { name: 'plain', port: reference.port, request: plainGet('/fw.bin', reference.port) },
    ];
    // Correct bytes and x-MD5 from the export before any figure.
    const check = await client.run(
      'fleet',
      { port, request: servers[0].request, n: 1, rate: 0, readSize: 65536, timeoutMs: 20_000 },
      30_000,
    );
    if (!check.devices[0].ok)
      throw new Error(`export download check failed: ${check.devices[0].error ?? check.devices[0].status}`);
    for (const s of servers)
      await client.run(
        'throughput',
        { port: s.port, request: s.request, conns: 4, durationMs: 1000, expectLength: big.length },
        30_000,
      );
    for (let round = 0; round < rounds; round++) {
      for (const s of round % 2 === 0 ? servers : [...servers].reverse()) {
        const parts = await Promise.all(
          [
            [client, 32],
            [client2, 32],
          ].map(([cl, conns]) =>
            cl.run(
              'throughput',
              { port: s.port, request: s.request, conns, durationMs, expectLength: big.length },
              durationMs + 60_000,
            ),
          ),
        );
        const bytes = parts.reduce((a, p) => a + p.bytes, 0);
        const errors = parts.reduce((a, p) => a + p.errors, 0);
        const rate = (bytes / Math.max(...parts.map((p) => p.elapsed))) * 1000;
        results[s.name].push({ rate, errors, firstErrors: parts.flatMap((p) => p.firstErrors) });
        log(`export: ${s.name} c=64: ${mbps(rate)}${errors ? `, ${errors} errors` : ''}`);
      }
    }
    catalogSamples = (await client.run('latency', { port, request: catalogRequest, count, gapMs: 2 }, 120_000)).samples;
    const plainRequest = plainGet('/catalog.json', reference.port, '1.1');
    plainCatalogSamples = (
      await client.run('latency', { port: reference.port, request: plainRequest, count, gapMs: 2 }, 120_000)
    ).samples;
  } finally {
    await client.stop();
    await client2.stop();
    await reference?.stop();
    await stopChild(child, 3000);
    removeDir(dir);
  }

  const exportRate = median(results.export.map((e) => e.rate));
  const plainRate = median(results.plain.map((e) => e.rate));
  const k = median(results.export.map((e, i) => e.rate / results.plain[i].rate));
  const errors = [...results.export, ...results.plain].reduce((a, e) => a + e.errors, 0);
  const p99 = percentile(catalogSamples, 99);
  const listed = JSON.parse(catalogBody.toString()).filter((e) => e.type === 'bin').length;
  return {
    rows: [
      [
        'export',
        '4 MB image from the nginx export, 64 clients',
        `${mbps(exportRate)}${errors ? ` ${errors} ERRORS` : ''}`,
        `nginx plain file ${mbps(plainRate)}`,
        ratio(k),
        '≥ 0.95×',
        k >= 0.95 && !errors ? 'MET' : 'MISSED',
      ],
      [
        'export',
        `/_catalog of ${images + 1} images (${listed} listed) from the export`,
        `p50 ${ms(percentile(catalogSamples, 50))} / p99 ${ms(p99)}`,
        `nginx plain file p50 ${ms(percentile(plainCatalogSamples, 50))} / p99 ${ms(percentile(plainCatalogSamples, 99))}`,
        ratio(p99 / percentile(plainCatalogSamples, 99), 1),
        'p99 < 2 ms',
        p99 < 2 ? 'MET' : 'MISSED',
      ],
    ],
    notes: [
      `export: ${images + 1} images exported in ${exportMs} ms; MB/s per round export ${results.export.map((e) => (e.rate / MB).toFixed(0)).join(' ')} | plain ${results.plain.map((e) => (e.rate / MB).toFixed(0)).join(' ')}; ratio = median of paired rounds`,
      `export: both nginx runs are one process (master_process off), sendfile on, no access log; the export's is its generated nginx.conf`,
    ],
  };
}

export { nginxExport as export };
