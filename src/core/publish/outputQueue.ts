// The watcher side's memory of build outputs: one serial queue of looks, what each file looked like when it was last
// fully handled (so an unchanged file is not read again), looks again at an image that is still incomplete (its last
// write may raise no event), and a poll backstop for a watcher event that never came. What a look does (read,
// classify, publish) is the publisher's business; this module only decides when to look.

import { promises as fs } from 'node:fs';
import type { Disposable } from '../events';
import { errorMessage as describe } from '../errorMessage';
import type { BuildOutput } from './discover';
import { signedFileOf } from './examineBuild';
import type { LookMode, PublishOutcome, SkipCode } from './publishEvents';
import type { ImageInfo } from '../firmware/imageInfo';

/** What one look found. */
export type Look =
  /** Final for the file as it is now; `remember`: not looked at again until it changes. */
  | { kind: 'final'; outcome: PublishOutcome; remember: boolean }
  /** The file is gone: forget it. */
  | { kind: 'missing'; outcome: PublishOutcome }
  /** Still being written, perhaps: look again shortly, and give up if it stays so. */
  | { kind: 'incomplete'; code: SkipCode; reason: string; info: ImageInfo };

export interface OutputQueueOptions {
  /** One look at an output: `mtime` is the build time to record, `signedPresent` whether its `.signed` is there. */
  look(output: BuildOutput, mode: LookMode, mtime: Date, signedPresent: boolean): Promise<Look>;
  /** An output that stayed incomplete (or a manual look at an incomplete one): skipped for good, with the reason. */
  giveUp(output: BuildOutput, incomplete: Extract<Look, { kind: 'incomplete' }>): PublishOutcome;
  /** A look that threw: one line a person can act on. */
  onError(message: string, file: string): void;
  /** Every known target's expected output, for the poll backstop. */
  pollOutputs(): BuildOutput[];
  /** How often an incomplete image is looked at again without new events (default 500 ms). */
  recheckMs?: number;
  /** An image that stays incomplete and unchanged this long is skipped (default 10 s). */
  incompleteTimeoutMs?: number;
  /** How often every known target's output is stat'ed as a backstop (default 2000 ms; 0 turns it off). */
  pollMs?: number;
}

/** What a file looked like the last time it was fully handled: same stat, same outcome, no need to read it again. */
interface FileState {
  size: number;
  mtimeMs: number;
  ino: number;
  /** The `<file>.signed` beside it, when there is one: its change makes the output new too. */
  signed?: { size: number; mtimeMs: number; ino: number };
}

interface Recheck {
  timer?: NodeJS.Timeout;
  state?: FileState;
  since: number;
  /** The next look's delay: short right after the file changed (its last write may raise no event), then longer. */
  delayMs: number;
}

export class OutputQueue implements Disposable {
  private readonly handled = new Map<string, FileState>();
  /** Build-event looks queued and not started yet, by file. */
  private readonly waiting = new Map<string, Promise<PublishOutcome>>();
  private readonly rechecks = new Map<string, Recheck>();
  private queue: Promise<unknown> = Promise.resolve();
  private poll?: NodeJS.Timeout;
  private polling = false;
  private stopped = false;
  private readonly recheckMs: number;
  private readonly incompleteTimeoutMs: number;

  constructor(private readonly options: OutputQueueOptions) {
    this.recheckMs = options.recheckMs ?? 500;
    this.incompleteTimeoutMs = options.incompleteTimeoutMs ?? 10_000;
  }

  /** Starts the poll backstop. */
  startPolling(): void {
    const pollMs = this.options.pollMs ?? 2000;
    if (pollMs <= 0 || this.stopped || this.poll) return;
    this.poll = setInterval(() => void this.pollOutputs(), pollMs);
    this.poll.unref();
  }

  /** Queues a look at `output`. A build event for a file already waiting shares that look (it sees the latest bytes). */
  enqueue(output: BuildOutput, mode: LookMode): Promise<PublishOutcome> {
    const waiting = mode === 'build' ? this.waiting.get(output.file) : undefined;
    if (waiting) return waiting;
    const job = this.queue.then(() => {
      if (mode === 'build') this.waiting.delete(output.file);
      return this.stopped && mode !== 'manual'
        ? ({ published: false, code: 'error', reason: 'publisher stopped' } as const)
        : this.process(output, mode).catch((error: unknown): PublishOutcome => {
            const reason = `cannot publish ${output.file}: ${describe(error)}`;
            this.options.onError(reason, output.file);
            return { published: false, code: 'error', reason };
          });
    });
    if (mode === 'build') this.waiting.set(output.file, job);
    this.queue = job;
    return job;
  }

  /** No more looks but manual ones, no rechecks, no polls. */
  stop(): void {
    this.stopped = true;
    clearInterval(this.poll);
    for (const recheck of this.rechecks.values()) clearTimeout(recheck.timer);
    this.rechecks.clear();
  }

  /** Resolves when the look in flight (and those queued) are done: nothing is written after this resolves. */
  async drain(): Promise<void> {
    await this.queue;
  }

  dispose(): void {
    this.stop();
  }

  /** Events are hints: one stat per known target catches an output the watcher did not report. */
  private async pollOutputs(): Promise<void> {
    if (this.polling || this.stopped) return;
    this.polling = true;
    try {
      for (const output of this.options.pollOutputs()) {
        if (this.stopped || this.rechecks.has(output.file)) continue;
        const stat = await fs.lstat(output.file).catch(() => undefined);
        if (
          !stat?.isFile() ||
          sameState(this.handled.get(output.file), { size: stat.size, mtimeMs: stat.mtimeMs, ino: stat.ino })
        )
          continue;
        void this.enqueue(output, 'build');
      }
    } finally {
      this.polling = false;
    }
  }

  private async process(output: BuildOutput, mode: LookMode): Promise<PublishOutcome> {
    const { file } = output;
    let stat;
    try {
      stat = await fs.lstat(file);
    } catch {
      this.handled.delete(file);
      return { published: false, code: 'missing', reason: `${file} does not exist` };
    }
    const signedFile = signedFileOf(output);
    const signedStat = signedFile ? await fs.stat(signedFile).catch(() => undefined) : undefined;
    const state: FileState = { size: stat.size, mtimeMs: stat.mtimeMs, ino: stat.ino };
    if (signedStat?.isFile())
      state.signed = { size: signedStat.size, mtimeMs: signedStat.mtimeMs, ino: signedStat.ino };
    if (mode !== 'manual' && sameState(this.handled.get(file), state)) {
      return { published: false, code: 'unchanged', reason: 'already handled' };
    }
    let look: Look;
    try {
      look = await this.options.look(output, mode, stat.mtime, !!state.signed);
    } catch (error) {
      this.clearRecheck(file); // not handled: the next event or poll looks again
      throw error;
    }
    switch (look.kind) {
      case 'missing':
        this.handled.delete(file);
        return look.outcome;
      case 'incomplete':
        return this.incomplete(output, mode, state, look);
      case 'final':
        this.clearRecheck(file);
        if (look.remember) this.handled.set(file, state);
        return look.outcome;
    }
  }

  /**
   * A half-written file: never published. Look again shortly (the build may write its last bytes without another
   * event reaching us); give up only if it stays incomplete and unchanged for a long time.
   */
  private incomplete(
    output: BuildOutput,
    mode: LookMode,
    state: FileState,
    look: Extract<Look, { kind: 'incomplete' }>,
  ): PublishOutcome {
    const { file } = output;
    if (mode === 'manual') return this.giveUp(output, look);
    const now = Date.now();
    let recheck = this.rechecks.get(file);
    if (!recheck || !sameState(recheck.state, state)) {
      clearTimeout(recheck?.timer);
      recheck = { state, since: now, delayMs: Math.min(20, this.recheckMs) };
      this.rechecks.set(file, recheck);
    }
    if (now - recheck.since >= this.incompleteTimeoutMs) {
      // Unchanged for that long: not a build in progress. Final until the file changes again.
      this.handled.set(file, state);
      return this.giveUp(output, look);
    }
    clearTimeout(recheck.timer);
    const delay = recheck.delayMs;
    recheck.delayMs = Math.min(this.recheckMs, delay * 2);
    recheck.timer = setTimeout(() => {
      if (recheck) recheck.timer = undefined;
      if (!this.stopped) void this.enqueue(output, mode);
    }, delay);
    return { published: false, code: 'pending', reason: look.reason };
  }

  private giveUp(output: BuildOutput, look: Extract<Look, { kind: 'incomplete' }>): PublishOutcome {
    this.clearRecheck(output.file);
    return this.options.giveUp(output, look);
  }

  private clearRecheck(file: string): void {
    clearTimeout(this.rechecks.get(file)?.timer);
    this.rechecks.delete(file);
  }
}

function sameState(a: FileState | undefined, b: FileState): boolean {
  const same = (x?: Omit<FileState, 'signed'>, y?: Omit<FileState, 'signed'>) =>
    x === y || (!!x && !!y && x.size === y.size && x.mtimeMs === y.mtimeMs && x.ino === y.ino);
  return !!a && same(a, b) && same(a.signed, b.signed);
}
