// Cooperative slices for work that stays on the event loop (request handling, catalog scans). Inside VS Code the
// loop is the extension host's, shared with every other extension: a burst of 300 requests, or the 1000 entries of
// a rescan completing together, must not run as one stretch. A turn lasts from the first check until the loop's
// next check phase (setImmediate); once it has run longer than the budget, every caller waits for the next turn.

const BUDGET_MS = 1;
let started = 0;
let open = false;

function openTurn(): void {
  if (open) return;
  open = true;
  started = performance.now();
  setImmediate(() => {
    open = false;
  });
}

/** Nothing while this loop turn has time left; otherwise a promise that resolves in a later turn. */
export function yieldIfBusy(): Promise<void> | undefined {
  openTurn();
  if (performance.now() - started < BUDGET_MS) return undefined;
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * A later turn of the loop, taken whole: for work that cannot be sliced (a banner, a thread start). Sliced work that
 * resumes in the same turn finds its budget spent and waits for the next one, so the two do not add up.
 */
export async function wholeTurn(): Promise<void> {
  // Called from an I/O callback, one setImmediate still runs in this iteration of the loop, right after it; the
  // second runs after the loop's next timers and poll, so the caller's work is not added to this iteration's.
  await new Promise((resolve) => setImmediate(resolve));
  await new Promise((resolve) => setImmediate(resolve));
  openTurn();
  started = -Infinity;
}
