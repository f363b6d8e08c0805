// The send scheduler shares write turns among responses: a turn's byte budget is never overspent by more than one
// write, waiting senders are served in the order they asked, and every sender gets to write all of its bytes.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { SendScheduler, type Sender } from '../../src/core/http/sendScheduler';

/** A sender with `total` bytes that writes `slice` at a time and logs each write with the turn it happened in. */
function fakeSender(name: string, total: number, slice: number, log: Array<{ name: string; turn: number; n: number }>) {
  let left = total;
  const state = { turn: 0 };
  const sender: Sender = {
    send(max) {
      const n = Math.min(slice, max, left);
      left -= n;
      log.push({ name, turn: state.turn, n });
      return { written: n, more: left > 0 };
    },
  };
  return { sender, state, left: () => left };
}

describe('send scheduler', () => {
  it('writes at once while the turn has budget, then in later turns in the order the senders asked', async () => {
    const scheduler = new SendScheduler({ turnBytes: 100, turnMs: 10_000 });
    const log: Array<{ name: string; turn: number; n: number }> = [];
    const senders = ['a', 'b', 'c'].map((name) => fakeSender(name, 120, 40, log));
    let turn = 0;
    const setTurn = (t: number) => senders.forEach((s) => (s.state.turn = t));
    for (const s of senders) scheduler.request(s.sender);
    // Turn 0: 'a' wrote synchronously (budget 100 left); 'b' and 'c' wait behind it.
    assert.deepEqual(
      log.map((e) => e.name),
      ['a'],
    );
    while (senders.some((s) => s.left() > 0)) {
      setTurn(++turn);
      await nextTurn();
      assert.ok(turn < 50, 'every sender finishes');
    }
    for (let t = 0; t <= turn; t++) {
      const spent = log.filter((e) => e.turn === t).reduce((sum, e) => sum + e.n, 0);
      assert.ok(spent <= 100 + 40, `turn ${t} wrote ${spent} bytes, more than the budget plus one write`);
    }
    // Round robin: the first writes of b and c come before a's second write.
    const order = log.map((e) => e.name);
    assert.ok(order.indexOf('b') < order.lastIndexOf('a'));
    assert.ok(order.indexOf('c') < order.lastIndexOf('a'));
    for (const name of ['a', 'b', 'c'])
      assert.equal(
        log.filter((e) => e.name === name).reduce((sum, e) => sum + e.n, 0),
        120,
      );
  });

  it('gives a cancelled sender no more turns, and a disposed scheduler none at all', async () => {
    const scheduler = new SendScheduler({ turnBytes: 10, turnMs: 10_000 });
    const log: Array<{ name: string; turn: number; n: number }> = [];
    const a = fakeSender('a', 1000, 10, log);
    const b = fakeSender('b', 1000, 10, log);
    scheduler.request(a.sender);
    scheduler.request(b.sender);
    scheduler.cancel(b.sender);
    await nextTurn();
    await nextTurn();
    assert.equal(log.filter((e) => e.name === 'b').length, 0);
    const writesOfA = log.length;
    assert.ok(writesOfA >= 2);
    scheduler.dispose();
    await nextTurn();
    await nextTurn();
    assert.equal(log.length, writesOfA);
    scheduler.request(b.sender);
    assert.equal(log.length, writesOfA);
  });
});
