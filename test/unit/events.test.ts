// The core's event primitives: the serial queue the editor front uses for server and publisher transitions.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { serialQueue } from '../../src/core/events';

const tick = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('serialQueue', () => {
  it('runs steps one at a time in order; a failed step does not stop the next, and its caller sees the failure', async () => {
    const queue = serialQueue();
    const trace: string[] = [];
    const step =
      (name: string, ms: number, fail = false) =>
      async () => {
        trace.push(`${name} start`);
        await tick(ms);
        trace.push(`${name} end`);
        if (fail) throw new Error(`${name} failed`);
      };
    const first = queue(step('a', 30));
    const second = queue(step('b', 1, true));
    const third = queue(step('c', 1));
    await first;
    await assert.rejects(second, /b failed/);
    await third;
    assert.deepEqual(trace, ['a start', 'a end', 'b start', 'b end', 'c start', 'c end']);
  });
});
