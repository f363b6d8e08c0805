// The core's event primitives: the emitter every core event goes through, and the serial queue the editor front uses
// for server and publisher transitions.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Emitter, serialQueue } from '../../src/core/events';
import type { Logger } from '../../src/core/log';

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

/** A logger that keeps its error lines. */
function recordingLogger(): Logger & { errors: string[] } {
  const errors: string[] = [];
  return { errors, trace() {}, debug() {}, info() {}, warn() {}, error: (line) => errors.push(line) };
}

describe('Emitter', () => {
  it('keeps the other listeners running when one throws, and logs the failure with its stack', () => {
    const logger = recordingLogger();
    const emitter = new Emitter<number>('device changed', () => logger);
    const seen: number[] = [];
    emitter.event(function brokenView() {
      throw new TypeError('view is gone');
    });
    emitter.event((value) => seen.push(value));
    emitter.fire(1);
    assert.deepEqual(seen, [1]);
    assert.equal(logger.errors.length, 1);
    assert.match(logger.errors[0], /device changed/);
    assert.match(logger.errors[0], /TypeError: view is gone/);
    assert.match(logger.errors[0], /at brokenView /, 'the line carries the stack');
  });

  it('logs a listener that fails the same way on every event once, and a new fault of it again', () => {
    const logger = recordingLogger();
    const emitter = new Emitter<number>('download progressed', () => logger);
    let seen = 0;
    emitter.event((value) => {
      if (value % 2) throw new Error(`odd ${value}`); // one site, a different message each time
      throw new RangeError('even'); // a second site
    });
    emitter.event(() => seen++);
    for (let i = 1; i <= 100; i++) emitter.fire(i);
    assert.equal(seen, 100);
    assert.equal(logger.errors.length, 2, logger.errors.join('\n'));
    assert.match(logger.errors[0], /Error: odd 1/);
    assert.match(logger.errors[1], /RangeError: even/);
  });

  it('bounds what many broken listeners can log', () => {
    const logger = recordingLogger();
    const emitter = new Emitter<void>('catalog changed', () => logger);
    for (let i = 0; i < 200; i++)
      emitter.event(() => {
        throw new Error('broken');
      });
    emitter.fire();
    emitter.fire();
    assert.ok(logger.errors.length <= 25, `${logger.errors.length} lines`);
    assert.match(logger.errors.at(-1) ?? '', /further failures are not logged/);
  });

  it('logs a thrown non-Error by its text', () => {
    const logger = recordingLogger();
    const emitter = new Emitter<void>('published', () => logger);
    emitter.event(() => {
      throw 'plain string';
    });
    emitter.fire();
    assert.equal(logger.errors.length, 1);
    assert.match(logger.errors[0], /plain string/);
  });
});
