#!/usr/bin/env node
// `npm run bench` — load benchmarks of the update server on loopback, each figure against a reference measured in
// the same run, printed as one table (and saved to bench/results/latest.txt). See bench/README.md.
//
//   node bench/run.mjs [--quick] [fleet] [throughput] [catalog] [publish] [hash] [loop] [export] [inventory]
//
// No part selected = all parts. --quick: smaller images, fewer devices and samples (a smoke run of a minute or two).
// Progress goes to stderr, the table to stdout. Every process and temp dir is cleaned up on exit and on Ctrl+C.

import { spawnSync, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync, readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { ROOT } from './lib/support.mjs';
import { cleanupAll, cleanupNow } from './lib/cleanup.mjs';
import { renderTable } from './lib/stats.mjs';

const PARTS = ['fleet', 'throughput', 'catalog', 'publish', 'hash', 'loop', 'export', 'inventory'];
const argv = process.argv.slice(2);
if (argv.includes('-h') || argv.includes('--help')) {
  process.stdout.write(`usage: node bench/run.mjs [--quick] [${PARTS.join('] [')}]\n`);
  process.exit(0);
}
const unknown = argv.filter((a) => !a.startsWith('--') && !PARTS.includes(a));
const badFlags = argv.filter((a) => a.startsWith('--') && a !== '--quick');
if (unknown.length || badFlags.length) {
  process.stderr.write(
    `bench: unknown argument(s) ${[...unknown, ...badFlags].join(' ')}; parts: ${PARTS.join(', ')}; flag: --quick\n`,
  );
  process.exit(2);
}
const quick = argv.includes('--quick');
const selected = PARTS.filter((p) => argv.includes(p));
const parts = selected.length ? selected : PARTS;

const T0 = performance.now();
const elapsed = () => `${((performance.now() - T0) / 1000).toFixed(0)}s`;
const log = (msg) => process.stderr.write(`[bench ${elapsed()}] ${msg}\n`);

// Hard limit for the whole run: nothing may hang forever.
const LIMIT_MS = (quick ? 8 : 25) * 60_000;
const limit = setTimeout(() => {
  log(`run exceeded ${LIMIT_MS / 60_000} min: aborting`);
  cleanupNow();
  process.exit(1);
}, LIMIT_MS);
limit.unref();
process.on('uncaughtException', (error) => {
  log(`uncaught: ${error.stack ?? error}`);
  cleanupNow();
  process.exit(1);
});

function newestMtime(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(full) : statSync(full).mtimeMs);
  }
  return newest;
}

function npm(script) {
  log(`npm run ${script}`);
  const r = spawnSync('npm', ['run', '-s', script], {
    cwd: ROOT,
    stdio: ['ignore', 'inherit', 'inherit'],
    timeout: 300_000,
  });
  return r.status === 0;
}

/** dist/cli.js (the server under test) and out/ (test support, in-process core), rebuilt when missing or stale. */
function build(notes) {
  const srcNewest = newestMtime(join(ROOT, 'src'));
  const cli = join(ROOT, 'dist/cli.js');
  if (!existsSync(cli) || statSync(cli).mtimeMs < srcNewest) {
    if (!npm('build')) throw new Error('npm run build failed');
  }
  const outFiles = [
    'out/test/support/images.js',
    'out/test/support/deviceRequests.js',
    'out/src/core/updateServer.js',
  ].map((f) => join(ROOT, f));
  const missing = outFiles.some((f) => !existsSync(f));
  const stale =
    !missing &&
    Math.min(...outFiles.map((f) => statSync(f).mtimeMs)) <
      Math.max(srcNewest, newestMtime(join(ROOT, 'test/support')));
  if (missing || stale) {
    if (!npm('build:test')) {
      if (outFiles.some((f) => !existsSync(f))) throw new Error('npm run build:test failed');
      notes.push('npm run build:test reported errors (out/ may be stale); in-process figures use it as it is');
    }
  }
}

function machine(nginxVersion) {
  const cpu = cpus();
  const kernel = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
  let commit = '';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT }).toString().trim();
  } catch {
    // not a git checkout
  }
  return [
    `date: ${new Date().toISOString()}   commit: ${commit || '?'}${quick ? '   mode: --quick' : ''}`,
    `machine: ${cpu[0]?.model.trim() ?? '?'}, ${cpu.length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GB RAM, Linux ${kernel}, node ${process.version}, nginx ${nginxVersion}`,
  ];
}

async function main() {
  const notes = [];
  build(notes);
  const ctx = { quick, log, notes };
  if (parts.includes('throughput') || parts.includes('catalog') || parts.includes('export')) {
    const { findNginx } = await import('./lib/nginx.mjs');
    ctx.nginx = findNginx(log);
    if (ctx.nginx.missing) {
      log(ctx.nginx.missing);
      notes.push(ctx.nginx.missing);
    }
  }
  const rows = [];
  for (const part of parts) {
    const t = performance.now();
    log(`---- ${part}`);
    try {
      const mod = await import(`./parts/${part}.mjs`);
      const result = await mod[part](ctx);
      rows.push(...result.rows);
      notes.push(...(result.notes ?? []));
    } catch (error) {
      log(`${part} FAILED: ${error.stack ?? error}`);
      rows.push([
        part,
        'FAILED',
        String(error.message ?? error)
          .split('\n')[0]
          .slice(0, 160),
        '',
        '',
        '',
        'ERROR',
      ]);
    }
    log(`${part} took ${((performance.now() - t) / 1000).toFixed(0)} s`);
  }
  await cleanupAll();

  const header = ['part', 'case', 'ours', 'reference', 'ratio', 'target', 'status'];
  const lines = [
    ...machine(ctx.nginx?.version ?? (ctx.nginx ? 'missing' : 'not used')),
    '',
    renderTable(header, rows),
    ...(notes.length ? ['', 'notes:', ...notes.map((n) => `  - ${n}`)] : []),
    '',
    `bench run time: ${((performance.now() - T0) / 1000).toFixed(0)} s`,
  ];
  const text = `${lines.join('\n')}\n`;
  process.stdout.write(`\n${text}`);
  const resultsDir = join(ROOT, 'bench/results');
  mkdirSync(resultsDir, { recursive: true });
  writeFileSync(join(resultsDir, quick ? 'latest-quick.txt' : 'latest.txt'), text);
  log(`table saved to bench/results/${quick ? 'latest-quick.txt' : 'latest.txt'}`);
  return rows.some((r) => r[6] === 'ERROR') ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  async (error) => {
    log(`failed: ${error.stack ?? error}`);
    await cleanupAll().catch(() => cleanupNow());
    process.exit(1);
  },
);
