#!/usr/bin/env node
// The in-host mocha suite (out/test/e2e/suite/index.js) in desktop VS Code through @vscode/test-electron, for
// machines that can reach update.code.visualstudio.com (it downloads VS Code into ~/.cache/vscode-test-host/). On the CI machine
// that download is impossible: use scripts/ext-host-test.mjs (code-server), which runs the same suite.
//
//   npm run test:electron                         the extension from the repo folder (npm run build && build:test first)
//   INSTALL_VSIX=autoconnect-update-server.vsix npm run test:electron    the packaged extension (installed first)
// Env: VSCODE_VERSION (default "stable"; e.g. "1.90.0" for the oldest supported), E2E_WORKSPACE, MOCHA_GREP,
//   MOCHA_TIMEOUT. On Linux without a display run it under `xvfb-run -a`.
// Exit codes and closing line as scripts/ext-host-test.mjs: 0 pass, 1 failures, 3 setup error (e.g. download failed),
// 6 no results file (host crashed); `exthost: N passed, N failed`.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const version = process.env.VSCODE_VERSION || 'stable';
const vsix = process.env.INSTALL_VSIX ? path.resolve(process.env.INSTALL_VSIX) : '';
const testsPath = path.join(ROOT, 'out', 'test', 'e2e', 'suite', 'index');
const log = (s) => process.stderr.write(`[test-electron] ${s}\n`);

function closing(passed, failed, code) {
  process.stdout.write(`exthost: ${passed} passed, ${failed} failed\n`);
  process.exitCode = code;
}

async function main() {
  if (!fs.existsSync(`${testsPath}.js`)) {
    log(`${testsPath}.js not found: run \`npm run build:test\` first`);
    return closing(0, 1, 3);
  }
  if (vsix && !fs.existsSync(vsix)) {
    log(`INSTALL_VSIX=${vsix} not found: run \`npm run package\` first`);
    return closing(0, 1, 3);
  }
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  const extId = `${pkg.publisher}.${pkg.name}`;
  if (!vsix && !fs.existsSync(path.join(ROOT, pkg.main))) {
    log(`${pkg.main} not found: run \`npm run build\` first`);
    return closing(0, 1, 3);
  }
  if (process.platform === 'linux' && !process.env.DISPLAY && !process.env.WAYLAND_DISPLAY) {
    log('warning: no DISPLAY; desktop VS Code needs one (run under `xvfb-run -a`)');
  }

  let te;
  try {
    te = await import('@vscode/test-electron');
  } catch (e) {
    log(`@vscode/test-electron is not installed (npm ci): ${e.message}`);
    return closing(0, 1, 3);
  }

  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'test-electron-'));
  const extensionsDir = path.join(tmp, 'extensions');
  const userDataDir = path.join(tmp, 'user-data');
  const resultsFile = path.join(tmp, 'results.json');
  const workspace = process.env.E2E_WORKSPACE ? path.resolve(process.env.E2E_WORKSPACE) : path.join(tmp, 'workspace');
  if (!process.env.E2E_WORKSPACE) {
    const fixture = path.join(ROOT, 'test', 'e2e', 'fixtures', 'workspace');
    if (fs.existsSync(fixture)) fs.cpSync(fixture, workspace, { recursive: true });
    else fs.mkdirSync(workspace, { recursive: true });
  }

  // outside the repo, next to the code-server install of scripts/install-test-host.sh
  const cachePath =
    process.env.VSCODE_TEST_CACHE ||
    path.join(
      process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'),
      'vscode-test-host',
      'vscode-test-electron',
    );
  let vscodeExecutablePath;
  try {
    log(`downloading VS Code ${version} (cached in ${cachePath})`);
    vscodeExecutablePath = await te.downloadAndUnzipVSCode({ version, cachePath });
  } catch (e) {
    log(
      `could not download VS Code ${version}: ${e && e.message ? e.message : e}\n` +
        '  @vscode/test-electron needs https access to update.code.visualstudio.com. Without it (as on the CI machine)\n' +
        '  run the same suite in code-server instead: `node scripts/ext-host-test.mjs` (see scripts/install-test-host.sh).',
    );
    fs.rmSync(tmp, { recursive: true, force: true });
    return closing(0, 1, 3);
  }

  let extensionDevelopmentPath = ROOT;
  if (vsix) {
    const [cli, ...cliArgs] = te.resolveCliArgsFromVSCodeExecutablePath(vscodeExecutablePath);
    const r = spawnSync(
      cli,
      [
        ...cliArgs.filter((a) => !/^--(extensions|user-data)-dir/.test(a)),
        `--extensions-dir=${extensionsDir}`,
        `--user-data-dir=${userDataDir}`,
        '--install-extension',
        vsix,
        '--force',
      ],
      {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
        shell: process.platform === 'win32',
      },
    );
    if (r.status !== 0) {
      log(`installing ${vsix} failed (exit ${r.status}):\n${r.stdout}${r.stderr}`);
      return closing(0, 1, 3);
    }
    // the workbench runs extensionTestsPath only with a development path: an empty stub that does not shadow the vsix
    extensionDevelopmentPath = path.join(tmp, 'e2e-runner-stub');
    fs.mkdirSync(extensionDevelopmentPath, { recursive: true });
    fs.writeFileSync(
      path.join(extensionDevelopmentPath, 'package.json'),
      JSON.stringify({ name: 'e2e-runner-stub', publisher: 'e2e-test', version: '0.0.0', engines: { vscode: '*' } }),
    );
  }

  let code;
  try {
    code = await te.runTests({
      vscodeExecutablePath,
      extensionDevelopmentPath,
      extensionTestsPath: testsPath,
      extensionTestsEnv: {
        VSCODE_TEST_RESULTS: resultsFile,
        E2E_MODE: vsix ? 'vsix' : 'dev',
        E2E_EXPECT_EXTENSION_ID: extId,
        E2E_EXPECT_EXTENSION_UNDER: vsix ? extensionsDir : ROOT,
      },
      launchArgs: [
        workspace,
        `--extensions-dir=${extensionsDir}`,
        `--user-data-dir=${userDataDir}`,
        '--disable-workspace-trust',
        '--skip-welcome',
        '--skip-release-notes',
        '--disable-gpu',
      ],
    });
  } catch (e) {
    code = e && typeof e.code === 'number' ? e.code : 1;
    log(`test run ended: ${e && e.message ? e.message : e}`);
  }
  const summary = fs.existsSync(resultsFile) ? JSON.parse(fs.readFileSync(resultsFile, 'utf8')) : null;
  fs.rmSync(tmp, { recursive: true, force: true });
  if (!summary) {
    log('no results file from the test runner: the extension host died or the runner never loaded');
    return closing(0, 1, 6);
  }
  const ok = code === 0 && summary.failed === 0;
  closing(summary.passed, ok ? 0 : Math.max(summary.failed, 1), ok ? 0 : 1);
}

main().catch((e) => {
  log(`unexpected: ${e && e.stack ? e.stack : e}`);
  closing(0, 1, 3);
});
