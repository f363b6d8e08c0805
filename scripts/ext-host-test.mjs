#!/usr/bin/env node
// Runs the in-host mocha suite (out/test/e2e/suite/index.js → every *.test.js next to it) inside a real VS Code 1.100
// extension host: code-server + headless Chromium opening the workbench with the extensionDevelopmentPath /
// extensionTestsPath payload (how and why: test/README.md, "The test host").
//
// Modes:
//   node scripts/ext-host-test.mjs                           the extension from the repo folder (dist/ must be built)
//   INSTALL_VSIX=autoconnect-update-server.vsix node …       the PACKAGED extension: the .vsix is installed into the
//        run's extensions dir and the development path is an empty stub extension, so the tests talk to the installed
//        copy (the suite's first test asserts that the extension really runs from the extensions dir).
// Env: E2E_WORKSPACE (folder to open; default: a temp copy of test/e2e/fixtures/workspace, else an empty temp dir),
//   E2E_TESTS_PATH (default out/test/e2e/suite/index), E2E_EXTENSION_DEV_PATH (default: repo root),
//   E2E_EXTENSION_ID (default: publisher.name from the dev path's package.json), TEST_TIMEOUT_MS (default 180000),
//   MOCHA_GREP, MOCHA_TIMEOUT, E2E_LABEL (prefix of the closing line, default "exthost"), KEEP_TEST_DIRS=1.
//   Every other env var is passed on to code-server and so to the extension host.
// Exit: 0 all passed, 1 test failures, 2 timeout, 3 driver/setup error, 4 code-server did not start,
//   6 extension host died before the suite finished (no results file).
// Output: mocha's spec report, then the closing line `exthost: N passed, N failed`.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as util from 'node:util';
import { createHarness, log, REPO_ROOT, sleep } from './code-server-harness.mjs';

const LABEL = process.env.E2E_LABEL || 'exthost';
const TIMEOUT = Number(process.env.TEST_TIMEOUT_MS) || 180000;
const vsix = process.env.INSTALL_VSIX ? path.resolve(process.env.INSTALL_VSIX) : '';
const devPath = path.resolve(process.env.E2E_EXTENSION_DEV_PATH || REPO_ROOT);
const testsPath = path.resolve(
  process.env.E2E_TESTS_PATH || path.join(REPO_ROOT, 'out', 'test', 'e2e', 'suite', 'index'),
);
const mode = vsix ? 'vsix' : 'dev';
const artifacts = path.join(REPO_ROOT, '.test-artifacts', `${LABEL}-${mode}`);

function closing(passed, failed, code) {
  process.stdout.write(`${LABEL}: ${passed} passed, ${failed} failed\n`);
  process.exitCode = code;
}

/** codeAutomationLog gets console-style args (`'  %d passing (%s)', 5, '32ms'`; %c CSS is dropped by format). */
function formatLog(args) {
  if (!Array.isArray(args)) return String(args);
  return util.format(...args).replace(/^\[Extension Host\]\s?/, '');
}

/** The workbench's own chatter, also sent through codeAutomationLog (kept in the raw log only). */
const NOISE =
  /^(Resolving connection token|Resolved connection token|Creating a socket|Ignoring fetching additional builtin|Updating additional builtin|\[Service Worker\]|ChatSessionStore|Started local extension host|Extension host with pid)/;

function readManifestId(dir) {
  try {
    const pj = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
    return { id: `${pj.publisher}.${pj.name}`, main: pj.main };
  } catch {
    return { id: '', main: '' };
  }
}

function prepareWorkspace(baseDir) {
  if (process.env.E2E_WORKSPACE) return path.resolve(process.env.E2E_WORKSPACE);
  const ws = path.join(baseDir, 'workspace');
  const fixture = path.join(REPO_ROOT, 'test', 'e2e', 'fixtures', 'workspace');
  if (fs.existsSync(fixture)) fs.cpSync(fixture, ws, { recursive: true });
  else fs.mkdirSync(ws, { recursive: true });
  return ws;
}

async function main() {
  // ---- preconditions: fail clearly instead of timing out in the workbench
  if (!fs.existsSync(`${testsPath}.js`) && !fs.existsSync(testsPath)) {
    log(`test runner ${testsPath}.js not found: run \`npm run build:test\` first`);
    return closing(0, 1, 3);
  }
  const manifest = readManifestId(devPath);
  const extId = process.env.E2E_EXTENSION_ID || manifest.id;
  if (vsix && !fs.existsSync(vsix)) {
    log(`INSTALL_VSIX=${vsix} does not exist: run \`npm run package\` first`);
    return closing(0, 1, 3);
  }
  if (
    !vsix &&
    manifest.main &&
    !fs.existsSync(path.resolve(devPath, manifest.main)) &&
    !fs.existsSync(path.resolve(devPath, `${manifest.main}.js`))
  ) {
    log(`${path.resolve(devPath, manifest.main)} not found: run \`npm run build\` first`);
    return closing(0, 1, 3);
  }

  let harness;
  try {
    harness = createHarness({ name: `exthost-${mode}` });
  } catch (e) {
    log(`cannot set up the test host: ${e.message}`);
    return closing(0, 1, 3);
  }
  const resultsFile = path.join(harness.baseDir, 'results.json');
  let extensionDevelopmentPath = devPath;
  if (vsix) {
    // A development path is required for the workbench to run extensionTestsPath at all; an empty stub extension
    // (different id, no code) satisfies it without shadowing the installed .vsix.
    extensionDevelopmentPath = path.join(harness.baseDir, 'e2e-runner-stub');
    fs.mkdirSync(extensionDevelopmentPath, { recursive: true });
    fs.writeFileSync(
      path.join(extensionDevelopmentPath, 'package.json'),
      JSON.stringify(
        { name: 'e2e-runner-stub', publisher: 'e2e-test', version: '0.0.0', engines: { vscode: '*' } },
        null,
        2,
      ),
    );
  }
  harness.setEnv({
    VSCODE_TEST_RESULTS: resultsFile,
    E2E_MODE: mode,
    ...(extId
      ? { E2E_EXPECT_EXTENSION_ID: extId, E2E_EXPECT_EXTENSION_UNDER: vsix ? harness.extensionsDir : devPath }
      : {}),
  });

  const rawLog = [];
  let code = 3;
  let summary = null;
  let page = null;
  const t0 = Date.now();
  try {
    if (vsix) await harness.installVsix(vsix);
    await harness.start();
    const workspace = prepareWorkspace(harness.baseDir);
    let exitCode = null;
    let resolveExit;
    const exited = new Promise((r) => (resolveExit = r));
    const opened = await harness.openWorkbench({
      folder: workspace,
      extensionDevelopmentPath,
      extensionTestsPath: testsPath,
      wait: false,
      onLog: (type, args) => {
        const text = formatLog(args);
        rawLog.push(`[${type}] ${text}`);
        if (NOISE.test(text)) return;
        (type === 'error' ? process.stderr : process.stdout).write(`${text}\n`);
      },
      onExit: (c) => {
        exitCode = c;
        resolveExit('exit');
      },
    });
    page = opened.page;
    const crashed = new Promise((r) => page.once('crash', () => r('crash')));
    const serverDied = harness.exited.then(() => 'server-exit');
    let timer;
    const timedOut = new Promise((r) => (timer = setTimeout(() => r('timeout'), TIMEOUT)));
    const why = await Promise.race([exited, crashed, serverDied, timedOut]);
    clearTimeout(timer);
    const elapsed = ((Date.now() - t0) / 1000).toFixed(1);
    log(`${why === 'exit' ? `extension host exit: ${exitCode}` : why} after ${elapsed}s`);

    // the host writes the results file before its run() settles; allow a moment for slow disks
    if (why === 'exit') await sleep(50);
    if (fs.existsSync(resultsFile)) summary = JSON.parse(fs.readFileSync(resultsFile, 'utf8'));

    if (why === 'timeout') {
      log(`timed out after ${TIMEOUT} ms (TEST_TIMEOUT_MS): the suite did not finish`);
      code = 2;
    } else if (why !== 'exit') {
      log(`${why === 'crash' ? 'the browser page crashed' : 'code-server exited'} before the suite finished`);
      code = 6;
    } else if (!summary) {
      log(`no results file from the test runner (${resultsFile}): the extension host died or the runner never loaded`);
      code = 6;
    } else {
      code = exitCode === 0 && summary.failed === 0 ? 0 : 1;
      if (exitCode !== 0 && summary.failed === 0)
        log(`runner reported no failures but the host exit code is ${exitCode}`);
    }
  } catch (e) {
    log(`driver error: ${e && e.stack ? e.stack : e}`);
    code = e && e.exitCode ? e.exitCode : 3;
  }

  if (code !== 0) {
    try {
      fs.mkdirSync(artifacts, { recursive: true });
      if (page) await page.screenshot({ path: path.join(artifacts, 'workbench.png') }).catch(() => {});
      await harness.saveLogs(artifacts);
      fs.writeFileSync(path.join(artifacts, 'host-console.log'), rawLog.join('\n') + '\n');
      if (fs.existsSync(resultsFile)) fs.copyFileSync(resultsFile, path.join(artifacts, 'results.json'));
      log(`artifacts in ${path.relative(process.cwd(), artifacts) || artifacts}`);
      if (code === 6 || code === 2 || code === 3 || code === 4)
        process.stderr.write(`--- code-server log (tail) ---\n${harness.tailLog(30)}\n`);
    } catch {
      /* best effort */
    }
  }
  const tStop = Date.now();
  await harness.stop();
  log(`stopped in ${Date.now() - tStop} ms; total ${((Date.now() - t0) / 1000).toFixed(1)}s`);
  const passed = summary ? summary.passed : 0;
  const failed = summary ? summary.failed : 0;
  closing(passed, code === 0 ? failed : Math.max(failed, 1), code);
}

main().catch((e) => {
  log(`unexpected: ${e && e.stack ? e.stack : e}`);
  closing(0, 1, 3);
});

// keep a stray extension host from outliving us on Ctrl+C
for (const sig of ['SIGINT', 'SIGTERM']) process.once(sig, () => process.exit(130));
