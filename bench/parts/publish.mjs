// 4. Publish latency: a simulated PlatformIO build writes `.pio/build/x/firmware.bin` in a --watch folder; from the
// moment the file is closed, a device polls `GET /<project>-x.bin` (the ESP8266 request, every ~20 ms) until the
// reply is 200 with the new build's x-MD5. Figure: median and p95 over the builds.

import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { tempDir, removeDir } from '../lib/cleanup.mjs';
import { httpExchange } from '../lib/device.mjs';
import { startOurServer, logLines } from '../lib/servers.mjs';
import { deviceDownload, esp8266Image } from '../lib/support.mjs';
import { median, ms, percentile, ratio } from '../lib/stats.mjs';

const PROJECT = 'blink';
const ENV = 'x';

/** Like a linker/objcopy: the old output goes away, the new one is written in a few pieces, then closed. */
async function writeBuild(file, bytes) {
  await rm(file, { force: true });
  const handle = await open(file, 'w');
  const piece = Math.ceil(bytes.length / 4);
  for (let offset = 0; offset < bytes.length; offset += piece) {
    await handle.write(bytes, offset, Math.min(piece, bytes.length - offset), offset);
    await sleep(5);
  }
  await handle.close();
  return performance.now();
}

export async function publish({ quick, log }) {
  const builds = quick ? 5 : 20;
  const dir = tempDir('publish');
  const catalogDir = join(dir, 'catalog');
  const project = join(dir, 'watch', PROJECT);
  const buildDir = join(project, '.pio', 'build', ENV);
  mkdirSync(catalogDir);
  mkdirSync(buildDir, { recursive: true });
  writeFileSync(
    join(project, 'platformio.ini'),
    `[env:${ENV}]\nplatform = espressif8266\nboard = d1_mini\nframework = arduino\n`,
  );
  const server = await startOurServer({ catalogDir, watch: [join(dir, 'watch')], logFile: join(dir, 'server.log') });
  const samples = [];
  const failures = [];
  let polls = 0;
  const statuses = new Map();
  try {
    const request = deviceDownload(`/${PROJECT}-${ENV}.bin`, server.port);
    await sleep(500);
    for (let i = 0; i < builds; i++) {
      const image = esp8266Image(400 * 1024, 5000 + i);
      const md5 = createHash('md5').update(image).digest('hex');
      const t0 = await writeBuild(join(buildDir, 'firmware.bin'), image);
      let got;
      while (performance.now() - t0 < 15_000) {
        const r = await httpExchange({ port: server.port, request, hash: true, timeoutMs: 5_000 });
        polls++;
        statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
        if (r.status === 200 && r.headers.get('x-md5') === md5) {
          if (!r.ok || r.md5 !== md5)
            failures.push(`build ${i + 1}: 200 with the right x-MD5 but the body does not match (${r.error ?? r.md5})`);
          got = r.tHead - t0;
          break;
        }
        await sleep(20);
      }
      if (got === undefined) failures.push(`build ${i + 1}: not served within 15 s`);
      else samples.push(got);
      log(`publish: build ${i + 1}/${builds}: ${got === undefined ? 'TIMEOUT' : ms(got)}`);
      await sleep(400);
    }
  } finally {
    await server.stop();
  }
  const warnings = logLines(join(dir, 'server.log')).filter((l) => / (WARNING|ERROR) /.test(l));
  removeDir(dir);
  const med = median(samples);
  const BEFORE_MS = 299; // issue 10: the median measured while the publisher waited 300 ms of quiet (its floor)
  const rows = [
    [
      'publish',
      `build written → device gets it (${samples.length}/${builds} builds)`,
      `median ${ms(med)} / p95 ${ms(percentile(samples, 95))} (max ${ms(Math.max(...samples))})${failures.length ? ` — ${failures.length} FAILED` : ''}`,
      `${BEFORE_MS} ms with the 300 ms quiet time`,
      ratio(med / BEFORE_MS),
      'median < 100 ms',
      med < 100 && failures.length === 0 ? 'MET' : 'MISSED',
    ],
  ];
  const notes = [
    `publish: ${polls} device polls, statuses ${[...statuses].map(([s, n]) => `${s}×${n}`).join(', ')}; the publisher reads a build at its first file event (no quiet time) and publishes it once its image checks pass`,
  ];
  notes.push(...failures.map((f) => `publish: ${f}`));
  if (warnings.length)
    notes.push(`publish: the server logged ${warnings.length} warning/error line(s), e.g. ${warnings[0]}`);
  return { rows, notes };
}
