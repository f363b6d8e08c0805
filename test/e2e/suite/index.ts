// The extension host's test entry point (`extensionTestsPath` = out/test/e2e/suite/index): VS Code loads this module
// inside a real extension host and calls run(). It runs every `*.test.js` next to it with mocha (TDD ui: suite/test),
// prints mocha's spec report to the console (forwarded to the launcher) and writes a JSON summary to
// $VSCODE_TEST_RESULTS. The launcher (scripts/ext-host-test.mjs) trusts only that file: a host that crashes mid-suite
// never writes it, even if the workbench then reports exit code 0.
//
// Env (set on code-server by the launcher; the extension host inherits it):
//   VSCODE_TEST_RESULTS      JSON summary path
//   MOCHA_GREP               only tests whose full title matches (regexp)
//   MOCHA_TIMEOUT            per-test timeout in ms (default 20000)
//   E2E_EXPECT_EXTENSION_ID  + E2E_EXPECT_EXTENSION_UNDER: adds a first test asserting that this extension is active
//                            from below that directory (proves which copy is tested: dev folder or installed .vsix)
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import Mocha from 'mocha';
import * as vscode from 'vscode';
import { AFTER_RELOAD, reloadFile, reloadRequested } from './windowReload';

interface Failure {
  title: string;
  err: string;
}

interface Summary {
  passed: number;
  failed: number;
  pending: number;
  failures: Failure[];
  files: string[];
  pid: number;
  node: string;
  vscode: string;
  uiKind: string;
  remoteName: string | undefined;
  extension?: { id: string; path: string; version: string } | undefined;
  durationMs: number;
  line: string;
}

function writeResults(summary: Summary): void {
  const file = process.env.VSCODE_TEST_RESULTS;
  if (!file) return;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(`${file}.tmp`, JSON.stringify(summary, null, 2));
  fs.renameSync(`${file}.tmp`, file);
}

function isUnder(child: string, parent: string): boolean {
  const rel = path.relative(path.resolve(parent), path.resolve(child));
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

function addExpectedExtensionTest(mocha: Mocha): void {
  const id = process.env.E2E_EXPECT_EXTENSION_ID;
  const under = process.env.E2E_EXPECT_EXTENSION_UNDER;
  if (!id || !under) return;
  const suite = Mocha.Suite.create(mocha.suite, 'e2e host');
  suite.addTest(
    new Mocha.Test(`runs ${id} from ${under}`, async () => {
      const ext = vscode.extensions.getExtension(id);
      assert.ok(ext, `extension ${id} is not known to this extension host`);
      assert.ok(
        isUnder(ext.extensionUri.fsPath, under),
        `extension ${id} is loaded from ${ext.extensionUri.fsPath}, expected a path under ${under}`,
      );
      await ext.activate();
      assert.strictEqual(ext.isActive, true, `extension ${id} did not activate`);
    }),
  );
}

export async function run(): Promise<void> {
  const started = Date.now();
  const expectedId = process.env.E2E_EXPECT_EXTENSION_ID;
  const ext = expectedId ? vscode.extensions.getExtension(expectedId) : undefined;
  const summary: Summary = {
    passed: 0,
    failed: 0,
    pending: 0,
    failures: [],
    files: [],
    pid: process.pid,
    node: process.version,
    vscode: vscode.version,
    uiKind: vscode.UIKind[vscode.env.uiKind] ?? String(vscode.env.uiKind),
    remoteName: vscode.env.remoteName,
    extension: ext
      ? { id: ext.id, path: ext.extensionUri.fsPath, version: String(ext.packageJSON?.version) }
      : undefined,
    durationMs: 0,
    line: '',
  };
  console.log(
    `[e2e] vscode ${vscode.version}, node ${process.version}, uiKind=${summary.uiKind}, remoteName=${summary.remoteName}` +
      (ext ? `, ${ext.id}@${summary.extension?.version} from ${summary.extension?.path}` : ''),
  );

  // A window reload asked for by a test (windowReload.ts): the run before it left its summary here.
  const beforeFile = reloadFile('summary');
  const before =
    beforeFile && fs.existsSync(beforeFile) ? (JSON.parse(fs.readFileSync(beforeFile, 'utf8')) as Summary) : undefined;
  process.env.E2E_PHASE = before ? 'after-reload' : 'before-reload';

  const timeout = Number(process.env.MOCHA_TIMEOUT) || 20000;
  const mocha = new Mocha({ ui: 'tdd', color: false, timeout, reporter: 'spec' });
  if (before) {
    console.log(`[e2e] after the window reload: ${before.line} before it; now the tests marked ${AFTER_RELOAD}`);
    mocha.grep(new RegExp(AFTER_RELOAD.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
  } else {
    if (process.env.MOCHA_GREP) mocha.grep(new RegExp(process.env.MOCHA_GREP));
    addExpectedExtensionTest(mocha);
  }

  const finish = (error?: string): void => {
    if (error) {
      summary.failed++;
      summary.failures.push({ title: '(suite setup)', err: error });
    }
    if (before) {
      summary.passed += before.passed;
      summary.failed += before.failed;
      summary.pending += before.pending;
      summary.failures.unshift(...before.failures);
    }
    summary.durationMs = Date.now() - started + (before?.durationMs ?? 0);
    summary.line = `${summary.passed} passed, ${summary.failed} failed`;
    console.log(summary.line);
    for (const f of summary.failures) console.log(`FAILED: ${f.title}\n${f.err}`);
    writeResults(summary);
  };

  const dir = __dirname;
  summary.files = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.test.js'))
    .sort();
  if (summary.files.length === 0) {
    const msg = `no *.test.js files in ${dir}`;
    finish(msg);
    throw new Error(msg);
  }
  for (const f of summary.files) mocha.addFile(path.join(dir, f));

  await new Promise<void>((resolve, reject) => {
    let runner: Mocha.Runner;
    try {
      runner = mocha.run((failures) => {
        if (!before && beforeFile && reloadRequested()) {
          // Every test has run: keep this run's summary, and reload. This host ends with the reload; the next one
          // runs the tests for after it and writes the results of both (the promise is left pending on purpose).
          summary.durationMs = Date.now() - started;
          summary.line = `${summary.passed} passed, ${summary.failed} failed`;
          fs.writeFileSync(beforeFile, JSON.stringify(summary));
          console.log(`[e2e] ${summary.line}; reloading the window (workbench.action.reloadWindow)`);
          void vscode.commands.executeCommand('workbench.action.reloadWindow');
          return;
        }
        finish();
        if (failures > 0 || summary.failed > 0) reject(new Error(`${summary.failed} test(s) failed.`));
        else resolve();
      });
    } catch (e) {
      // a test file that throws while loading ends up here (mocha requires the files synchronously)
      const msg = e instanceof Error ? (e.stack ?? e.message) : String(e);
      finish(msg);
      reject(e instanceof Error ? e : new Error(msg));
      return;
    }
    runner.on('pass', () => summary.passed++);
    runner.on('pending', () => summary.pending++);
    runner.on('fail', (t, err: unknown) => {
      summary.failed++;
      const e = err as { stack?: string } | undefined;
      summary.failures.push({ title: t.fullTitle(), err: String(e?.stack ?? err) });
    });
  });
}
