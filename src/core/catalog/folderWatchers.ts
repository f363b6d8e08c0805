// One `fs.watch` per indexed folder of the catalog. The kernel names the entry that changed (inotify, FSEvents,
// ReadDirectoryChangesW), so the index reads that entry again and nothing else. A general watcher (chokidar) reads
// and stats the whole folder again on every event inside it: 1000 lstat calls on the loop for one new image.
// Events are hints: a folder is checked on disk again at least once a second (catalogStore.ts, VOUCH_MS), and at
// once after any event, so a lost event costs at most that second.

import { watch, type FSWatcher } from 'node:fs';

export class FolderWatchers {
  private readonly watchers = new Map<string, FSWatcher>(); // catalog-relative folder → its watcher

  /**
   * `onEvent(rel, name)`: something happened to the entry `name` of the folder `rel` (name undefined: the platform
   * did not say which). Dotfiles are never reported: they are never listed, and publishing writes its temp files so.
   */
  constructor(
    private readonly onEvent: (rel: string, name: string | undefined) => void,
    private readonly onError: (rel: string, error: Error) => void,
  ) {}

  /** Starts watching the folder at `abs` (its real path, proven inside the catalog) as `rel`. */
  watch(rel: string, abs: string): void {
    if (this.watchers.has(rel)) return;
    let watcher: FSWatcher;
    try {
      watcher = watch(abs, { persistent: true }, (_event, filename) => {
        const name = filename === null || filename === undefined ? undefined : String(filename);
        if (name?.startsWith('.')) return;
        this.onEvent(rel, name && !/[\\/]/.test(name) ? name : undefined);
      });
    } catch (error) {
      this.onError(rel, error as Error);
      return;
    }
    // A folder deleted or replaced under its watcher: the index finds out by itself (mtime and inode per request).
    watcher.on('error', (error) => {
      this.unwatch(rel);
      this.onError(rel, error);
    });
    this.watchers.set(rel, watcher);
  }

  /** Stops watching `rel` and every folder below it. */
  unwatch(rel: string): void {
    for (const [key, watcher] of [...this.watchers]) {
      if (key !== rel && !(rel === '' || key.startsWith(`${rel}/`))) continue;
      watcher.close();
      this.watchers.delete(key);
    }
  }

  /** Whether the folder `rel` has a watcher running (it reports changes from now on). */
  watching(rel: string): boolean {
    return this.watchers.has(rel);
  }

  /** Folders watched now (tests, diagnostics). */
  get folders(): string[] {
    return [...this.watchers.keys()];
  }

  dispose(): void {
    for (const watcher of this.watchers.values()) watcher.close();
    this.watchers.clear();
  }
}
