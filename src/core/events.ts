// Minimal event and disposable primitives shaped like VS Code's, so the core stays free of the `vscode` module
// while the adapter can forward events one to one.

import type { Logger } from './log';

export interface Disposable {
  dispose(): void;
}

export type Event<T> = (listener: (value: T) => void) => Disposable;

/** Most distinct listener failures one emitter logs; past it a broken listener cannot flood the log. */
const MAX_REPORTED_FAILURES = 20;

export class Emitter<T> implements Disposable {
  private listeners = new Set<(value: T) => void>();
  /** Failure sites already logged, per listener: a listener that throws on every event is logged once. */
  private readonly reported = new WeakMap<(value: T) => void, Set<string>>();
  private reportedCount = 0;

  /**
   * @param name what the event is, for the log line when a listener throws
   * @param logger where such a failure goes; read when it happens, so an owner may pass `() => this.logger` from a
   *   field initializer before its constructor has picked the logger
   */
  constructor(
    private readonly name: string,
    private readonly logger: () => Logger,
  ) {}

  readonly event: Event<T> = (listener) => {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  };

  fire(value: T): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(value);
      } catch (error) {
        // A faulty listener must not break the server or the other listeners, but it must not go unseen either.
        this.report(listener, error);
      }
    }
  }

  dispose(): void {
    this.listeners.clear();
  }

  private report(listener: (value: T) => void, error: unknown): void {
    if (this.reportedCount > MAX_REPORTED_FAILURES) return;
    const site = failureSite(error);
    let sites = this.reported.get(listener);
    if (!sites) this.reported.set(listener, (sites = new Set()));
    if (sites.has(site)) return;
    sites.add(site);
    const detail = error instanceof Error ? (error.stack ?? `${error.name}: ${error.message}`) : String(error);
    const line =
      ++this.reportedCount > MAX_REPORTED_FAILURES
        ? `listeners of "${this.name}" keep failing in new places; further failures are not logged`
        : `a listener of "${this.name}" failed (logged once; the other listeners still ran): ${detail}`;
    try {
      this.logger().error(line);
    } catch {
      // a logger that fails cannot be told; firing goes on
    }
  }
}

/**
 * Where an error was thrown: its type and innermost frame (the message may name a device or a file and change from one
 * event to the next), or its message when it has no stack.
 */
function failureSite(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const frame = error.stack?.split('\n').find((line) => line.trimStart().startsWith('at '));
  return frame ? `${error.name} ${frame.trim()}` : `${error.name}: ${error.message}`;
}

/** Holds disposables and disposes them in reverse order of registration. */
export class DisposableStore implements Disposable {
  private items: Disposable[] = [];
  private disposed = false;

  add<T extends Disposable>(item: T): T {
    if (this.disposed) item.dispose();
    else this.items.push(item);
    return item;
  }

  dispose(): void {
    this.disposed = true;
    const items = this.items.reverse();
    this.items = [];
    for (const item of items) {
      try {
        item.dispose();
      } catch {
        // keep disposing the rest
      }
    }
  }
}

/**
 * Runs steps one after another: each starts when the previous one has settled, a failed step does not stop the next,
 * and its caller still sees the failure.
 */
export function serialQueue(): (step: () => Promise<void>) => Promise<void> {
  let tail: Promise<void> = Promise.resolve();
  return (step) => {
    const run = tail.then(step);
    tail = run.catch(() => undefined);
    return run;
  };
}
