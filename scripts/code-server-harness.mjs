// Test harness: a real VS Code 1.100 server + web workbench (code-server 4.100.3 from npm) driven by headless Debian
// Chromium through playwright-core. Used by scripts/ext-host-test.mjs (in-host mocha suite) and scripts/ui-test.mjs
// (UI scenarios). How the suites run, the recipe and its gotchas: test/README.md.
//
//   const h = await startCodeServer({ env: { MY_FLAG: '1' }, vsix: 'x.vsix' });
//   const { page } = await h.openWorkbench({ folder: '/abs/ws' });          // or with extensionDevelopmentPath/TestsPath
//   await runCommand(page, 'AutoConnect: Start Update Server');
//   console.log(await statusBarText(page, 'autoconnect-ota.autoconnect-update-server.autoconnect.status'));
//   await h.stop();
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const CS_VERSION = '4.100.3';
export const EXTENSION_ID = 'autoconnect-ota.autoconnect-update-server';
/** DOM id of the extension's status bar item (`<publisher>.<name>.<item id>`). */
export const STATUS_ITEM_ID = `${EXTENSION_ID}.autoconnect.status`;
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

const T0 = Date.now();
/** Log to stderr with the time since the process started: `[harness 1.2s] …`. */
export function log(...args) {
  process.stderr.write(`[harness ${((Date.now() - T0) / 1000).toFixed(1)}s] ${args.join(' ')}\n`);
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Resolves with the promise's value, or `fallback` after ms (the timer never keeps the process alive). */
export function withTimeout(promise, ms, fallback = null) {
  let t;
  const timer = new Promise((r) => {
    t = setTimeout(() => r(fallback), ms);
    t.unref?.();
  });
  return Promise.race([Promise.resolve(promise).finally(() => clearTimeout(t)), timer]);
}

/** Poll `fn` until it returns a truthy value (returned) or `timeout` ms pass (then throws `what` + last error/value). */
export async function waitFor(fn, { timeout = 10000, interval = 100, what = 'condition' } = {}) {
  const end = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
      last = v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) {
      const detail = last instanceof Error ? last.message : JSON.stringify(last);
      throw new Error(`timed out after ${timeout} ms waiting for ${what} (last: ${detail})`);
    }
    await sleep(interval);
  }
}

/** A free TCP port on 127.0.0.1 (the OS picks it; tiny race until code-server binds it, retried by start()). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Path of the code-server executable: $CODE_SERVER, else the cache dir of scripts/install-test-host.sh, else runs
 * that script (which installs apt deps + code-server, or fails loudly). Never returns a missing binary.
 */
export function findCodeServer() {
  const fromEnv = process.env.CODE_SERVER;
  if (fromEnv) {
    if (!fs.existsSync(fromEnv)) throw new Error(`CODE_SERVER=${fromEnv} does not exist`);
    return fromEnv;
  }
  const cacheRoot = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  const dest =
    process.env.VSCODE_TEST_HOST_DIR || path.join(cacheRoot, 'vscode-test-host', `code-server-${CS_VERSION}`);
  const bin = path.join(dest, 'node_modules', '.bin', 'code-server');
  if (fs.existsSync(path.join(dest, '.complete')) && fs.existsSync(bin) && fs.existsSync(CHROMIUM_PATH)) return bin;
  log('code-server not installed yet: running scripts/install-test-host.sh');
  const r = spawnSync('bash', [path.join(REPO_ROOT, 'scripts', 'install-test-host.sh')], {
    stdio: ['ignore', 'pipe', 'inherit'],
    encoding: 'utf8',
  });
  const out = (r.stdout || '').trim().split('\n').pop();
  if (r.status !== 0 || !out || !fs.existsSync(out)) {
    throw new Error(`scripts/install-test-host.sh failed (exit ${r.status}); cannot run VS Code tests`);
  }
  return out;
}

/** User settings for a quiet, deterministic workbench (see the recipe's Gotchas). */
export const DEFAULT_SETTINGS = {
  'workbench.startupEditor': 'none',
  'workbench.tips.enabled': false,
  'workbench.enableExperiments': false,
  'workbench.welcomePage.walkthroughs.openOnInstall': false,
  'telemetry.telemetryLevel': 'off',
  'security.workspace.trust.enabled': false,
  'update.mode': 'none',
  'extensions.autoUpdate': false,
  'extensions.autoCheckUpdates': false,
  'extensions.ignoreRecommendations': true,
  'chat.disableAIFeatures': true,
  'git.enabled': false,
  'git.openRepositoryInParentFolders': 'never',
};

/** Chromium flags: root needs --no-sandbox; the rest keeps a headless run off the network and quiet. */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-dev-shm-usage',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-background-timer-throttling',
  '--disable-backgrounding-occluded-windows',
  '--disable-renderer-backgrounding',
  '--disable-component-update',
  '--disable-default-apps',
  '--disable-domain-reliability',
  '--disable-breakpad',
  '--disable-sync',
  '--disable-features=Translate,OptimizationHints,MediaRouter,CertificateTransparencyComponentUpdater',
  '--metrics-recording-only',
  '--no-first-run',
  '--no-default-browser-check',
  '--no-pings',
  '--password-store=basic',
  '--use-mock-keychain',
];

function cleanEnv(base) {
  const env = { ...base };
  // When run from a VS Code terminal, these would make code-server/its extension host talk to the outer editor.
  for (const k of Object.keys(env)) {
    if (/^VSCODE_(IPC_HOOK|PID|CWD|NLS|HANDLES|CRASH|AMD|ESM|CODE_CACHE|INJECT|GIT|CLI)/.test(k)) delete env[k];
    if (k === 'ELECTRON_RUN_AS_NODE' || k === 'ELECTRON_NO_ATTACH_CONSOLE') delete env[k];
  }
  return env;
}

/**
 * Creates (does not start) a harness with its own temp dirs.
 * @param {object} [opts]
 * @param {Record<string,string>} [opts.env]   extra env for code-server; the extension host inherits it
 * @param {object} [opts.settings]             user settings merged over DEFAULT_SETTINGS
 * @param {string} [opts.codeServer]           executable (default: findCodeServer())
 * @param {string} [opts.name]                 temp dir prefix
 */
export function createHarness(opts = {}) {
  return new Harness(opts);
}

/** createHarness(opts) + installVsix(opts.vsix) (if given) + start(). */
export async function startCodeServer(opts = {}) {
  const h = createHarness(opts);
  try {
    for (const v of [].concat(opts.vsix || [])) await h.installVsix(v);
    await h.start();
  } catch (e) {
    await h.stop({ keep: true });
    throw e;
  }
  return h;
}

export class Harness {
  constructor(opts = {}) {
    this.opts = opts;
    this.codeServer = opts.codeServer || findCodeServer();
    this.baseDir = fs.mkdtempSync(path.join(os.tmpdir(), `${opts.name || 'vscode-test'}-`));
    this.userDataDir = path.join(this.baseDir, 'user-data');
    this.extensionsDir = path.join(this.baseDir, 'extensions');
    this.xdgDataHome = path.join(this.baseDir, 'xdg-data');
    this.configFile = path.join(this.baseDir, 'config.yaml');
    this.logFile = path.join(this.baseDir, 'code-server.log');
    for (const d of [this.userDataDir, path.join(this.userDataDir, 'User'), this.extensionsDir, this.xdgDataHome]) {
      fs.mkdirSync(d, { recursive: true });
    }
    fs.writeFileSync(this.configFile, '');
    fs.writeFileSync(
      path.join(this.userDataDir, 'User', 'settings.json'),
      JSON.stringify({ ...DEFAULT_SETTINGS, ...(opts.settings || {}) }, null, 2),
    );
    this.env = cleanEnv({
      ...process.env,
      EXTENSIONS_GALLERY: '{}', // no open-vsx.org lookups
      XDG_DATA_HOME: this.xdgDataHome, // code-server's coder-logs/heartbeat, else ~/.local/share/code-server
      ...(opts.env || {}),
    });
    this.proc = null;
    this.port = 0;
    this.url = '';
    this.contexts = new Set();
    this.exited = null;
    // on an abrupt exit (Ctrl+C, process.exit) the server group dies with us and the temp dir goes too
    this._onSignal = () => {
      this._killSync();
      if (process.env.KEEP_TEST_DIRS !== '1') fs.rmSync(this.baseDir, { recursive: true, force: true });
    };
  }

  /** Adds env vars for code-server (and thus for every extension host it starts later). Before start() only. */
  setEnv(vars) {
    if (this.proc) throw new Error('setEnv() after start(): the running server keeps its env');
    Object.assign(this.env, vars);
  }

  _csArgs() {
    return ['--config', this.configFile, '--user-data-dir', this.userDataDir, '--extensions-dir', this.extensionsDir];
  }

  /** Installs a .vsix into this harness's extensions dir (works before or while the server runs; ~1 s). */
  async installVsix(vsixPath) {
    const abs = path.resolve(vsixPath);
    if (!fs.existsSync(abs)) throw new Error(`vsix not found: ${abs}`);
    const t = Date.now();
    const r = spawnSync(this.codeServer, [...this._csArgs(), '--install-extension', abs, '--force'], {
      env: this.env,
      encoding: 'utf8',
      timeout: 120000,
    });
    const out = `${r.stdout || ''}${r.stderr || ''}`.trim();
    if (r.status !== 0) throw new Error(`installing ${abs} failed (exit ${r.status}):\n${out}`);
    const installed = this.listExtensions();
    log(`installed ${path.basename(abs)} in ${Date.now() - t} ms → ${installed.join(', ') || '(nothing listed!)'}`);
    if (!installed.length) throw new Error(`installing ${abs} reported success but no extension is listed:\n${out}`);
    return installed;
  }

  /** `publisher.name@version` of every extension installed in this harness's extensions dir. */
  listExtensions() {
    const r = spawnSync(this.codeServer, [...this._csArgs(), '--list-extensions', '--show-versions'], {
      env: this.env,
      encoding: 'utf8',
      timeout: 60000,
    });
    return (r.stdout || '')
      .split('\n')
      .map((s) => s.trim())
      .filter((s) => /^[\w.-]+\.[\w.-]+@/.test(s));
  }

  /** Starts code-server on a free port and waits for /healthz. Retries once on a port race. */
  async start({ timeout = 30000 } = {}) {
    if (this.proc) return this;
    for (let attempt = 1; ; attempt++) {
      try {
        await this._startOnce(timeout);
        return this;
      } catch (e) {
        this._killSync();
        if (attempt >= 2 || !/EADDRINUSE|exited/.test(String(e.message))) {
          e.exitCode = 4;
          throw e;
        }
        log(`code-server start failed (${e.message}); retrying on another port`);
      }
    }
  }

  async _startOnce(timeout) {
    this.port = await freePort();
    this.url = `http://127.0.0.1:${this.port}`;
    const args = [
      ...this._csArgs(),
      '--bind-addr',
      `127.0.0.1:${this.port}`,
      '--auth',
      'none',
      '--disable-telemetry',
      '--disable-update-check',
      '--disable-workspace-trust',
      '--disable-getting-started-override',
      '--ignore-last-opened',
    ];
    const logFd = fs.openSync(this.logFile, 'a');
    const proc = spawn(this.codeServer, args, {
      env: this.env,
      cwd: this.baseDir,
      detached: true, // own process group: stop() kills code-server, its entry child and all extension hosts
      stdio: ['ignore', logFd, logFd],
    });
    fs.closeSync(logFd);
    this.proc = proc;
    this.exited = new Promise((resolve) => proc.once('exit', (code, sig) => resolve({ code, sig })));
    proc.once('error', (e) => log(`code-server spawn error: ${e.message}`));
    // one listener, however many start attempts (a port race retries): stop() removes it, keep:true keeps the dir
    process.removeListener('exit', this._onSignal);
    process.once('exit', this._onSignal);
    let dead = null;
    this.exited.then((r) => (dead = r));
    const t = Date.now();
    await waitFor(
      async () => {
        if (dead) throw new Error(`code-server exited (${JSON.stringify(dead)}): ${this.tailLog(20)}`);
        const res = await fetch(`${this.url}/healthz`, { signal: AbortSignal.timeout(1000) });
        return res.ok;
      },
      { timeout, interval: 100, what: `code-server /healthz on ${this.url}` },
    ).catch((e) => {
      if (dead) throw new Error(`code-server exited (${JSON.stringify(dead)}): ${this.tailLog(20)}`);
      throw e;
    });
    log(`code-server ${proc.pid} ready at ${this.url} in ${Date.now() - t} ms (dir: ${this.baseDir})`);
  }

  /** Last n lines of code-server's log (stdout+stderr). */
  tailLog(n = 40) {
    try {
      return fs.readFileSync(this.logFile, 'utf8').split('\n').slice(-n).join('\n');
    } catch {
      return '';
    }
  }

  /** `vscode-remote://127.0.0.1:PORT/abs/path`: how the workbench addresses a file on the server. */
  remoteUri(absPath) {
    return `vscode-remote://127.0.0.1:${this.port}${path.resolve(absPath)}`;
  }

  /**
   * Workbench URL for a folder; with extensionDevelopmentPath/extensionTestsPath (server paths) it adds the
   * `payload` that makes the workbench start a development extension host and run the test module in it.
   */
  workbenchUrl({ folder, workspace, extensionDevelopmentPath, extensionTestsPath, payload = [] } = {}) {
    const q = [];
    if (folder) q.push(`folder=${encodeURIComponent(path.resolve(folder))}`);
    // a multi-root workspace: the path of a .code-workspace file
    if (workspace) q.push(`workspace=${encodeURIComponent(path.resolve(workspace))}`);
    const p = [];
    for (const d of [].concat(extensionDevelopmentPath || [])) p.push(['extensionDevelopmentPath', this.remoteUri(d)]);
    if (extensionTestsPath) p.push(['extensionTestsPath', this.remoteUri(extensionTestsPath)]);
    p.push(...payload);
    if (p.length) q.push(`payload=${encodeURIComponent(JSON.stringify(p))}`);
    return `${this.url}/${q.length ? `?${q.join('&')}` : ''}`;
  }

  /**
   * Launches a fresh headless Chromium profile (playwright-core, launchPersistentContext) tracked for stop().
   * @returns {Promise<{context, page}>}
   */
  async launchBrowser({ viewport = { width: 1440, height: 900 }, headless = process.env.HEADED !== '1' } = {}) {
    if (!fs.existsSync(CHROMIUM_PATH)) {
      const e = new Error(
        `chromium not found at ${CHROMIUM_PATH}: run scripts/install-test-host.sh (or set CHROMIUM_PATH)`,
      );
      e.exitCode = 3;
      throw e;
    }
    const { chromium } = await import('playwright-core');
    const profile = fs.mkdtempSync(path.join(this.baseDir, 'chromium-'));
    const t = Date.now();
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM_PATH,
      headless,
      args: CHROMIUM_ARGS,
      viewport,
      timeout: 60000,
    });
    this.contexts.add(context);
    context.once('close', () => this.contexts.delete(context));
    const page = context.pages()[0] || (await context.newPage());
    log(`chromium up in ${Date.now() - t} ms`);
    return { context, page };
  }

  /**
   * Opens the workbench for `folder` in a fresh browser. Hooks (registered before navigation, as the workbench looks
   * them up): onLog(type, args) ← window.codeAutomationLog (the dev extension host's console), onExit(code) ←
   * window.codeAutomationExit (test runner finished). pageErrors collects uncaught page errors.
   * Waits for `.monaco-workbench` unless wait=false.
   * @returns {Promise<{context, page, url, consoleLines: string[]}>}
   */
  async openWorkbench({
    folder,
    workspace,
    extensionDevelopmentPath,
    extensionTestsPath,
    onLog,
    onExit,
    wait = true,
    timeout = 60000,
    viewport,
  } = {}) {
    if (!this.proc) await this.start();
    const { context, page } = await this.launchBrowser({ viewport });
    const consoleLines = [];
    page.on('console', (m) => {
      if (consoleLines.length < 5000) consoleLines.push(`[${m.type()}] ${m.text()}`);
    });
    page.on('pageerror', (e) => consoleLines.push(`[pageerror] ${e && e.stack ? e.stack : e}`));
    await page.exposeFunction('codeAutomationLog', (type, args) => {
      if (onLog) onLog(type, args);
    });
    await page.exposeFunction('codeAutomationExit', (code) => {
      if (onExit) onExit(code);
    });
    const url = this.workbenchUrl({ folder, workspace, extensionDevelopmentPath, extensionTestsPath });
    const t = Date.now();
    await page.goto(url, { waitUntil: 'domcontentloaded', timeout });
    if (wait) {
      await waitForWorkbench(page, { timeout });
      log(`workbench up in ${Date.now() - t} ms`);
      // code-server 4.100 now and then opens a .code-workspace with none of its folders ("NO FOLDER OPENED"; seen in
      // 2 of 6 windows on an idle machine), and the extension host then starts with no workspace folders either. That
      // is the test host's race, not the extension's: open the window again, as a user would.
      if (workspace) {
        for (let attempt = 1; !(await workspaceFoldersShown(page, workspace)); attempt++) {
          if (attempt > 3)
            throw new Error(
              `the workbench opened ${path.basename(workspace)} without its folders ${attempt - 1} times`,
            );
          log(`the workbench opened ${path.basename(workspace)} without its folders; reloading (attempt ${attempt})`);
          await page.reload({ waitUntil: 'domcontentloaded', timeout });
          await waitForWorkbench(page, { timeout });
        }
      }
    }
    return { context, page, url, consoleLines };
  }

  /** PIDs of the Node extension hosts this code-server currently runs (one per open window, plus lingering ones). */
  extensionHostPids() {
    if (!this.proc) return [];
    const r = spawnSync('ps', ['-eo', 'pid=,pgid=,args='], { encoding: 'utf8' });
    return (r.stdout || '')
      .split('\n')
      .map((l) => l.trim().match(/^(\d+)\s+(\d+)\s+(.*)$/))
      .filter((m) => m && Number(m[2]) === this.proc.pid && /--type=extensionHost\b/.test(m[3]))
      .map((m) => Number(m[1]));
  }

  /**
   * Closes a window opened by openWorkbench so that its extension host shuts down (deactivate() runs): the page first
   * navigates away (a graceful unload; closing the browser directly leaves the host waiting for a reconnection for
   * hours, keeping ports and files busy), then the browser closes. Waits up to `timeout` for the host to exit.
   */
  async closeWindow({ context, page }, { timeout = 10000 } = {}) {
    const before = new Set(this.extensionHostPids());
    if (page && !page.isClosed())
      await withTimeout(
        page.goto('about:blank').catch(() => {}),
        10000,
      );
    if (context)
      await withTimeout(
        context.close().catch(() => {}),
        10000,
      );
    if (context) this.contexts.delete(context);
    if (before.size === 0) return;
    // the window's host is the one that goes away; others (older windows) are not ours to wait for
    const t = Date.now();
    await waitFor(() => this.extensionHostPids().filter((p) => before.has(p)).length < before.size, {
      timeout,
      interval: 100,
      what: 'the extension host to exit',
    }).catch((e) => log(`warning: ${e.message}`));
    log(`window closed, extension host gone in ${Date.now() - t} ms`);
  }

  _killSync(sig = 'SIGKILL') {
    if (this.proc && this.proc.exitCode === null && this.proc.signalCode === null) {
      try {
        process.kill(-this.proc.pid, sig);
      } catch {
        /* already gone */
      }
    }
  }

  /** Closes every browser, SIGTERMs code-server's process group (SIGKILL after 5 s), removes the temp dir unless keep. */
  async stop({ keep = process.env.KEEP_TEST_DIRS === '1' } = {}) {
    for (const c of [...this.contexts]) {
      await withTimeout(
        c.close().catch(() => {}),
        10000,
      );
    }
    this.contexts.clear();
    if (this.proc) {
      this._killSync('SIGTERM');
      const done = await withTimeout(this.exited, 5000, null);
      if (!done) this._killSync('SIGKILL');
      // the group may outlive its leader (extension hosts): make sure it is gone
      await sleep(200);
      try {
        process.kill(-this.proc.pid, 'SIGKILL');
      } catch {
        /* group empty */
      }
      process.removeListener('exit', this._onSignal);
      this.proc = null;
    }
    if (keep) log(`kept ${this.baseDir} (code-server.log, user-data/logs)`);
    else await fsp.rm(this.baseDir, { recursive: true, force: true }).catch(() => {});
  }

  /**
   * The newest log an extension wrote through its LogOutputChannel (the window opened last), or '' when there is none.
   * Printed with a failure, so that a CI log says what the extension saw without its artifacts.
   */
  extensionLog(extensionId) {
    // logs/<session>/exthost<N>/<extension id>/<channel>.log
    const logsDir = path.join(this.userDataDir, 'logs');
    const files = (fs.existsSync(logsDir) ? fs.readdirSync(logsDir, { recursive: true }) : [])
      .filter((f) => f.endsWith('.log') && path.basename(path.dirname(f)) === extensionId)
      .map((f) => path.join(logsDir, f))
      .sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs);
    return files.length ? fs.readFileSync(files[0], 'utf8') : '';
  }

  /** Copies code-server's log and the server's user-data logs into dir (for CI artifacts). */
  async saveLogs(dir) {
    await fsp.mkdir(dir, { recursive: true });
    await fsp.copyFile(this.logFile, path.join(dir, 'code-server.log')).catch(() => {});
    await fsp
      .cp(path.join(this.userDataDir, 'logs'), path.join(dir, 'user-data-logs'), { recursive: true })
      .catch(() => {});
  }
}

// --------------------------------------------------------------------------------------------------------------------
// UI helpers (selectors checked against VS Code 1.100's workbench DOM)
// --------------------------------------------------------------------------------------------------------------------

const QUICK_INPUT = '.quick-input-widget';
const QUICK_INPUT_BOX = '.quick-input-widget .quick-input-box input';
const QUICK_ROWS = '.quick-input-widget .quick-input-list .monaco-list-row';

/** Waits for the workbench shell (`.monaco-workbench` with its status bar) to be rendered. */
export async function waitForWorkbench(page, { timeout = 60000 } = {}) {
  await page.waitForSelector('.monaco-workbench', { timeout });
  await page.waitForSelector('#workbench\\.parts\\.statusbar', { timeout });
}

/**
 * Whether the Explorer lists the first folder of a .code-workspace file (within `timeout`). True when the Explorer is
 * not on screen, since then there is nothing to judge by.
 */
async function workspaceFoldersShown(page, workspaceFile, { timeout = 10000 } = {}) {
  let first;
  try {
    const folders = JSON.parse(fs.readFileSync(workspaceFile, 'utf8')).folders ?? [];
    first = folders[0] && (folders[0].name || path.basename(folders[0].path));
  } catch {
    return true;
  }
  if (!first) return true;
  const explorer = page.locator('#workbench\\.view\\.explorer');
  return waitFor(
    async () =>
      !(await explorer.isVisible().catch(() => false)) ||
      ((await explorer.textContent().catch(() => '')) || '').toLowerCase().includes(first.toLowerCase()),
    { timeout, interval: 200 },
  ).then(
    () => true,
    () => false,
  );
}

/** Escapes an element id for a CSS `#id` selector (ids like `pub.ext.item` contain dots). */
export function idSelector(id) {
  return `#${id.replace(/([^\w-])/g, '\\$1')}`;
}

const norm = (s) =>
  String(s ?? '')
    .replace(/\s+/g, ' ')
    .trim();

async function openPalette(page, timeout) {
  const end = Date.now() + timeout;
  for (let attempt = 0; Date.now() < end; attempt++) {
    // close a leftover quick input / menu first, then give the workbench focus
    if (
      await page
        .locator(QUICK_INPUT)
        .isVisible()
        .catch(() => false)
    )
      await page.keyboard.press('Escape');
    await page.keyboard.press(attempt % 2 === 0 ? 'F1' : 'Control+Shift+P');
    try {
      await page.waitForSelector(QUICK_INPUT_BOX, { state: 'visible', timeout: 2000 });
      return;
    } catch {
      // the first key press after load is sometimes swallowed while the workbench still restores its parts
      await page
        .locator('#workbench\\.parts\\.statusbar')
        .click({ position: { x: 2, y: 2 }, timeout: 1000 })
        .catch(() => {});
    }
  }
  throw new Error('the command palette did not open (F1 / Ctrl+Shift+P)');
}

/** Visible quick-open rows as {label, description, detail, ariaLabel, focused}. */
export async function quickPickRows(page) {
  return page.$$eval(QUICK_ROWS, (rows) =>
    rows.map((r) => {
      const t = (sel) => (r.querySelector(sel)?.textContent || '').replace(/\s+/g, ' ').trim();
      return {
        label: t('.quick-input-list-label .label-name') || t('.label-name'),
        description: t('.quick-input-list-label .label-description') || t('.label-description'),
        detail: t('.quick-input-list-label-meta') || t('.quick-input-list-detail'),
        ariaLabel: r.getAttribute('aria-label') || '',
        focused: r.classList.contains('focused'),
      };
    }),
  );
}

/**
 * Runs a command from the palette like a user: F1, type the title (e.g. "AutoConnect: Start Update Server"), wait for
 * the row whose label is exactly that title, Enter (or click it when another row has the focus). Throws, listing the
 * rows seen, if no such command shows up (not contributed, hidden by a `when` clause, or the extension is missing).
 */
export async function runCommand(page, title, { timeout = 15000 } = {}) {
  const end = Date.now() + timeout;
  await openPalette(page, Math.min(timeout, 8000));
  const input = page.locator(QUICK_INPUT_BOX);
  await input.fill(`>${title}`);
  let rows = [];
  let idx = -1;
  while (Date.now() < end) {
    rows = await quickPickRows(page).catch(() => []);
    idx = rows.findIndex((r) => norm(r.label) === norm(title));
    if (idx >= 0) break;
    await sleep(100);
  }
  if (idx < 0) {
    await page.keyboard.press('Escape').catch(() => {});
    const seen = rows.map((r) => r.label).join(' | ') || '(no rows)';
    throw new Error(`command "${title}" not found in the palette; rows: ${seen}`);
  }
  if (rows[idx].focused) await page.keyboard.press('Enter');
  else await page.locator(QUICK_ROWS).nth(idx).click();
  // a command may open its own quick pick / input box; only wait for the palette's own text to go away
  await waitFor(
    async () => {
      const visible = await page
        .locator(QUICK_INPUT)
        .isVisible()
        .catch(() => false);
      if (!visible) return true;
      const v = await input.inputValue().catch(() => '');
      return v !== `>${title}`;
    },
    { timeout: 5000, what: `palette to close after "${title}"` },
  );
}

/**
 * A status bar item by DOM element id (`<publisher>.<name>.<item id>`): {text, ariaLabel, tooltip} or null when absent.
 * Codicons ($(zap)) render as icon spans without text, so text is just the words.
 */
export async function statusBarItem(page, elementId) {
  const el = page.locator(idSelector(elementId));
  if ((await el.count()) === 0) return null;
  return el.first().evaluate((e) => {
    const a = e.querySelector('a') || e;
    return {
      text: (a.textContent || '').replace(/\s+/g, ' ').trim(),
      ariaLabel: a.getAttribute('aria-label') || e.getAttribute('aria-label') || '',
      tooltip: a.getAttribute('title') || e.getAttribute('title') || '',
      visible: !!(e.offsetWidth || e.offsetHeight),
    };
  });
}

/**
 * Text of a status bar item. With `match` (string = substring, RegExp, or predicate) waits until the text matches,
 * else waits until the item exists. Throws after `timeout` with the last text seen.
 */
export async function statusBarText(page, elementId, { match, timeout = 20000 } = {}) {
  const ok =
    match == null
      ? () => true
      : typeof match === 'function'
        ? match
        : match instanceof RegExp
          ? (t) => match.test(t)
          : (t) => t.includes(match);
  let last = null;
  await waitFor(
    async () => {
      last = await statusBarItem(page, elementId);
      return last && ok(last.text);
    },
    { timeout, what: `status bar item #${elementId}${match != null ? ` to match ${match}` : ''}` },
  ).catch((e) => {
    throw new Error(`${e.message.split(' (last:')[0]}; last text: ${last ? JSON.stringify(last.text) : 'item absent'}`);
  });
  return last.text;
}

/** Activity bar entries as {label, active}. */
export async function activityBarItems(page) {
  return page.$$eval(
    '#workbench\\.parts\\.activitybar .action-item a.action-label, .activitybar .action-item a.action-label',
    (as) =>
      [...new Set(as)].map((a) => ({
        label: a.getAttribute('aria-label') || '',
        active: a.parentElement?.classList.contains('checked') || a.getAttribute('aria-pressed') === 'true',
      })),
  );
}

function viewMatcher(nameOrId) {
  return norm(nameOrId).toLowerCase();
}

const manifestCache = new Map();
function loadManifest(manifest) {
  if (manifest && typeof manifest === 'object') return manifest;
  const file = path.resolve(manifest || path.join(REPO_ROOT, 'package.json'));
  if (!manifestCache.has(file)) {
    try {
      manifestCache.set(file, JSON.parse(fs.readFileSync(file, 'utf8')));
    } catch {
      manifestCache.set(file, {});
    }
  }
  return manifestCache.get(file);
}

/**
 * The title the workbench shows for a view or view container id, looked up in the extension manifest's
 * `contributes.views` / `contributes.viewsContainers` (default: the repo's package.json). Titles pass through unchanged.
 */
export function resolveViewTitle(nameOrId, manifest) {
  const c = loadManifest(manifest).contributes || {};
  for (const list of Object.values(c.views || {})) {
    for (const v of list || []) if (v.id === nameOrId) return v.name || nameOrId;
  }
  for (const list of Object.values(c.viewsContainers || {})) {
    for (const v of list || []) if (v.id === nameOrId) return v.title || nameOrId;
  }
  return nameOrId;
}

/**
 * Shows a view container or a view, like a user. `nameOrId` may be a container title ("AutoConnect"), a view title
 * ("Catalog"), a container id ("autoconnect") or a view id ("autoconnect.catalog"). Ids go through the commands VS Code
 * registers for every contribution (`workbench.view.extension.<container>` / `<view>.focus`), titles through the
 * activity bar (clicked only when not already open, since a second click hides the side bar) or the palette's
 * "View: Open View" fallback. Expands a collapsed view pane. Returns when the view's pane is visible.
 */
export async function openView(page, nameOrId, { timeout = 20000, manifest } = {}) {
  const title = resolveViewTitle(nameOrId, manifest);
  const want = viewMatcher(title);
  const end = Date.now() + timeout;
  let items = [];
  let rows = [];
  // Extension contributions appear only once the extension host has scanned the extensions (a few seconds after the
  // workbench shows), so every way is retried until the timeout.
  for (;;) {
    // 1. an activity bar container with that title (clicked only if not active: a click on the active one hides it)
    items = await activityBarItems(page).catch(() => []);
    const hit = items.find((i) => {
      const l = i.label.toLowerCase();
      return l === want || l.startsWith(`${want} (`);
    });
    if (hit) {
      if (!hit.active) {
        await page
          .locator(`.activitybar .action-item a.action-label[aria-label="${hit.label.replace(/"/g, '\\"')}"]`)
          .first()
          .click();
      }
      await waitFor(async () => (await activityBarItems(page)).some((i) => i.label === hit.label && i.active), {
        timeout: Math.max(1000, end - Date.now()),
        what: `activity bar entry "${hit.label}" to be active`,
      });
      await page.waitForSelector('#workbench\\.parts\\.sidebar', {
        state: 'visible',
        timeout: Math.max(1000, end - Date.now()),
      });
      return;
    }
    // 2. a view pane already rendered with that title: expand it if collapsed
    const pane = await findViewPane(page, title);
    if (pane) {
      await expandPane(pane);
      return;
    }
    // 3. the "view " quick access (View: Open View), which lists every registered view by title
    await openPalette(page, 8000);
    await page.locator(QUICK_INPUT_BOX).fill(`view ${title}`);
    let idx = -1;
    const pickEnd = Date.now() + 1500;
    while (Date.now() < pickEnd) {
      rows = await quickPickRows(page).catch(() => []);
      idx = rows.findIndex((r) => norm(r.label).toLowerCase() === want);
      if (idx >= 0) break;
      await sleep(100);
    }
    if (idx >= 0) {
      await page.locator(QUICK_ROWS).nth(idx).click();
      const p2 = await waitFor(() => findViewPane(page, title), {
        timeout: Math.max(1000, end - Date.now()),
        what: `view "${nameOrId}" to show`,
      });
      await expandPane(p2);
      return;
    }
    await page.keyboard.press('Escape').catch(() => {});
    if (Date.now() > end) {
      throw new Error(
        `view "${nameOrId}"${title !== nameOrId ? ` ("${title}")` : ''} not found after ${timeout} ms ` +
          `(activity bar: ${items.map((i) => i.label).join(' | ')}; "view" picker rows: ${rows.map((r) => r.label).join(' | ')})`,
      );
    }
    await sleep(500);
  }
}

/**
 * The visible view pane (Locator) whose header title or view id matches, or null. VS Code renders each view as
 * `.pane` with `.pane-header h3.title` (hidden when it is the container's only view) and `.pane-body`.
 */
export async function findViewPane(page, nameOrId, { manifest } = {}) {
  const want = viewMatcher(resolveViewTitle(nameOrId, manifest));
  const panes = page.locator('.part.sidebar .pane, .part.panel .pane, .part.auxiliarybar .pane');
  const n = await panes.count();
  for (let i = 0; i < n; i++) {
    const p = panes.nth(i);
    const info = await p
      .evaluate((el) => {
        const body = el.querySelector('.pane-body');
        const ids = [el.id, body?.id, el.getAttribute('data-view-id'), body?.getAttribute('data-view-id')].filter(
          Boolean,
        );
        // the header's title, or (single-view container) the composite title "CONTAINER: VIEW" / "VIEW"
        const title = (el.querySelector('.pane-header h3.title')?.textContent || '').trim();
        const cls = [...el.classList, ...(body ? [...body.classList] : [])];
        return { ids, title, cls, visible: !!(el.offsetWidth || el.offsetHeight) };
      })
      .catch(() => null);
    if (!info || !info.visible) continue;
    const idHit =
      info.ids.some((id) => id.toLowerCase() === want || id.toLowerCase().endsWith(`.${want}`)) ||
      info.cls.some((c) => c.toLowerCase() === want);
    if (idHit || info.title.toLowerCase() === want) return p;
  }
  return null;
}

async function expandPane(pane) {
  const header = pane.locator('.pane-header').first();
  if ((await header.count()) && (await header.getAttribute('aria-expanded').catch(() => null)) === 'false') {
    await header.click();
  }
}

/**
 * Visible rows of a tree/list view (by view title or id) as {label, description, ariaLabel, level, expanded, selected}.
 * Only rendered rows are returned (lists are virtualized). `wait` (ms) waits until at least one row is present.
 */
export async function treeRows(page, nameOrId, { wait = 0, manifest } = {}) {
  const read = async () => {
    const pane = await findViewPane(page, nameOrId, { manifest });
    if (!pane) throw new Error(`view "${nameOrId}" is not open (use openView first)`);
    return pane.locator('.pane-body .monaco-list-row').evaluateAll((rows) =>
      rows
        .filter((r) => r.offsetWidth || r.offsetHeight)
        .map((r) => {
          const t = (sel) => (r.querySelector(sel)?.textContent || '').replace(/\s+/g, ' ').trim();
          const exp = r.getAttribute('aria-expanded');
          return {
            label: t('.label-name') || t('.monaco-highlighted-label') || (r.textContent || '').trim(),
            description: t('.label-description'),
            ariaLabel: r.getAttribute('aria-label') || '',
            level: Number(r.getAttribute('aria-level') || 1),
            expanded: exp == null ? undefined : exp === 'true',
            selected: r.getAttribute('aria-selected') === 'true',
          };
        }),
    );
  };
  if (!wait) return read();
  let rows = [];
  await waitFor(async () => (rows = await read()).length > 0, { timeout: wait, what: `rows in view "${nameOrId}"` });
  return rows;
}

/** Text of a view's welcome content (`viewsWelcome`, shown while the tree is empty), or '' when none is shown. */
export async function welcomeText(page, nameOrId, { manifest } = {}) {
  const pane = await findViewPane(page, nameOrId, { manifest });
  if (!pane) throw new Error(`view "${nameOrId}" is not open (use openView first)`);
  const w = pane.locator('.welcome-view-content');
  if ((await w.count()) === 0 || !(await w.first().isVisible())) return '';
  return norm(await w.first().innerText());
}

/**
 * Right-clicks the row labelled `label` in a view and opens the menu like a user. Returns the menu's entries; with
 * `choose`, runs that entry (by click, and by Enter on it when the freshly opened menu swallowed the click).
 */
export async function rowContextMenu(page, nameOrId, label, { choose, manifest, timeout = 10000 } = {}) {
  const pane = await findViewPane(page, nameOrId, { manifest });
  if (!pane) throw new Error(`view "${nameOrId}" is not open (use openView first)`);
  const row = pane
    .locator('.pane-body .monaco-list-row', { has: page.locator('.label-name', { hasText: label }) })
    .first();
  await row.click({ button: 'right' });
  const menu = page.locator('.context-view .monaco-menu');
  await menu.waitFor({ state: 'visible', timeout });
  const entries = (await menu.locator('.action-label').allInnerTexts()).map((t) => t.trim()).filter(Boolean);
  if (!choose) return entries;
  if (!entries.includes(choose)) throw new Error(`no "${choose}" on the menu of "${label}": ${entries.join(' | ')}`);
  const item = menu.locator('.action-item', { has: page.locator('.action-label', { hasText: choose }) }).first();
  await item.hover();
  await item.click();
  await sleep(300);
  if (await menu.isVisible().catch(() => false)) {
    await item.hover();
    await page.keyboard.press('Enter');
  }
  await menu.waitFor({ state: 'hidden', timeout }).catch(() => {
    throw new Error(`the menu of "${label}" stayed open after "${choose}"`);
  });
  return entries;
}

/** Texts of the visible notification toasts. */
export async function notifications(page) {
  return page.$$eval('.notifications-toasts .notification-toast .notification-list-item-message', (els) =>
    els.map((e) => (e.textContent || '').replace(/\s+/g, ' ').trim()),
  );
}

/** Saves a PNG of the page (creates the directory). Returns the absolute path. */
export async function screenshot(page, file) {
  const abs = path.resolve(file);
  await fsp.mkdir(path.dirname(abs), { recursive: true });
  await page.screenshot({ path: abs });
  return abs;
}
