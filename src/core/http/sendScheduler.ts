// Shares socket writes out in turns of the event loop, across every response of one server. On a fast link the
// kernel takes each write at once, so a response that writes while its socket accepts would copy megabytes in one
// stretch; 300 downloads starting in the same tick would hold the loop for a second (and with it, inside VS Code,
// every other extension). Here each turn has a byte and a time budget; senders that still have bytes to write wait
// for the next turn (setImmediate, after the loop has polled for I/O), in the order they asked.

export interface SendBudget {
  /** Bytes written per loop turn across all senders. */
  turnBytes: number;
  /** Time one turn may spend writing. */
  turnMs: number;
}

// 1 MB is about 0.5 ms of copying into loopback sockets on a small machine, and 2 GB/s in 2000 turns a second.
export const defaultSendBudget: SendBudget = { turnBytes: 1 << 20, turnMs: 1 };

/** The least a sender is offered, so that the end of a turn's budget does not cut writes into crumbs. */
const MIN_OFFER = 8 * 1024;

export interface Sender {
  /**
   * Writes at most `max` bytes now. `more`: the socket took them and the sender has more to write at once (it is
   * asked again in a later turn); otherwise the sender asks again itself (after 'drain'), or is done.
   */
  send(max: number): { written: number; more: boolean };
}

export class SendScheduler {
  private readonly waiting = new Set<Sender>();
  private spent = 0;
  private started = 0;
  private open = false;
  private disposed = false;

  constructor(private readonly budget: SendBudget = defaultSendBudget) {}

  /** A sender has bytes to write: now, if this turn has budget left and nobody waits; else in a later turn. */
  request(sender: Sender): void {
    if (this.disposed) return;
    this.openTurn();
    if (this.waiting.size === 0 && this.hasBudget()) this.run(sender);
    else this.waiting.add(sender);
  }

  /** A sender that is done or whose socket closed. */
  cancel(sender: Sender): void {
    this.waiting.delete(sender);
  }

  dispose(): void {
    this.disposed = true;
    this.waiting.clear();
  }

  /** The budget of the current turn; it ends with the next setImmediate, which starts the waiting senders' turn. */
  private openTurn(): void {
    if (this.open) return;
    this.open = true;
    this.spent = 0;
    this.started = performance.now();
    setImmediate(() => this.turn());
  }

  private turn(): void {
    this.open = false;
    if (this.waiting.size === 0 || this.disposed) return;
    this.openTurn();
    // A sender that writes and still has more goes to the back of the set: iteration visits it again (round robin).
    for (const sender of this.waiting) {
      if (!this.hasBudget()) break;
      this.waiting.delete(sender);
      this.run(sender);
    }
  }

  private run(sender: Sender): void {
    const { written, more } = sender.send(Math.max(MIN_OFFER, this.budget.turnBytes - this.spent));
    this.spent += written;
    if (more && written > 0) this.waiting.add(sender);
  }

  private hasBudget(): boolean {
    return this.spent < this.budget.turnBytes && performance.now() - this.started < this.budget.turnMs;
  }
}
