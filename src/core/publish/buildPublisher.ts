// Builds in, catalog entries out: an output reported by the watcher side (buildWatch.ts: discovery and rewatching;
// outputQueue.ts: one serial queue, rechecks of incomplete images, the poll backstop) is examined once
// (examineBuild.ts: read, analyse, hash, classify) and handed to the catalog with that analysis (catalog.publish).
// Nothing here writes into the catalog folder, and nothing throws out of a watcher callback: failures become
// onDidError with a one-line reason.

import * as path from 'node:path';
import { Emitter } from '../events';
import type { Disposable, Event } from '../events';
import type { Logger } from '../log';
import { ImageWork } from '../work/imageWork';
import { Catalog } from '../catalog/catalog';
import { baseStem } from '../catalog/snapshot';
import type { ImageInfo } from '../firmware/imageInfo';
import type { BuildOutput, BuildTarget } from './discover';
import { BuildWatch } from './buildWatch';
import { examineBuild, type ExaminedBuild } from './examineBuild';
import { OutputQueue, type Look } from './outputQueue';
import type { LookMode, PublishErrorEvent, PublishEvent, PublishOutcome, SkipCode, SkipEvent } from './publishEvents';

export type { PublishErrorEvent, PublishEvent, PublishOutcome, SkipCode, SkipEvent } from './publishEvents';

export interface BuildPublisherOptions {
  /** Workspace folders or --watch folders searched for projects. */
  roots: string[];
  /** The catalog builds are published into (kept by whoever made it). */
  catalog?: Catalog;
  /** Without `catalog`: the folder of a catalog of the publisher's own (not watched; closed on dispose). */
  catalogDir?: string;
  /** Previous builds kept per target as dated entries (default 3; 0 = keep none). */
  keep?: number;
  extraOutputDirs?: string[];
  extraGlobs?: string[];
  /** For PLATFORMIO_BUILD_DIR / PLATFORMIO_WORKSPACE_DIR; defaults to process.env. */
  env?: NodeJS.ProcessEnv;
  /**
   * Quiet time after the last file event before a file is looked at (default 0: at once; the image checks decide
   * whether it is complete, and a build still writing is looked at again on its next event).
   */
  debounceMs?: number;
  logger: Logger;
  /** Folder levels searched below a root for projects (default 4). */
  maxDepth?: number;
  /** How often an incomplete image is looked at again without new events (default 500 ms). */
  recheckMs?: number;
  /** An image that stays incomplete and unchanged this long is reported as skipped (default 10 s). */
  incompleteTimeoutMs?: number;
  /**
   * How often the expected output of every known target is stat'ed as a backstop for a missed watcher event (a file
   * written into a folder created a moment before can slip past a busy watcher). Default 2000 ms; 0 turns it off.
   */
  pollMs?: number;
  /** Where builds are hashed and analysed; by default a worker thread of the publisher's own. */
  work?: ImageWork;
}

/** How long the same reason for not publishing the same output counts as the same build looked at again. */
const SKIP_REPEAT_MS = 3000;

export class BuildPublisher implements Disposable {
  private readonly _onDidPublish = new Emitter<PublishEvent>('build published', () => this.log);
  private readonly _onDidSkip = new Emitter<SkipEvent>('build skipped', () => this.log);
  private readonly _onDidError = new Emitter<PublishErrorEvent>('publish failed', () => this.log);
  readonly onDidPublish: Event<PublishEvent> = this._onDidPublish.event;
  readonly onDidSkip: Event<SkipEvent> = this._onDidSkip.event;
  readonly onDidError: Event<PublishErrorEvent> = this._onDidError.event;
  readonly onDidChangeTargets: Event<readonly BuildTarget[]>;

  private readonly catalog: Catalog;
  /** The reason last logged for not publishing each output, and when: the same again at once is not news (see skip). */
  private readonly toldSkips = new Map<string, { reason: string; at: number }>();
  private readonly ownsCatalog: boolean;
  private readonly keep: number;
  private readonly log: Logger;
  private readonly work: ImageWork;
  private readonly builds: BuildWatch;
  private readonly queue: OutputQueue;
  private disposing?: Promise<void>;

  constructor(private readonly options: BuildPublisherOptions) {
    this.keep = Math.max(0, Math.floor(options.keep ?? 3));
    this.log = options.logger;
    this.work = options.work ?? new ImageWork({ logger: options.logger });
    if (!options.catalog && !options.catalogDir) throw new Error('BuildPublisher: a catalog or a catalogDir is needed');
    this.ownsCatalog = !options.catalog;
    this.catalog =
      options.catalog ??
      new Catalog({ root: options.catalogDir!, logger: options.logger, watch: false, work: this.work });
    this.queue = new OutputQueue({
      look: (output, mode, mtime, signedPresent) => this.look(output, mode, mtime, signedPresent),
      giveUp: (output, incomplete) => this.skip(output, incomplete.code, incomplete.reason, incomplete.info),
      onError: (message, file) => this.error(message, file),
      pollOutputs: () => this.builds.expectedOutputs(),
      recheckMs: options.recheckMs,
      incompleteTimeoutMs: options.incompleteTimeoutMs,
      pollMs: options.pollMs,
    });
    this.builds = new BuildWatch({
      roots: options.roots,
      extraOutputDirs: options.extraOutputDirs,
      extraGlobs: options.extraGlobs,
      env: options.env,
      maxDepth: options.maxDepth,
      debounceMs: options.debounceMs ?? 0,
      catalogDir: () => this.catalog.root,
      logger: options.logger,
      onOutput: (output, mode) => this.queue.enqueue(output, mode),
      onError: (message) => this.error(message),
    });
    this.onDidChangeTargets = this.builds.onDidChangeTargets;
  }

  /** Where this publisher's analyses ran, and the MD5 work they took (see ImageWork). */
  get workFigures(): Readonly<ImageWork['figures']> {
    return this.work.figures;
  }

  get targets(): readonly BuildTarget[] {
    return this.builds.targets;
  }

  /** The folders chokidar watches for outputs (diagnostics and tests). */
  get watchedFolders(): readonly string[] {
    return this.builds.watchedFolders;
  }

  /** Discovers, publishes existing outputs that are newer than the catalog's, and starts watching. */
  async start(): Promise<void> {
    // The catalog folder is created by the first publish, not here: a workspace without projects stays untouched.
    await this.catalog.open();
    await this.builds.rescan();
    if (!this.disposing) this.queue.startPolling();
  }

  /** Discovers again (new projects, edited platformio.ini / arduino.json), rewatches, and reconciles outputs. */
  rescan(): Promise<void> {
    return this.builds.rescan();
  }

  /** One-off publish of a file (e.g. a "Publish Firmware…" command); `target` is a known target or its key. */
  publishFile(file: string, target?: BuildTarget | string): Promise<PublishOutcome> {
    const full = path.resolve(file);
    const known = typeof target === 'string' ? this.builds.target(target) : target;
    if (typeof target === 'string' && !known) {
      return Promise.resolve({ published: false, code: 'error', reason: `unknown build target ${target}` });
    }
    const output: BuildOutput = known
      ? { file: full, target: known, compressed: full.endsWith('.gz') }
      : this.builds.outputFor(full);
    return this.queue.enqueue(output, 'manual');
  }

  dispose(): Promise<void> {
    this.disposing ??= this.close();
    return this.disposing;
  }

  private async close(): Promise<void> {
    this.queue.stop();
    await this.builds.dispose();
    await this.queue.drain(); // the job in flight finishes its rename: nothing is written after dispose resolves
    if (this.ownsCatalog) await this.catalog.dispose();
    if (!this.options.work) await this.work.dispose();
    this._onDidPublish.dispose();
    this._onDidSkip.dispose();
    this._onDidError.dispose();
  }

  /** One look at an output: examine it, then publish it if it is a build a device can take. */
  private async look(output: BuildOutput, mode: LookMode, mtime: Date, signedPresent: boolean): Promise<Look> {
    const examined = await examineBuild(output, this.work, signedPresent);
    switch (examined.kind) {
      case 'missing':
        return { kind: 'missing', outcome: { published: false, code: 'missing', reason: examined.reason } };
      case 'incomplete':
        return examined;
      case 'skip':
        return {
          kind: 'final',
          outcome: this.skip(output, examined.code, examined.reason, examined.info),
          remember: true,
        };
      case 'ready': {
        this.builds.addTarget(output.target);
        const outcome = await this.publish(output, examined, mtime, mode);
        const remember = outcome.published || outcome.code === 'unchanged' || outcome.code === 'older';
        return { kind: 'final', outcome, remember };
      }
    }
  }

  /** The catalog side: it names, writes, keeps the previous build and applies retention, with this analysis. */
  private async publish(
    output: BuildOutput,
    build: ExaminedBuild,
    mtime: Date,
    mode: LookMode,
  ): Promise<PublishOutcome> {
    const { file, target } = output;
    const { bytes, info, md5, sha256 } = build;
    const ext = output.filesystem ? (`.${output.filesystem}.bin` as const) : info.compressed ? '.bin.gz' : '.bin';
    const result = await this.catalog.publish({
      bytes,
      md5,
      sha256,
      info,
      mtime,
      source: file,
      target,
      stem: baseStem(target.project, nameVariant(target)),
      ext,
      keep: this.keep,
      onlyIfNewer: mode === 'existing',
    });
    if (!result.published) {
      this.log.debug(`not publishing ${file}: ${result.reason}`);
      return result;
    }
    const event: PublishEvent = {
      name: result.name,
      md5,
      size: bytes.length,
      info,
      origin: result.origin,
      target: target.key,
      removed: result.removed,
    };
    if (result.kept) event.kept = result.kept;
    if (result.note) event.note = result.note;
    const kind = output.filesystem ? `${output.filesystem} filesystem image, ` : info.signed ? 'signed, ' : '';
    this.toldSkips.delete(file);
    this.log.info(`published ${event.name} (${kind}${event.size} bytes, md5 ${md5}) from ${file}`);
    if (event.note) this.log.warn(`${event.name}: ${event.note}`);
    if (event.removed.length > 0) this.log.debug(`retention removed ${event.removed.join(', ')}`);
    this._onDidPublish.fire(event);
    return { published: true, event };
  }

  private skip(output: BuildOutput, code: SkipCode, reason: string, info?: ImageInfo): PublishOutcome {
    const event: SkipEvent = { source: output.file, code, reason, target: output.target.key };
    if (info) event.info = info;
    // A watcher event that raced the look, or a tool touching the file after writing it, makes the queue look at the
    // same build again within moments: the log says once why it is not published. A later build of the output that
    // is refused for the same reason is news again (the user rebuilt and looks for a line).
    const now = Date.now();
    const told = this.toldSkips.get(output.file);
    const news = told?.reason !== reason || now - told.at > SKIP_REPEAT_MS;
    this.toldSkips.delete(output.file); // re-inserted last: the map keeps the newest outputs when it is trimmed
    this.toldSkips.set(output.file, { reason, at: news ? now : told!.at });
    if (this.toldSkips.size > 1000) this.toldSkips.delete(this.toldSkips.keys().next().value as string);
    const line = `not publishing ${output.file}: ${reason}`;
    if (news) this.log.info(line);
    else this.log.debug(line);
    this._onDidSkip.fire(event);
    return { published: false, code, reason };
  }

  private error(message: string, source?: string): void {
    this.log.error(message);
    this._onDidError.fire(source ? { message, source } : { message });
  }
}

/** The `<env>` part of an entry name: PlatformIO env, else the board id of an FQBN (`esp32:esp32:esp32s3:opts` → esp32s3). */
export function nameVariant(target: BuildTarget): string | undefined {
  if (target.environment) return target.environment;
  if (!target.board) return undefined;
  const parts = target.board.split(':');
  return parts.length >= 3 ? parts[2] : target.board;
}
