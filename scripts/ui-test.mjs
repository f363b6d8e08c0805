#!/usr/bin/env node
// Runs the UI scenarios: every test/ui/*.ui.mjs, against ONE code-server with the packaged .vsix installed (no
// development payload: the workbench behaves as for a user). Each scenario gets a fresh browser profile, a fresh copy of
// the fixture workspace and a fresh extension host; its window is closed gracefully afterwards so that the extension
// deactivates and frees its ports before the next one starts.
//
// A scenario module exports `async function run({ page, harness, workspace, artifacts, assert, log, helpers, manifest,
// extensionId })` and optionally `timeout` (ms, default 90000), `fixture` (workspace folder to copy, relative to the repo
// root; default test/ui/fixtures/workspace, then test/e2e/fixtures/workspace, else an empty folder). User settings are
// shared by the whole run; per-scenario settings belong in the fixture's .vscode/settings.json.
//
// Env: AUTOCONNECT_NETWORKS_FILE is set for code-server to <run dir>/networks.json (see trust.ui.mjs);
//   INSTALL_VSIX (default autoconnect-update-server.vsix), UI_DIR (default test/ui), UI_FILTER (substring of file
//   names), UI_MANIFEST (package.json used to map view ids to titles; default the repo's), KEEP_TEST_DIRS=1, HEADED=1.
// Output: one line per scenario and the closing line `ui: N passed, N failed`; screenshots in .test-artifacts/ui/<name>/.
// Exit: 0 all passed, 1 a scenario failed, 3 setup error (no scenarios, no .vsix), 4 code-server did not start.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import * as helpers from './code-server-harness.mjs';

const { REPO_ROOT, log, createHarness, withTimeout } = helpers;
const uiDir = path.resolve(process.env.UI_DIR || path.join(REPO_ROOT, 'test', 'ui'));
const vsix = path.resolve(process.env.INSTALL_VSIX || path.join(REPO_ROOT, 'autoconnect-update-server.vsix'));
const manifestPath = path.resolve(process.env.UI_MANIFEST || path.join(REPO_ROOT, 'package.json'));
const artifactsRoot = path.join(REPO_ROOT, '.test-artifacts', 'ui');

function closing(passed, failed, code) {
  process.stdout.write(`ui: ${passed} passed, ${failed} failed\n`);
  process.exitCode = code;
}

function prepareWorkspace(baseDir, name, fixture) {
  const ws = path.join(baseDir, 'ws', name);
  const candidates = fixture
    ? [path.resolve(REPO_ROOT, fixture)]
    : [path.join(uiDir, 'fixtures', 'workspace'), path.join(REPO_ROOT, 'test', 'e2e', 'fixtures', 'workspace')];
  const src = candidates.find((c) => fs.existsSync(c));
  if (fixture && !src) throw new Error(`fixture ${fixture} not found`);
  if (src) fs.cpSync(src, ws, { recursive: true });
  else fs.mkdirSync(ws, { recursive: true });
  return ws;
}

async function main() {
  const filter = process.env.UI_FILTER || '';
  const files = fs.existsSync(uiDir)
    ? fs
        .readdirSync(uiDir)
        .filter((f) => f.endsWith('.ui.mjs') && f.includes(filter))
        .sort()
    : [];
  if (files.length === 0) {
    log(`no *.ui.mjs scenarios in ${uiDir}${filter ? ` matching "${filter}"` : ''}`);
    return closing(0, 1, 3);
  }
  if (!fs.existsSync(vsix)) {
    log(`${vsix} not found: run \`npm run package\` first`);
    return closing(0, files.length, 3);
  }
  let manifest = {};
  try {
    manifest = JSON.parse(fs.readFileSync(manifestPath, 'utf8'));
  } catch {
    /* scenarios that need it will say so */
  }
  const extensionId = `${manifest.publisher}.${manifest.name}`;

  const t0 = Date.now();
  let harness;
  try {
    harness = createHarness({ name: 'ui-test' });
    // The machine's networks come from this file while it exists (the core's network seam); a scenario that needs a
    // particular network writes it and removes it when done, the others see the real interfaces.
    harness.setEnv({ AUTOCONNECT_NETWORKS_FILE: path.join(harness.baseDir, 'networks.json') });
    await harness.installVsix(vsix);
    await harness.start();
  } catch (e) {
    log(`cannot start the test host: ${e && e.stack ? e.stack : e}`);
    if (harness) {
      await harness.saveLogs(path.join(artifactsRoot, '_host')).catch(() => {});
      await harness.stop({ keep: true });
    }
    return closing(0, files.length, e && e.exitCode ? e.exitCode : 3);
  }

  let passed = 0;
  let failed = 0;
  const failures = [];
  for (const file of files) {
    const name = file.replace(/\.ui\.mjs$/, '');
    const artifacts = path.join(artifactsRoot, name);
    fs.rmSync(artifacts, { recursive: true, force: true });
    fs.mkdirSync(artifacts, { recursive: true });
    const ts = Date.now();
    let win = null;
    let error = null;
    const lines = [];
    const slog = (...a) => {
      const s = a.map((x) => (typeof x === 'string' ? x : JSON.stringify(x))).join(' ');
      lines.push(s);
      process.stderr.write(`    [${name}] ${s}\n`);
    };
    try {
      const mod = await import(pathToFileURL(path.join(uiDir, file)).href);
      if (typeof mod.run !== 'function') throw new Error(`${file} does not export run()`);
      const timeout = Number(mod.timeout) || 90000;
      const workspace = prepareWorkspace(harness.baseDir, name, mod.fixture);
      // A scenario may name a .code-workspace file inside its fixture to open a multi-root workspace.
      win = mod.workspaceFile
        ? await harness.openWorkbench({ workspace: path.join(workspace, mod.workspaceFile) })
        : await harness.openWorkbench({ folder: workspace });
      const result = withTimeout(
        mod.run({
          page: win.page,
          context: win.context,
          harness,
          workspace,
          artifacts,
          assert,
          log: slog,
          helpers,
          manifest,
          extensionId,
        }),
        timeout,
        Symbol.for('timeout'),
      );
      if ((await result) === Symbol.for('timeout')) throw new Error(`scenario timed out after ${timeout} ms`);
    } catch (e) {
      error = e;
    }
    if (win) {
      await helpers.screenshot(win.page, path.join(artifacts, error ? 'failure.png' : 'final.png')).catch(() => {});
      fs.writeFileSync(path.join(artifacts, 'browser-console.log'), `${win.consoleLines.join('\n')}\n`);
    }
    if (lines.length) fs.writeFileSync(path.join(artifacts, 'scenario.log'), `${lines.join('\n')}\n`);
    const secs = ((Date.now() - ts) / 1000).toFixed(1);
    if (error) {
      failed++;
      failures.push({ name, error });
      process.stdout.write(
        `  ✖ ${name} (${secs}s)\n      ${String(error && error.stack ? error.stack : error)
          .split('\n')
          .join('\n      ')}\n`,
      );
      const extensionLog = harness.extensionLog(extensionId).trimEnd();
      if (extensionLog) {
        const tail = extensionLog.split('\n').slice(-40);
        process.stdout.write(
          `      the extension's log (last ${tail.length} lines):\n        ${tail.join('\n        ')}\n`,
        );
      }
    } else {
      passed++;
      process.stdout.write(`  ✔ ${name} (${secs}s)\n`);
    }
    if (win) await harness.closeWindow(win).catch((e) => log(`closing the window: ${e.message}`));
  }

  if (failed) await harness.saveLogs(path.join(artifactsRoot, '_host')).catch(() => {});
  await harness.stop();
  log(
    `ui scenarios done in ${((Date.now() - t0) / 1000).toFixed(1)}s; artifacts in ${path.relative(process.cwd(), artifactsRoot)}`,
  );
  closing(passed, failed, failed ? 1 : 0);
}

for (const sig of ['SIGINT', 'SIGTERM']) process.once(sig, () => process.exit(130));
main()
  .catch((e) => {
    log(`unexpected: ${e && e.stack ? e.stack : e}`);
    closing(0, 1, 3);
  })
  // A scenario that failed half-way may leave its own device sockets open (a slow reader never released): the
  // verdict is written, so do not wait for them.
  .then(() => process.exit());
