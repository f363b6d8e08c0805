// Work on the event loop runs in slices: once a loop turn has been busy past its budget, callers wait for a later one.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { wholeTurn, yieldIfBusy } from '../../src/core/work/loopTurn';

describe('loop turns', () => {
  it('lets work go on in a fresh turn, and makes it wait for the next turn once the turn ran long', async () => {
    await nextTurn();
    assert.equal(yieldIfBusy(), undefined, 'a fresh turn has time left');
    const until = performance.now() + 10;
    while (performance.now() < until) {
      // a synchronous stretch longer than the budget
    }
    const wait = yieldIfBusy();
    assert.ok(wait instanceof Promise, 'a busy turn makes the caller wait');
    let resumed = false;
    void wait.then(() => (resumed = true));
    await Promise.resolve();
    assert.equal(resumed, false, 'not within the same turn');
    await wait;
    await nextTurn();
    assert.equal(yieldIfBusy(), undefined, 'the next turn starts afresh');
  });

  it('gives one-off work a turn of its own: sliced work resuming in that turn waits for the next one', async () => {
    await nextTurn();
    await wholeTurn();
    // The one-off work runs here, however short; the slices that resume after it in this turn yield at once.
    assert.ok(yieldIfBusy() instanceof Promise, 'the turn is taken');
    await nextTurn();
    assert.equal(yieldIfBusy(), undefined, 'the next turn starts afresh');
  });
});
