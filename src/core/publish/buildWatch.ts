// Where builds land and when they change: discovery of the projects under the roots, the file watcher over their
// output folders (watcher.ts), rescans when a project file changes (new watcher first, then the old one closed: no
// window without one), and the build targets that follow from both. It reports outputs; it never reads one.

import * as path from 'node:path';
import { Emitter, type Disposable, type Event } from '../events';
import type { Logger } from '../log';
import { isInside, isSameOrInside } from '../paths';
import { errorMessage as describe } from '../errorMessage';
import { DEFAULT_MAX_DEPTH, discover, outputForFile, resolveOutput } from './discover';
import type { BuildOutput, BuildTarget, Discovery } from './discover';
import { BuildWatcher } from './watcher';

export interface BuildWatchOptions {
  /** Workspace folders or --watch folders searched for projects. */
  roots: string[];
  extraOutputDirs?: string[];
  extraGlobs?: string[];
  /** For PLATFORMIO_BUILD_DIR / PLATFORMIO_WORKSPACE_DIR; defaults to process.env. */
  env?: NodeJS.ProcessEnv;
  /** Folder levels searched below a root for projects (default 4). */
  maxDepth?: number;
  /** Quiet time after the last file event before an output is reported. */
  debounceMs: number;
  /** The catalog folder: never watched, and a build folder that holds it is refused. */
  catalogDir: () => string;
  logger: Logger;
  /** An output changed (`build`), or was found by a rescan (`existing`: the rescan waits for it to be handled). */
  onOutput(output: BuildOutput, mode: 'build' | 'existing'): Promise<unknown>;
  onError(message: string): void;
}

export class BuildWatch implements Disposable {
  private readonly targetsChanged: Emitter<readonly BuildTarget[]>;
  readonly onDidChangeTargets: Event<readonly BuildTarget[]>;
  private discovery?: Discovery;
  private watcher?: BuildWatcher;
  private readonly knownTargets = new Map<string, BuildTarget>();
  private rescans: Promise<void> = Promise.resolve();
  private lastWatching = '';
  private disposed = false;

  constructor(private readonly options: BuildWatchOptions) {
    this.targetsChanged = new Emitter('build targets changed', () => options.logger);
    this.onDidChangeTargets = this.targetsChanged.event;
  }

  get targets(): readonly BuildTarget[] {
    return [...this.knownTargets.values()];
  }

  /** The folders chokidar watches for outputs (diagnostics and tests). */
  get watchedFolders(): readonly string[] {
    return this.watcher?.anchors ?? [];
  }

  target(key: string): BuildTarget | undefined {
    return this.knownTargets.get(key);
  }

  /** A file as an output: of the build location it lies in, or a file of its own (a one-off publish). */
  outputFor(file: string): BuildOutput {
    return resolveOutput(this.discovery?.locations ?? [], file) ?? outputForFile(file);
  }

  /** Every known target's expected output (the poll backstop stats them). */
  expectedOutputs(): BuildOutput[] {
    return this.targets.map(
      (target) =>
        resolveOutput(this.discovery?.locations ?? [], target.file) ?? {
          file: target.file,
          target,
          compressed: target.file.endsWith('.gz'),
        },
    );
  }

  /** A target seen in a publish (a manual one, or a build outside the discovered ones). */
  addTarget(target: BuildTarget): void {
    if (this.knownTargets.has(target.key) || target.tool === 'file') return;
    this.knownTargets.set(target.key, target);
    this.targetsChanged.fire(this.targets);
  }

  /** Discovers again (new projects, edited platformio.ini / arduino.json), rewatches, and reports existing outputs. */
  rescan(): Promise<void> {
    const run = this.rescans.then(() => this.doRescan());
    this.rescans = run.catch(() => undefined);
    return run;
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    await this.rescans;
    await this.watcher?.dispose();
    this.watcher = undefined;
    this.targetsChanged.dispose();
  }

  private async doRescan(): Promise<void> {
    if (this.disposed) return;
    const { logger: log, roots } = this.options;
    const found = await discover({
      roots,
      extraOutputDirs: this.options.extraOutputDirs,
      extraGlobs: this.options.extraGlobs,
      env: this.options.env,
      maxDepth: this.options.maxDepth,
    });
    for (const warning of found.warnings) log.warn(warning);
    for (const message of found.errors) this.options.onError(message);
    // Publishing writes into the catalog; a catalog inside a build folder would mean writing into a build folder
    // (which a clean build would also wipe). A catalog inside a sketch folder or a glob's base is fine: the watcher
    // ignores the catalog's own files.
    const catalogDir = this.options.catalogDir();
    found.locations = found.locations.filter((location) => {
      const inside = isSameOrInside(location.dir, catalogDir);
      if (!inside || (!location.buildOwned && location.dir !== catalogDir)) return true;
      this.options.onError(
        `not watching ${location.dir}: the catalog folder ${catalogDir} is inside this build folder`,
      );
      return false;
    });
    found.outputs = found.outputs.filter((o) => found.locations.some((l) => isInside(l.dir, o.file)));
    this.discovery = found;

    // New watcher first, then close the old one: no window without a watcher. Duplicate events are debounced.
    const previous = this.watcher;
    const watcher = await BuildWatcher.start(
      {
        roots: roots.map((r) => path.resolve(r)),
        maxDepth: this.options.maxDepth ?? DEFAULT_MAX_DEPTH,
        configFiles: found.configFiles,
        locations: found.locations,
        ignore: [catalogDir],
      },
      {
        onOutput: (output) => void this.options.onOutput(output, 'build'),
        onRescan: (why) => {
          log.debug(`rescanning build outputs: ${why}`);
          this.rescan().catch((error: unknown) => this.options.onError(`rescan failed: ${describe(error)}`));
        },
        onError: (message) => this.options.onError(message),
      },
      { debounceMs: this.options.debounceMs },
    );
    if (this.disposed) {
      await watcher.dispose();
      return;
    }
    this.watcher = watcher;
    await previous?.dispose();
    // Said once per change of what is watched (rescans after every build would repeat it): the first thing to read
    // when a build does not show up.
    const watching = `watching builds of ${plural(found.targets.length, 'target')} from ${watcher.anchors.join(', ') || '(nothing)'}`;
    if (watching !== this.lastWatching) log.info(watching);
    else log.debug(watching);
    this.lastWatching = watching;

    this.setTargets(found.targets);
    await Promise.all(found.outputs.map((output) => this.options.onOutput(output, 'existing')));
  }

  private setTargets(targets: readonly BuildTarget[]): void {
    const before = signature(this.targets);
    this.knownTargets.clear();
    for (const t of targets) this.knownTargets.set(t.key, t);
    if (signature(targets) !== before) this.targetsChanged.fire(this.targets);
  }
}

function signature(targets: readonly BuildTarget[]): string {
  return JSON.stringify([...targets].sort((a, b) => (a.key < b.key ? -1 : 1)));
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}
