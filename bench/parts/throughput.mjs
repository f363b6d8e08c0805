// 2. Throughput against nginx: the same 4 MB image from nginx (sendfile on, one process) and from our server, with
// 1, 16 and 64 clients downloading back to back at full speed for a fixed time. Figure: aggregate MB/s (body bytes
// received by the clients per second) and ours/nginx. nginx gets a plain GET, ours the ESP8266 device request; both
// are HTTP/1.0, one connection per download. Servers alternate within each round so drift hits both alike.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir, removeDir } from '../lib/cleanup.mjs';
import { startClient } from '../lib/clients.mjs';
import { startOurServer, cpuMs, logLines } from '../lib/servers.mjs';
import { startNginx } from '../lib/nginx.mjs';
import { deviceDownload, esp8266Image, plainGet } from '../lib/support.mjs';
import { MB, mb, mbps, mean, median, ratio } from '../lib/stats.mjs';

export async function throughput({ quick, log, nginx }) {
  const size = 4 * MB;
  const levels = [1, 16, 64];
  const rounds = quick ? 1 : 5;
  const durationMs = quick ? 1500 : 2000;
  const dir = tempDir('throughput');
  const catalog = join(dir, 'catalog');
  const static_ = join(dir, 'static');
  mkdirSync(catalog);
  mkdirSync(static_);
  const image = esp8266Image(size, 11);
  writeFileSync(join(catalog, 'fw.bin'), image);
  writeFileSync(join(static_, 'fw.bin'), image);

  // Two load-generator processes: one alone cannot take in what nginx sends (it saturates its core at ~1.5 GB/s on
  // a small machine), which would cap nginx and flatter the ratio. Connections are split between them.
  const client = startClient();
  const client2 = startClient();
  const ours = await startOurServer({ catalogDir: catalog, logFile: join(dir, 'server.log') });
  const ng = nginx && !nginx.missing ? await startNginx(nginx.path, static_) : undefined;
  const servers = [
    { name: 'ours', pid: ours.pid, port: ours.port, request: deviceDownload('/fw.bin', ours.port) },
    ...(ng ? [{ name: 'nginx', pid: ng.pid, port: ng.port, request: plainGet('/fw.bin', ng.port) }] : []),
  ];
  const results = new Map(); // `${name}:${c}` → [{ rate, serverCpu, clientCpu, errors }]
  try {
    // Correctness first: the bytes and (for ours) the x-MD5 must be the image's.
    for (const s of servers) {
      const r = await client.run(
        'fleet',
        { port: s.port, request: s.request, n: 1, rate: 0, readSize: 65536, timeoutMs: 20_000 },
        30_000,
      );
      const d = r.devices[0];
      if (s.name === 'nginx' && d.status === 200 && d.bytes === image.length) continue; // fleet checks x-MD5; nginx has none
      if (!d.ok) throw new Error(`${s.name}: check download failed: ${d.error ?? `status ${d.status}`}`);
    }
    for (const s of servers) {
      await client.run(
        'throughput',
        { port: s.port, request: s.request, conns: 4, durationMs: 1000, expectLength: image.length },
        30_000,
      );
    }
    for (const c of levels) {
      for (let round = 0; round < rounds; round++) {
        const order = round % 2 === 0 ? servers : [...servers].reverse();
        for (const s of order) {
          const cpu0 = cpuMs(s.pid);
          const split =
            c === 1
              ? [[client, 1]]
              : [
                  [client, Math.ceil(c / 2)],
                  [client2, Math.floor(c / 2)],
                ];
          const parts = await Promise.all(
            split.map(([cl, conns]) =>
              cl.run(
                'throughput',
                { port: s.port, request: s.request, conns, durationMs, expectLength: image.length },
                durationMs + 60_000,
              ),
            ),
          );
          const r = {
            bytes: parts.reduce((a, p) => a + p.bytes, 0),
            complete: parts.reduce((a, p) => a + p.complete, 0),
            errors: parts.reduce((a, p) => a + p.errors, 0),
            firstErrors: parts.flatMap((p) => p.firstErrors),
            elapsed: Math.max(...parts.map((p) => p.elapsed)),
            clientCpuMs: parts.reduce((a, p) => a + p.clientCpuMs, 0),
          };
          const serverCpu = (cpuMs(s.pid) - cpu0) / r.elapsed;
          const entry = {
            rate: (r.bytes / r.elapsed) * 1000,
            bytes: r.bytes,
            serverCpuMs: cpuMs(s.pid) - cpu0,
            downloads: r.complete,
            serverCpu,
            clientCpu: r.clientCpuMs / r.elapsed,
            errors: r.errors,
            firstErrors: r.firstErrors,
          };
          (results.get(`${s.name}:${c}`) ?? results.set(`${s.name}:${c}`, []).get(`${s.name}:${c}`)).push(entry);
          log(
            `throughput: ${s.name} c=${c}: ${mbps(entry.rate)}, ${r.complete} downloads, server CPU ${(serverCpu * 100).toFixed(0)}%, client CPU ${(entry.clientCpu * 100).toFixed(0)}%${r.errors ? `, ${r.errors} errors: ${r.firstErrors.join('; ')}` : ''}`,
          );
        }
      }
    }
  } finally {
    await ours.stop();
    await ng?.stop();
    await client.stop();
    await client2.stop();
  }
  const warnings = logLines(join(dir, 'server.log'));
  removeDir(dir);

  const rows = [];
  const notes = [];
  const summary = (name, c) => {
    const list = results.get(`${name}:${c}`) ?? [];
    const bytes = list.reduce((a, e) => a + e.bytes, 0);
    return {
      list,
      rate: median(list.map((e) => e.rate)),
      serverCpu: mean(list.map((e) => e.serverCpu)),
      // CPU the server process spent per GB it delivered (user + system, from /proc/<pid>/stat)
      cpuPerGB: (list.reduce((a, e) => a + e.serverCpuMs, 0) / bytes) * 1024 * MB,
      clientCpu: mean(list.map((e) => e.clientCpu)),
      errors: list.reduce((a, e) => a + e.errors, 0),
      downloads: list.reduce((a, e) => a + e.downloads, 0),
    };
  };
  for (const c of levels) {
    const o = summary('ours', c);
    const n = ng ? summary('nginx', c) : undefined;
    // Paired: each round measured both servers back to back, so the ratio of a pair shares the machine's mood.
    const k = n ? median(o.list.map((e, i) => e.rate / (n.list[i]?.rate ?? NaN))) : NaN;
    rows.push([
      'throughput',
      `${mb(size, 0)} image, ${c} client${c > 1 ? 's' : ''} at full speed`,
      `${mbps(o.rate)}${o.errors ? ` ${o.errors} ERRORS` : ''}`,
      n ? `nginx ${mbps(n.rate)}${n.errors ? ` ${n.errors} ERRORS` : ''}` : 'nginx missing',
      ratio(k),
      c === 64 ? '≥ 0.80×' : '',
      c === 64 && n ? (k >= 0.8 && !o.errors ? 'MET' : 'MISSED') : '',
    ]);
    notes.push(
      `throughput c=${c}: MB/s per round ours ${o.list.map((e) => (e.rate / MB).toFixed(0)).join(' ')} | nginx ${n ? n.list.map((e) => (e.rate / MB).toFixed(0)).join(' ') : '—'}; client CPU ${(o.clientCpu * 100).toFixed(0)}% / ${n ? (n.clientCpu * 100).toFixed(0) : '—'}% of a core (${c === 1 ? 'one process' : 'two processes together'})`,
    );
  }
  for (const c of levels) {
    const o = summary('ours', c);
    const n = ng ? summary('nginx', c) : undefined;
    rows.push([
      'throughput CPU',
      `server CPU time per GB served, ${c} client${c > 1 ? 's' : ''}`,
      `${o.cpuPerGB.toFixed(0)} ms/GB (${(o.serverCpu * 100).toFixed(0)}% of a core)`,
      n ? `nginx ${n.cpuPerGB.toFixed(0)} ms/GB (${(n.serverCpu * 100).toFixed(0)}%)` : 'nginx missing',
      n ? ratio(o.cpuPerGB / n.cpuPerGB, 1) : '',
      '',
      '',
    ]);
  }
  const unexpected = warnings.filter((l) => !/aborted after \d+ of \d+ bytes: connection closed by the client/.test(l));
  notes.push(
    `throughput: median of ${rounds} round${rounds > 1 ? 's' : ''} of ${durationMs / 1000} s per server and level, the two servers back to back in alternating order; ratio = median of the paired ratios`,
  );
  if (unexpected.length)
    notes.push(`throughput: the server logged ${unexpected.length} unexpected warning line(s), e.g. ${unexpected[0]}`);
  return { rows, notes };
}
