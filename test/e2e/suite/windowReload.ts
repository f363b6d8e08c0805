// A real reload of the window inside the in-host suite. A test asks for it (requestReload); once every test of the
// run has finished, index.ts keeps the run's summary in a file beside the results, and runs
// workbench.action.reloadWindow. The workbench loads the same URL again, with the same extensionTestsPath, so a new
// extension host runs index.ts again: it finds the summary, runs only the tests written for after the reload
// (AFTER_RELOAD in their title) and writes the merged results. The launcher needs no part in it.

let requested = false;

/** Title marker of the tests that run in the extension host after the reload. */
export const AFTER_RELOAD = '[after window reload]';

/** Asks for a reload of the window once the current run's tests have all finished. */
export function requestReload(): void {
  requested = true;
}

export function reloadRequested(): boolean {
  return requested;
}

/** Where the first run keeps its summary and the tests their notes for after the reload (beside the results). */
export function reloadFile(kind: 'summary' | 'notes'): string | undefined {
  const results = process.env.VSCODE_TEST_RESULTS;
  return results ? `${results}.before-reload-${kind}.json` : undefined;
}

/** Which run this is: the first, or the one in the extension host started by the reload. */
export function afterReload(): boolean {
  return process.env.E2E_PHASE === 'after-reload';
}
