#!/usr/bin/env node
// `npm test`: builds, then runs every suite and prints one combined closing line `all: N passed, N failed`.
//   1. npm run build           (fail fast)
//   2. npm run build:test      (fail fast)
//   2b. npm run lint           (ESLint layer rules + Prettier; counts as one test)
//   3. unit + conformance      node --test out/test/unit out/test/conformance (spec to the console, TAP counted)
//   4. npm run package         (the .vsix; if it fails the suites that need it count as failed, the rest still run)
//   5. test host               bash scripts/install-test-host.sh (apt deps + code-server; missing ⇒ FAIL, never skip)
//   6. ext-host suite, dev     node scripts/ext-host-test.mjs
//   7. ext-host suite, vsix    INSTALL_VSIX=autoconnect-update-server.vsix node scripts/ext-host-test.mjs
//   8. UI scenarios            node scripts/ui-test.mjs
// Exit code 0 only when every suite passed. Env: TEST_ONLY=lint,unit,exthost,vsix,ui (comma list) to run a subset.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const VSIX = path.join(ROOT, 'autoconnect-update-server.vsix');
const only = (process.env.TEST_ONLY || '')
  .split(',')
  .map((s) => s.trim())
  .filter(Boolean);
const wanted = (k) => only.length === 0 || only.includes(k);
const T0 = Date.now();
const results = []; // { name, passed, failed, secs, note }
let current = null; // the running child (own process group, so a Ctrl+C must be forwarded)
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => {
    if (current) {
      try {
        process.kill(-current.pid, 'SIGTERM');
      } catch {
        /* gone */
      }
    }
    process.stderr.write(`\n[test-all] ${sig}: stopped\n`);
    process.exit(130);
  });
}

const secs = (t) => ((Date.now() - t) / 1000).toFixed(1);
function banner(s) {
  process.stdout.write(`\n===== ${s} [${secs(T0)}s] =====\n`);
}

/**
 * Runs a command, streaming its output, and returns { code, out } (out = stdout text, for the closing-line parse).
 * A hard timeout kills its whole process group.
 */
function run(cmd, args, { env = {}, timeoutMs = 10 * 60 * 1000, capture = true } = {}) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    current = child;
    let out = '';
    child.stdout.on('data', (d) => {
      process.stdout.write(d);
      if (capture && out.length < 4e6) out += d;
    });
    child.stderr.on('data', (d) => process.stderr.write(d));
    const timer = setTimeout(() => {
      process.stderr.write(`\n[test-all] ${cmd} ${args.join(' ')}: timed out after ${timeoutMs / 1000}s, killing it\n`);
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      resolve({ code: 127, out: `${out}\n${e.message}` });
    });
    child.on('close', (code, sig) => {
      clearTimeout(timer);
      if (current === child) current = null;
      resolve({ code: code ?? (sig ? 128 : 1), out });
    });
  });
}

/** The last `<label>: N passed, N failed` line of a suite's stdout. */
function parseClosing(out, label) {
  const re = new RegExp(`^${label}: (\\d+) passed, (\\d+) failed\\s*$`, 'gm');
  let m;
  let last = null;
  while ((m = re.exec(out))) last = { passed: Number(m[1]), failed: Number(m[2]) };
  return last;
}

function record(name, passed, failed, t, note = '') {
  results.push({ name, passed, failed, secs: secs(t), note });
}

/** A suite that reports `<label>: N passed, N failed`; a non-zero exit always counts at least one failure. */
async function suite(name, label, cmd, args, opts) {
  const t = Date.now();
  banner(name);
  const { code, out } = await run(cmd, args, opts);
  const c = parseClosing(out, label) || { passed: 0, failed: 0 };
  const failed = code !== 0 ? Math.max(c.failed, 1) : c.failed;
  record(name, c.passed, failed, t, code !== 0 ? `exit ${code}` : '');
}

function finish() {
  const passed = results.reduce((a, r) => a + r.passed, 0);
  const failed = results.reduce((a, r) => a + r.failed, 0);
  process.stdout.write(`\n===== summary (${secs(T0)}s) =====\n`);
  for (const r of results) {
    const mark = r.failed ? '✖' : '✔';
    process.stdout.write(
      `${mark} ${r.name.padEnd(28)} ${String(r.passed).padStart(4)} passed ${String(r.failed).padStart(3)} failed  ${r.secs.padStart(6)}s${r.note ? `  (${r.note})` : ''}\n`,
    );
  }
  process.stdout.write(`all: ${passed} passed, ${failed} failed\n`);
  process.exitCode = failed > 0 ? 1 : 0;
}

async function buildStep(name, script) {
  const t = Date.now();
  banner(name);
  const { code } = await run('npm', ['run', '--silent', script], { capture: false, timeoutMs: 5 * 60 * 1000 });
  if (code !== 0) {
    record(name, 0, 1, t, `exit ${code}`);
    return false;
  }
  record(name, 0, 0, t); // build steps count only when they fail
  return true;
}

async function unitTests() {
  const t = Date.now();
  const name = 'unit + conformance';
  banner(name);
  const dirs = ['out/test/unit', 'out/test/conformance'].filter((d) => fs.existsSync(path.join(ROOT, d)));
  if (dirs.length === 0) {
    process.stdout.write('no compiled unit or conformance tests (out/test/unit, out/test/conformance)\n');
    return record(name, 0, 1, t, 'no tests found');
  }
  const tap = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'node-test-')), 'results.tap');
  // --test-timeout bounds every test AND every test file's process: a file that leaves a socket or timer open is
  // reported as cancelled (a failure) instead of hanging the pipeline.
  const perFile = Number(process.env.UNIT_TEST_TIMEOUT_MS) || 90000;
  const { code, out } = await run(
    process.execPath,
    [
      '--test',
      `--test-timeout=${perFile}`,
      '--test-reporter=spec',
      '--test-reporter-destination=stdout',
      '--test-reporter=tap',
      `--test-reporter-destination=${tap}`,
      ...dirs,
    ],
    { timeoutMs: 8 * 60 * 1000 },
  );
  const text = fs.existsSync(tap) ? fs.readFileSync(tap, 'utf8') : '';
  const num = (k) => {
    const m = text.match(new RegExp(`^# ${k} (\\d+)$`, 'm'));
    return m ? Number(m[1]) : null;
  };
  let passed = num('pass');
  let failed = num('fail') === null ? null : num('fail') + num('cancelled');
  let note = code !== 0 ? `exit ${code}` : '';
  if (passed === null || failed === null) {
    // killed before the summary: count the spec reporter's leaf results (suites print ▶ name … ✔ name)
    const suites = new Set([...out.matchAll(/^(\s*)▶ (.*)$/gm)].map((m) => `${m[1]}${m[2]}`));
    const leaf = (mark) =>
      [...out.matchAll(new RegExp(`^(\\s*)${mark} (.*?)(?: \\([\\d.]+ms\\))?(?: # .*)?$`, 'gm'))].filter(
        (m) => !suites.has(`${m[1]}${m[2]}`),
      ).length;
    passed = leaf('✔');
    failed = leaf('✖');
    note = `${note}, no summary (killed)`;
  }
  if (code !== 0 && failed === 0) failed = 1;
  if (passed + failed === 0) {
    failed = 1;
    note = 'no tests found';
  }
  fs.rmSync(path.dirname(tap), { recursive: true, force: true });
  record(name, passed, failed, t, note);
}

async function main() {
  process.stdout.write(`[test-all] node ${process.version}, ${os.cpus().length} cpus, CI=${process.env.CI || ''}\n`);
  // 1-2: a broken build makes every later number meaningless: stop here
  if (!(await buildStep('build', 'build'))) return finish();
  if (!(await buildStep('build:test', 'build:test'))) return finish();
  if (wanted('lint')) {
    const t = Date.now();
    banner('lint');
    const { code } = await run('npm', ['run', '--silent', 'lint'], { capture: false, timeoutMs: 5 * 60 * 1000 });
    record('lint (eslint + prettier)', code === 0 ? 1 : 0, code === 0 ? 0 : 1, t, code === 0 ? '' : `exit ${code}`);
  }

  // 3
  if (wanted('unit')) await unitTests();

  // 4
  let haveVsix = false;
  if (wanted('vsix') || wanted('ui')) {
    fs.rmSync(VSIX, { force: true });
    haveVsix = (await buildStep('package (.vsix)', 'package')) && fs.existsSync(VSIX);
    if (haveVsix) process.stdout.write(`${path.basename(VSIX)}: ${(fs.statSync(VSIX).size / 1024).toFixed(1)} KB\n`);
  }

  // 5: the test host; never skipped when missing
  let codeServer = '';
  if (wanted('exthost') || wanted('vsix') || wanted('ui')) {
    const t = Date.now();
    banner('test host (code-server + chromium)');
    const { code, out } = await run('bash', [path.join(ROOT, 'scripts', 'install-test-host.sh')], {
      timeoutMs: 15 * 60 * 1000,
    });
    codeServer = out.trim().split('\n').pop() || '';
    if (code !== 0 || !codeServer || !fs.existsSync(codeServer)) {
      record('test host', 0, 1, t, `install failed (exit ${code}): extension-host and UI suites cannot run`);
      codeServer = '';
    } else {
      record('test host', 0, 0, t);
    }
  }
  const hostEnv = codeServer ? { CODE_SERVER: codeServer } : {};
  const noHost = (name) => record(name, 0, 1, Date.now(), 'no test host');

  // 6-8
  if (wanted('exthost')) {
    if (codeServer)
      await suite('ext-host suite (dev folder)', 'exthost', process.execPath, ['scripts/ext-host-test.mjs'], {
        env: { ...hostEnv, INSTALL_VSIX: '' },
        timeoutMs: 6 * 60 * 1000,
      });
    else noHost('ext-host suite (dev folder)');
  }
  if (wanted('vsix')) {
    if (!codeServer) noHost('ext-host suite (.vsix)');
    else if (!haveVsix) record('ext-host suite (.vsix)', 0, 1, Date.now(), 'no .vsix (package failed)');
    else
      await suite('ext-host suite (.vsix)', 'exthost', process.execPath, ['scripts/ext-host-test.mjs'], {
        env: { ...hostEnv, INSTALL_VSIX: VSIX },
        timeoutMs: 6 * 60 * 1000,
      });
  }
  if (wanted('ui')) {
    if (!codeServer) noHost('ui scenarios');
    else if (!haveVsix) record('ui scenarios', 0, 1, Date.now(), 'no .vsix (package failed)');
    else
      await suite('ui scenarios', 'ui', process.execPath, ['scripts/ui-test.mjs'], {
        env: { ...hostEnv, INSTALL_VSIX: VSIX },
        timeoutMs: 8 * 60 * 1000,
      });
  }
  finish();
}

main().catch((e) => {
  process.stderr.write(`[test-all] unexpected: ${e && e.stack ? e.stack : e}\n`);
  results.push({ name: 'test-all', passed: 0, failed: 1, secs: secs(T0), note: 'crashed' });
  finish();
});
