// One `fs.watch` per indexed folder of the catalog. On Linux (inotify) and Windows (ReadDirectoryChangesW) the kernel
// names the entry that changed, so the index reads that entry again and nothing else; a general watcher (chokidar)
// reads and stats the whole folder again on every event inside it: 1000 lstat calls on the loop for one new image.
// On macOS fs.watch is FSEvents: libuv keeps one FSEventStream per process and rebuilds it for every new fs.watch, it
// delivers with a 50 ms latency, and it does not name entries reliably (coalesced events name a folder, or nothing).
// So events are hints, never proof: any event has its folder checked on disk again, a folder is vouched for only
// while its watcher was started on the very folder (inode) that was proven, and a download is vouched for at most
// VOUCH_MS (catalogStore.ts). Those bounds hold while requests arrive; with none (the editor's view of a stopped
// server) only events and the slow poll of unwatched folders (catalogStore.ts, POLL_MS) tell the index.
//
// A watcher follows an inode, not a path: a folder renamed away and another put in its place (`mv box old && mkdir
// box`, an atomic deploy `mv new box`) leaves the watcher on the old one. Each watcher therefore records the identity
// of the folder it was started on (lstat before and after the watch agree), and the index restarts it when a scan
// finds another folder at the path (restart()).

import { watch, type FSWatcher } from 'node:fs';
import { lstat } from 'node:fs/promises';

interface Watched {
  watcher: FSWatcher;
  abs: string;
  /** `dev:ino` of the folder it watches, once proven; null when the lstat before and after the watch disagreed. */
  identity: string | null | undefined;
}

export class FolderWatchers {
  private readonly watchers = new Map<string, Watched>(); // catalog-relative folder → its watcher
  private disposed = false;

  /**
   * `onEvent(rel, name)`: something happened to the entry `name` of the folder `rel` (name undefined: the platform
   * did not say which). Dotfiles are never reported: they are never listed, and publishing writes its temp files so.
   * `onError(rel, error)`: the folder has no watcher (it could not start, or failed and was stopped with its subtree).
   */
  constructor(
    private readonly onEvent: (rel: string, name: string | undefined) => void,
    private readonly onError: (rel: string, error: Error) => void,
  ) {}

  /** Starts watching the folder at `abs` (its real path, proven inside the catalog) as `rel`, unless it is watched. */
  watch(rel: string, abs: string): void {
    if (this.disposed || this.watchers.has(rel)) return;
    const before = lstat(abs).then(identityOf, () => null);
    let watcher: FSWatcher;
    try {
      watcher = watch(abs, { persistent: true }, (_event, filename) => {
        const name = filename === null || filename === undefined ? undefined : String(filename);
        if (name?.startsWith('.')) return;
        this.onEvent(rel, name && !/[\\/]/.test(name) ? name : undefined);
      });
    } catch (error) {
      void before.catch(() => undefined);
      this.onError(rel, error as Error);
      return;
    }
    const watched: Watched = { watcher, abs, identity: undefined };
    watcher.on('error', (error) => {
      // Stops this folder's watcher and those below it; the index starts them again on its next scan or poll.
      this.unwatch(rel);
      this.onError(rel, error);
    });
    this.watchers.set(rel, watched);
    // Which folder the watcher follows: the one at the path both before and after it started (a swap in between
    // leaves it unproven, and the folder is never vouched for until it is restarted).
    void Promise.all([before, lstat(abs).then(identityOf, () => null)]).then(([first, second]) => {
      if (this.watchers.get(rel) === watched) watched.identity = first !== null && first === second ? first : null;
    });
  }

  /** Stops the watcher of `rel` (only that folder) and starts it again on whatever folder `abs` names now. */
  restart(rel: string, abs: string): void {
    const current = this.watchers.get(rel);
    if (current) {
      current.watcher.close();
      this.watchers.delete(rel);
    }
    this.watch(rel, abs);
  }

  /** Stops watching `rel` and every folder below it. */
  unwatch(rel: string): void {
    for (const [key, watched] of [...this.watchers]) {
      if (key !== rel && !(rel === '' || key.startsWith(`${rel}/`))) continue;
      watched.watcher.close();
      this.watchers.delete(key);
    }
  }

  /**
   * The watcher of `rel`: 'none' (not watched), 'starting' (its folder's identity not proven yet), 'unproven' (the
   * folder changed while it started), or the `dev:ino` of the folder it follows.
   */
  state(rel: string): 'none' | 'starting' | 'unproven' | string {
    const watched = this.watchers.get(rel);
    if (!watched) return 'none';
    if (watched.identity === undefined) return 'starting';
    return watched.identity ?? 'unproven';
  }

  /** Whether the folder `rel` has a watcher started on the folder with this identity (see identityOf). */
  watches(rel: string, identity: string): boolean {
    return this.watchers.get(rel)?.identity === identity;
  }

  /** Folders watched now (tests, diagnostics). */
  get folders(): string[] {
    return [...this.watchers.keys()];
  }

  dispose(): void {
    this.disposed = true;
    for (const watched of this.watchers.values()) watched.watcher.close();
    this.watchers.clear();
  }
}

/** A folder's identity as the watchers record it. */
export function identityOf(stats: { dev: number | bigint; ino: number | bigint }): string {
  return `${stats.dev}:${stats.ino}`;
}
