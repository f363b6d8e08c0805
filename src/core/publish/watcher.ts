// Turns file system noise into "look at this output again" calls. chokidar events are hints only: they are
// debounced per path and carry no data; the publisher stats, reads and analyzes the file itself. Completeness is
// decided by the image analysis, not by timing (awaitWriteFinish stays off).
//
// Two watchers:
//  - outputs: each output location is watched from a folder that survives clean builds (its project folder, or the
//    nearest existing ancestor), with a filter that lets through only the folder chain down to the build folder and
//    the candidate files in it. Deleting and recreating `.pio/build` or `build/` is then just more events.
//  - discovery: the roots, bounded depth, only the build systems' project files (buildSystems/registry.ts) and the
//    config files discovery read: a change there means the set of locations may have changed.
// Nothing is ever written by this module.

import { promises as fs } from 'node:fs';
import type { Stats } from 'node:fs';
import * as path from 'node:path';
import { FSWatcher } from 'chokidar';
import { resolveCandidate, scanLocation } from './discover';
import { isMarkerFolder, projectMarkerOf } from './buildSystems/registry';
import { isInside, isSameOrInside } from '../paths';
import { errorMessage as describe } from '../errorMessage';
import type { BuildOutput, OutputLocation } from './discover';

export interface WatchPlan {
  /** Folders searched for projects; new or changed project files below them ask for a rescan. */
  roots: string[];
  maxDepth: number;
  /** Config files to watch wherever they are (platformio.ini extra_configs may live outside the roots). */
  configFiles: string[];
  locations: OutputLocation[];
  /** Folders whose events are never reported: the catalog, so our own writes never look like builds. */
  ignore: string[];
}

export interface WatchHandlers {
  /** A candidate output was added or changed and then left alone for `debounceMs`. */
  onOutput(output: BuildOutput): void;
  /** Something that discovery depends on changed (config file, or a watched stable folder vanished). */
  onRescan(reason: string): void;
  onError(message: string): void;
}

export interface WatchOptions {
  debounceMs: number;
}

interface Anchored {
  location: OutputLocation;
  anchor: string;
}

export class BuildWatcher {
  private readonly outputs: FSWatcher;
  private readonly configs: FSWatcher;
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private disposed = false;

  private constructor(
    private readonly plan: WatchPlan,
    private readonly anchored: Anchored[],
    private readonly handlers: WatchHandlers,
    private readonly options: WatchOptions,
  ) {
    const common = {
      ignoreInitial: true,
      awaitWriteFinish: false,
      followSymlinks: false,
      ignorePermissionErrors: true,
    } as const;
    this.outputs = new FSWatcher({ ...common, ignored: (p: string, stats?: Stats) => !this.isOutputPath(p, stats) });
    this.configs = new FSWatcher({
      ...common,
      depth: plan.maxDepth,
      ignored: (p: string, stats?: Stats) => !this.isConfigPath(p, stats),
    });
  }

  /** Starts watching; resolves once the initial folder reads are done (events after that are not missed). */
  static async start(plan: WatchPlan, handlers: WatchHandlers, options: WatchOptions): Promise<BuildWatcher> {
    const anchored: Anchored[] = [];
    for (const location of plan.locations) anchored.push({ location, anchor: await stableAnchor(location) });
    const watcher = new BuildWatcher(plan, anchored, handlers, options);
    await watcher.listen();
    return watcher;
  }

  /** The folders actually handed to chokidar (for logs and tests). */
  get anchors(): string[] {
    return [...new Set(this.anchored.map((a) => a.anchor))];
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    await Promise.all([this.outputs.close(), this.configs.close()]);
  }

  private async listen(): Promise<void> {
    const ready = (w: FSWatcher) => new Promise<void>((resolve) => w.once('ready', () => resolve()));
    const outputsReady = ready(this.outputs);
    const configsReady = ready(this.configs);

    this.outputs.on('all', (event, p) => this.onOutputEvent(event, p));
    this.outputs.on('error', (error) => this.handlers.onError(`watcher: ${describe(error)}`));
    this.configs.on('all', (event, p) => this.onConfigEvent(event, p));
    this.configs.on('error', (error) => this.handlers.onError(`watcher: ${describe(error)}`));

    const anchors = this.anchors;
    const roots = [...new Set([...this.plan.roots, ...this.plan.configFiles.filter((f) => !this.underRoot(f))])];
    // chokidar emits 'ready' only after add(); an empty watcher is ready at once.
    if (anchors.length > 0) this.outputs.add(anchors);
    if (roots.length > 0) this.configs.add(roots);
    await Promise.all([anchors.length > 0 ? outputsReady : undefined, roots.length > 0 ? configsReady : undefined]);
  }

  private onOutputEvent(event: string, p: string): void {
    if (this.disposed) return;
    if (event === 'add' || event === 'change') {
      const output = this.resolve(p);
      // Keyed by the output: a `.bin` and its `.bin.signed` written a moment apart are looked at once.
      if (output) this.debounce(output.file, () => this.handlers.onOutput(output));
    } else if (event === 'unlink') {
      this.cancel(p);
    } else if (event === 'addDir') {
      // A folder (re)appeared in a build tree: a file created in the instant between chokidar reading the new
      // folder and attaching its watch would raise no event, so look at the location once things settle.
      for (const { location } of this.anchored) {
        if (isSameOrInside(location.dir, p) || isInside(p, location.dir)) this.debounceScan(location);
      }
    } else if (event === 'unlinkDir') {
      if (this.anchored.some((a) => a.anchor === p)) this.handlers.onRescan(`watched folder removed: ${p}`);
    }
  }

  private onConfigEvent(event: string, p: string): void {
    if (this.disposed) return;
    if (event !== 'add' && event !== 'change' && event !== 'unlink') return;
    // Editing a sketch changes its .ino all the time; only its appearance or removal changes the project set.
    if (event === 'change' && projectMarkerOf(p)?.contentMatters === false && !this.plan.configFiles.includes(p))
      return;
    this.debounce(`rescan:${p}`, () => this.handlers.onRescan(`${event} ${p}`));
  }

  private resolve(p: string): BuildOutput | undefined {
    if (this.isIgnored(p)) return undefined;
    for (const { location } of this.anchored) {
      if (!isInside(location.dir, p)) continue;
      const output = resolveCandidate(location, p);
      if (output) return output;
    }
    return undefined;
  }

  private debounce(key: string, fire: () => void): void {
    this.cancel(key);
    this.timers.set(
      key,
      setTimeout(() => {
        this.timers.delete(key);
        if (!this.disposed) fire();
      }, this.options.debounceMs),
    );
  }

  private debounceScan(location: OutputLocation): void {
    this.debounce(`scan:${location.dir}`, () => {
      scanLocation(location).then(
        (outputs) => {
          if (!this.disposed)
            for (const output of outputs) this.debounce(output.file, () => this.handlers.onOutput(output));
        },
        (error: unknown) => this.handlers.onError(`scan ${location.dir}: ${describe(error)}`),
      );
    });
  }

  private cancel(key: string): void {
    const timer = this.timers.get(key);
    if (timer) clearTimeout(timer);
    this.timers.delete(key);
  }

  /** The output watcher's filter: the chain from each anchor down to its build folder, then the candidates in it. */
  private isOutputPath(p: string, stats?: Stats): boolean {
    if (this.isIgnored(p)) return false;
    for (const { location, anchor } of this.anchored) {
      const { dir, depth } = location;
      if (p === anchor || (isInside(anchor, p) && isSameOrInside(p, dir))) return true;
      if (!isInside(dir, p)) continue;
      const level = path.relative(dir, p).split(path.sep).length;
      const couldBeDir = !stats || stats.isDirectory();
      // Not only regular files: a FIFO, a link or a device where a build output belongs reaches the publisher,
      // which says why it is skipped (and never reads it).
      const couldBeFile = !stats || !stats.isDirectory();
      if (level <= depth && couldBeDir && !path.basename(p).startsWith('.')) return true;
      if (level === depth + 1 && couldBeFile && resolveCandidate(location, p)) return true;
    }
    return false;
  }

  /** The discovery watcher's filter: folders (not hidden, not dependency trees) and the build systems' project files. */
  private isConfigPath(p: string, stats?: Stats): boolean {
    if (this.isIgnored(p)) return false;
    if (this.plan.roots.includes(p) || this.plan.configFiles.includes(p)) return true;
    const name = path.basename(p);
    const isMarker = projectMarkerOf(p) !== undefined;
    if (stats?.isFile()) return isMarker;
    if (name === 'node_modules') return false;
    // Hidden folders are not searched, but for those that hold project files (`.vscode`); inside them only those.
    if (name.startsWith('.')) return isMarkerFolder(p) && !stats?.isFile();
    if (isMarkerFolder(path.dirname(p))) return isMarker;
    return true;
  }

  private isIgnored(p: string): boolean {
    return this.plan.ignore.some((dir) => isSameOrInside(dir, p));
  }

  private underRoot(file: string): boolean {
    return this.plan.roots.some((root) => isInside(root, file));
  }
}

/** The folder to hand to chokidar: the location's stable folder if the build folder is inside it, else the nearest existing ancestor. */
export async function stableAnchor(location: OutputLocation): Promise<string> {
  const { dir, stableDir } = location;
  if (isSameOrInside(stableDir, dir) && (await isDirectory(stableDir))) return stableDir;
  let p = dir;
  while (!(await isDirectory(p))) {
    const parent = path.dirname(p);
    if (parent === p) break;
    p = parent;
  }
  return p;
}

async function isDirectory(p: string): Promise<boolean> {
  try {
    return (await fs.stat(p)).isDirectory();
  } catch {
    return false;
  }
}
