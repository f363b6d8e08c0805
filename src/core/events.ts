// Minimal event and disposable primitives shaped like VS Code's, so the core stays free of the `vscode` module
// while the adapter can forward events one to one.

export interface Disposable {
  dispose(): void;
}

export type Event<T> = (listener: (value: T) => void) => Disposable;

export class Emitter<T> implements Disposable {
  private listeners = new Set<(value: T) => void>();

  readonly event: Event<T> = (listener) => {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  };

  fire(value: T): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(value);
      } catch {
        // A faulty listener must not break the server or the other listeners.
      }
    }
  }

  dispose(): void {
    this.listeners.clear();
  }
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
