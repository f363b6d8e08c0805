// Composition of discovery, watching, analysis and snapshotting: builds in, catalog entries out.
//
// Every candidate goes through one serial queue: stat → read once → analyze → md5 → snapshot. Serial because the
// catalog and its origins sidecar are read-modify-write state, and builds are rare events (a queue of a few files
// costs nothing). Nothing here throws out of a watcher callback: failures become onDidError with a one-line reason.

import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { Emitter } from '../events';
import type { Disposable, Event } from '../events';
import type { Logger } from '../log';
import { ImageWork } from '../work/imageWork';
import { MAX_IMAGE_BYTES, type ImageInfo } from '../firmware/imageInfo';
import { NotReadError, readBounded } from '../readBounded';
import type { Origin } from '../catalog/origins';
import { Catalog } from '../catalog/catalog';
import { DEFAULT_MAX_DEPTH, SIGNED_SUFFIX, discover, outputForFile, resolveOutput } from './discover';
import { checkSignedImage } from '../firmware/signedImage';
import { isInside, isSameOrInside } from '../paths';
import { errorMessage as describe } from '../errorMessage';
import type { BuildOutput, BuildTarget, Discovery } from './discover';
import { BuildWatcher } from './watcher';
import { baseStem } from '../catalog/snapshot';

/** A build's bytes with their verdict and MD5, from one examination. */
interface ExaminedBuild {
  bytes: Buffer;
  info: ImageInfo;
  md5: string;
  sha256: string;
}

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

export interface PublishEvent {
  /** Catalog entry name, e.g. `blink-d1_mini.bin`. */
  name: string;
  md5: string;
  size: number;
  info: ImageInfo;
  origin: Origin;
  /** Key of the build target. */
  target: string;
  /** Dated name the previous build was kept under. */
  kept?: string;
  /** Old dated entries deleted by retention. */
  removed: string[];
  /** Something a person should know about this entry's history, e.g. a signed build replacing an unsigned one. */
  note?: string;
}

/** `unreadable`: not a regular file (link, FIFO, socket, device), larger than any image, or not readable. */
export type SkipCode =
  'not-an-app' | 'not-a-filesystem' | 'incomplete' | 'wrong-family' | 'bad-signature' | 'unreadable';

export interface SkipEvent {
  source: string;
  code: SkipCode;
  /** One line a person can act on, e.g. "bootloader image". */
  reason: string;
  target?: string;
  info?: ImageInfo;
}

export interface PublishErrorEvent {
  message: string;
  source?: string;
}

export type PublishOutcome =
  | { published: true; event: PublishEvent }
  | {
      published: false;
      code: SkipCode | 'unchanged' | 'older' | 'missing' | 'pending' | 'error';
      reason: string;
      name?: string;
    };

type Mode = 'build' | 'existing' | 'manual';

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

export class BuildPublisher implements Disposable {
  private readonly _onDidPublish = new Emitter<PublishEvent>('build published', () => this.log);
  private readonly _onDidSkip = new Emitter<SkipEvent>('build skipped', () => this.log);
  private readonly _onDidError = new Emitter<PublishErrorEvent>('publish failed', () => this.log);
  private readonly _onDidChangeTargets = new Emitter<readonly BuildTarget[]>('build targets changed', () => this.log);
  readonly onDidPublish: Event<PublishEvent> = this._onDidPublish.event;
  readonly onDidSkip: Event<SkipEvent> = this._onDidSkip.event;
  readonly onDidError: Event<PublishErrorEvent> = this._onDidError.event;
  readonly onDidChangeTargets: Event<readonly BuildTarget[]> = this._onDidChangeTargets.event;

  private readonly catalog: Catalog;
  private readonly ownsCatalog: boolean;
  private readonly keep: number;
  private readonly debounceMs: number;
  private readonly recheckMs: number;
  private readonly incompleteTimeoutMs: number;
  private readonly log: Logger;

  private discovery?: Discovery;
  private watcher?: BuildWatcher;
  private readonly knownTargets = new Map<string, BuildTarget>();
  private readonly handled = new Map<string, FileState>();
  /** Build-event looks queued and not started yet, by file. */
  private readonly waiting = new Map<string, Promise<PublishOutcome>>();
  private readonly rechecks = new Map<string, Recheck>();
  private queue: Promise<unknown> = Promise.resolve();
  private poll?: NodeJS.Timeout;
  private polling = false;
  private rescans: Promise<void> = Promise.resolve();
  private disposed = false;
  private disposing?: Promise<void>;
  private readonly work: ImageWork;
  private lastWatching = '';

  constructor(private readonly options: BuildPublisherOptions) {
    this.keep = Math.max(0, Math.floor(options.keep ?? 3));
    this.debounceMs = options.debounceMs ?? 0;
    this.recheckMs = options.recheckMs ?? 500;
    this.incompleteTimeoutMs = options.incompleteTimeoutMs ?? 10_000;
    this.log = options.logger;
    this.work = options.work ?? new ImageWork({ logger: options.logger });
    if (!options.catalog && !options.catalogDir) throw new Error('BuildPublisher: a catalog or a catalogDir is needed');
    this.ownsCatalog = !options.catalog;
    this.catalog =
      options.catalog ??
      new Catalog({ root: options.catalogDir!, logger: options.logger, watch: false, work: this.work });
  }

  /** Where this publisher's analyses ran, and the MD5 work they took (see ImageWork). */
  get workFigures(): Readonly<ImageWork['figures']> {
    return this.work.figures;
  }

  get targets(): readonly BuildTarget[] {
    return [...this.knownTargets.values()];
  }

  /** The folders chokidar watches for outputs (diagnostics and tests). */
  get watchedFolders(): readonly string[] {
    return this.watcher?.anchors ?? [];
  }

  /** The catalog folder: its real path once it exists. */
  private get catalogDir(): string {
    return this.catalog.root;
  }

  /** Discovers, publishes existing outputs that are newer than the catalog's, and starts watching. */
  async start(): Promise<void> {
    // The catalog folder is created by the first publish, not here: a workspace without projects stays untouched.
    await this.catalog.open();
    await this.rescan();
    const pollMs = this.options.pollMs ?? 2000;
    if (pollMs > 0 && !this.disposed) {
      this.poll = setInterval(() => void this.pollTargets(), pollMs);
      this.poll.unref();
    }
  }

  /** Events are hints: one stat per known target catches an output the watcher did not report. */
  private async pollTargets(): Promise<void> {
    if (this.polling || this.disposed) return;
    this.polling = true;
    try {
      for (const target of [...this.knownTargets.values()]) {
        if (this.disposed || this.rechecks.has(target.file)) continue;
        const stat = await fs.lstat(target.file).catch(() => undefined);
        if (
          !stat?.isFile() ||
          sameState(this.handled.get(target.file), { size: stat.size, mtimeMs: stat.mtimeMs, ino: stat.ino })
        )
          continue;
        const output = resolveOutput(this.discovery?.locations ?? [], target.file) ?? {
          file: target.file,
          target,
          compressed: target.file.endsWith('.gz'),
        };
        void this.enqueue(output, 'build');
      }
    } finally {
      this.polling = false;
    }
  }

  /** Discovers again (new projects, edited platformio.ini / arduino.json), rewatches, and reconciles outputs. */
  rescan(): Promise<void> {
    const run = this.rescans.then(() => this.doRescan());
    this.rescans = run.catch(() => undefined);
    return run;
  }

  /** One-off publish of a file (e.g. a "Publish Firmware…" command); `target` is a known target or its key. */
  publishFile(file: string, target?: BuildTarget | string): Promise<PublishOutcome> {
    const full = path.resolve(file);
    const known = typeof target === 'string' ? this.knownTargets.get(target) : target;
    if (typeof target === 'string' && !known) {
      return Promise.resolve({ published: false, code: 'error', reason: `unknown build target ${target}` });
    }
    const output: BuildOutput = known
      ? { file: full, target: known, compressed: full.endsWith('.gz') }
      : (resolveOutput(this.discovery?.locations ?? [], full) ?? outputForFile(full));
    return this.enqueue(output, 'manual');
  }

  dispose(): Promise<void> {
    this.disposing ??= this.close();
    return this.disposing;
  }

  private async close(): Promise<void> {
    this.disposed = true;
    clearInterval(this.poll);
    for (const recheck of this.rechecks.values()) clearTimeout(recheck.timer);
    this.rechecks.clear();
    await this.rescans;
    await this.watcher?.dispose();
    this.watcher = undefined;
    await this.queue; // the job in flight finishes its rename: nothing is written after dispose resolves
    if (this.ownsCatalog) await this.catalog.dispose();
    if (!this.options.work) await this.work.dispose();
    this._onDidPublish.dispose();
    this._onDidSkip.dispose();
    this._onDidError.dispose();
    this._onDidChangeTargets.dispose();
  }

  private async doRescan(): Promise<void> {
    if (this.disposed) return;
    const found = await discover({
      roots: this.options.roots,
      extraOutputDirs: this.options.extraOutputDirs,
      extraGlobs: this.options.extraGlobs,
      env: this.options.env,
      maxDepth: this.options.maxDepth,
    });
    for (const warning of found.warnings) this.log.warn(warning);
    for (const message of found.errors) this.error(message);
    // Publishing writes into the catalog; a catalog inside a build folder would mean writing into a build folder
    // (which a clean build would also wipe). A catalog inside a sketch folder or a glob's base is fine: the watcher
    // ignores the catalog's own files.
    found.locations = found.locations.filter((location) => {
      const inside = isSameOrInside(location.dir, this.catalogDir);
      if (!inside || (!location.buildOwned && location.dir !== this.catalogDir)) return true;
      this.error(`not watching ${location.dir}: the catalog folder ${this.catalogDir} is inside this build folder`);
      return false;
    });
    found.outputs = found.outputs.filter((o) => found.locations.some((l) => isInside(l.dir, o.file)));
    this.discovery = found;

    // New watcher first, then close the old one: no window without a watcher. Duplicate events are debounced.
    const previous = this.watcher;
    const maxDepth = this.options.maxDepth ?? DEFAULT_MAX_DEPTH;
    const watcher = await BuildWatcher.start(
      {
        roots: this.options.roots.map((r) => path.resolve(r)),
        maxDepth,
        configFiles: found.configFiles,
        locations: found.locations,
        ignore: [this.catalogDir],
      },
      {
        onOutput: (output) => void this.enqueue(output, 'build'),
        onRescan: (why) => {
          this.log.debug(`rescanning build outputs: ${why}`);
          this.rescan().catch((error: unknown) => this.error(`rescan failed: ${describe(error)}`));
        },
        onError: (message) => this.error(message),
      },
      { debounceMs: this.debounceMs },
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
    if (watching !== this.lastWatching) this.log.info(watching);
    else this.log.debug(watching);
    this.lastWatching = watching;

    this.setTargets(found.targets);
    await Promise.all(found.outputs.map((output) => this.enqueue(output, 'existing')));
  }

  private setTargets(targets: readonly BuildTarget[]): void {
    const before = signature([...this.knownTargets.values()]);
    this.knownTargets.clear();
    for (const t of targets) this.knownTargets.set(t.key, t);
    if (signature(targets) !== before) this._onDidChangeTargets.fire(this.targets);
  }

  private addTarget(target: BuildTarget): void {
    if (this.knownTargets.has(target.key) || target.tool === 'file') return;
    this.knownTargets.set(target.key, target);
    this._onDidChangeTargets.fire(this.targets);
  }

  private enqueue(output: BuildOutput, mode: Mode): Promise<PublishOutcome> {
    // Without a quiet time, a build being written raises an event per write: a look at the file already waiting in
    // the queue will see the latest bytes, so another one is not queued behind it.
    const waiting = mode === 'build' ? this.waiting.get(output.file) : undefined;
    if (waiting) return waiting;
    const job = this.queue.then(() => {
      if (mode === 'build') this.waiting.delete(output.file);
      return this.disposed && mode !== 'manual'
        ? ({ published: false, code: 'error', reason: 'publisher stopped' } as const)
        : this.process(output, mode).catch((error: unknown): PublishOutcome => {
            const reason = `cannot publish ${output.file}: ${describe(error)}`;
            this.error(reason, output.file);
            return { published: false, code: 'error', reason };
          });
    });
    if (mode === 'build') this.waiting.set(output.file, job);
    this.queue = job;
    return job;
  }

  private async process(output: BuildOutput, mode: Mode): Promise<PublishOutcome> {
    const { file, target } = output;
    let stat;
    try {
      stat = await fs.lstat(file);
    } catch {
      this.handled.delete(file);
      return { published: false, code: 'missing', reason: `${file} does not exist` };
    }
    const signedFile = output.filesystem ? undefined : `${file}${SIGNED_SUFFIX}`;
    const signedStat = signedFile ? await fs.stat(signedFile).catch(() => undefined) : undefined;
    const state: FileState = { size: stat.size, mtimeMs: stat.mtimeMs, ino: stat.ino };
    if (signedStat?.isFile())
      state.signed = { size: signedStat.size, mtimeMs: signedStat.mtimeMs, ino: signedStat.ino };
    if (mode !== 'manual' && sameState(this.handled.get(file), state)) {
      return { published: false, code: 'unchanged', reason: 'already handled' };
    }

    // Read once: these exact bytes are analyzed, hashed and written into the catalog. Bounded: a FIFO, a device, a
    // link or a file larger than any image is skipped (one log line), never read.
    let read;
    try {
      read = await readBounded(file, MAX_IMAGE_BYTES);
    } catch (error) {
      if (!(error instanceof NotReadError)) throw error;
      if (error.code === 'missing') {
        this.handled.delete(file);
        return { published: false, code: 'missing', reason: `${file} ${error.message}` };
      }
      this.handled.set(file, state);
      return this.skip(output, 'unreadable', error.message);
    }
    let { bytes } = read;
    // Analysed and hashed in the image worker: a 16 MB build would hold the editor's loop for tens of ms.
    let { info, md5, sha256 } = read.changed
      ? {
          info: {
            kind: 'not-an-image',
            compressed: false,
            complete: false,
            reason: 'incomplete: the file is being written',
          } as ImageInfo,
          md5: '',
          sha256: '',
        }
      : await this.work.examine(bytes, path.basename(file));
    // Incomplete comes first: the first bytes of an app being written can look like anything (a few bytes of an
    // ESP32 app have no app descriptor yet), so only a complete file gets a final verdict.
    if (!info.complete) return this.incomplete(output, mode, state, info);
    if (output.filesystem) {
      if (info.kind !== 'filesystem') {
        this.clearRecheck(file);
        this.handled.set(file, state);
        const what = info.kind === 'app' ? 'an application image' : (info.reason ?? info.kind);
        return this.skip(output, 'not-a-filesystem', `named like a filesystem image, but it is ${what}`, info);
      }
    } else {
      if (info.kind !== 'app') {
        this.clearRecheck(file);
        this.handled.set(file, state);
        return this.skip(output, 'not-an-app', info.reason ?? `not an application image (${info.kind})`, info);
      }
      if (info.compressed && info.family !== 'esp8266') {
        this.clearRecheck(file);
        this.handled.set(file, state);
        return this.skip(output, 'wrong-family', 'gzip images are only accepted by ESP8266 devices', info);
      }
      const signed = await this.signedImage(
        output,
        mode,
        { bytes, info, md5, sha256 },
        state,
        signedFile,
        !!state.signed,
      );
      if ('outcome' in signed) return signed.outcome;
      ({ bytes, info, md5, sha256 } = signed);
    }
    this.clearRecheck(file);

    this.addTarget(target);
    const outcome = await this.store({ output, bytes, md5, sha256, info, mtime: stat.mtime, mode });
    if (outcome.published || outcome.code === 'unchanged' || outcome.code === 'older') this.handled.set(file, state);
    if (outcome.published) {
      const { event } = outcome;
      const kind = output.filesystem ? `${output.filesystem} filesystem image, ` : info.signed ? 'signed, ' : '';
      this.log.info(`published ${event.name} (${kind}${event.size} bytes, md5 ${md5}) from ${file}`);
      if (event.note) this.log.warn(`${event.name}: ${event.note}`);
      if (event.removed.length > 0) this.log.debug(`retention removed ${event.removed.join(', ')}`);
      this._onDidPublish.fire(event);
    } else {
      this.log.debug(`not publishing ${file}: ${outcome.reason}`);
    }
    return outcome;
  }

  /**
   * An ESP8266 build signed with a private.key writes `<output>.signed` after the `.bin`; a device that verifies
   * signatures accepts only that file, so it is what gets published (under the `.bin` name: devices list only
   * `.bin`). A signed file that does not check out is never published in its place, and neither is the unsigned
   * `.bin` of a build that is being signed: both wait like an incomplete image, then are skipped with the reason.
   */
  private async signedImage(
    output: BuildOutput,
    mode: Mode,
    unsigned: ExaminedBuild,
    state: FileState,
    signedFile: string | undefined,
    present: boolean,
  ): Promise<ExaminedBuild | { outcome: PublishOutcome }> {
    const { bytes, info } = unsigned;
    if (!signedFile || !present) {
      if (info.signed || !(await this.expectsSignature(output))) return unsigned;
      const reason = `a signed build is expected (private.key in ${output.target.projectDir}) but no ${path.basename(signedFile ?? '')} is there`;
      return { outcome: this.incomplete(output, mode, state, { ...info, complete: false, reason }, 'bad-signature') };
    }
    const signed = await readBounded(signedFile, MAX_IMAGE_BYTES).then(
      (read) => (read.changed ? undefined : read.bytes),
      () => undefined,
    );
    const check = signed ? checkSignedImage(bytes, signed) : undefined;
    const examined = signed && check?.ok ? await this.work.examine(signed, path.basename(output.file)) : undefined;
    const signedInfo = examined?.info;
    if (signed && examined && signedInfo?.kind === 'app' && signedInfo.complete && signedInfo.signed) {
      return { bytes: signed, info: signedInfo, md5: examined.md5, sha256: examined.sha256 };
    }
    const reason = check && !check.ok ? check.reason : `${path.basename(signedFile)} is not a signed image of the .bin`;
    return { outcome: this.incomplete(output, mode, state, { ...info, complete: false, reason }, 'bad-signature') };
  }

  /** Arduino's signing recipe signs only when the sketch folder holds private.key (tools/signing.py --mode sign). */
  private async expectsSignature(output: BuildOutput): Promise<boolean> {
    const { tool, projectDir } = output.target;
    if (tool !== 'arduino-cli' && tool !== 'arduino-ide1' && tool !== 'vscode-arduino') return false;
    if (output.compressed) return false;
    return (await fs.stat(path.join(projectDir, 'private.key')).catch(() => undefined))?.isFile() ?? false;
  }

  /** The catalog side of a publish: the catalog names, writes, keeps the previous build and applies retention. */
  private async store(job: {
    output: BuildOutput;
    bytes: Buffer;
    md5: string;
    sha256: string;
    info: ImageInfo;
    mtime: Date;
    mode: Mode;
  }): Promise<PublishOutcome> {
    const { output, bytes, md5, sha256, info, mtime, mode } = job;
    const { file, target } = output;
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
    if (!result.published) return result;
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
    return { published: true, event };
  }

  /**
   * A half-written file: never published. Look again shortly (the build may write its last bytes without another
   * event reaching us); report it only if it stays incomplete and unchanged for a long time.
   */
  private incomplete(
    output: BuildOutput,
    mode: Mode,
    state: FileState,
    info: ImageInfo,
    finalCode?: SkipCode,
  ): PublishOutcome {
    const { file } = output;
    const code: SkipCode =
      finalCode ?? (info.kind === 'app' ? 'incomplete' : output.filesystem ? 'not-a-filesystem' : 'not-an-app');
    const reason =
      info.reason ??
      (info.kind === 'app' ? 'image is incomplete (still being written?)' : `not an application image (${info.kind})`);
    if (mode === 'manual') return this.skip(output, code, reason, info);
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
      return this.skip(output, code, reason, info);
    }
    clearTimeout(recheck.timer);
    const delay = recheck.delayMs;
    recheck.delayMs = Math.min(this.recheckMs, delay * 2);
    recheck.timer = setTimeout(() => {
      if (recheck) recheck.timer = undefined;
      if (!this.disposed) void this.enqueue(output, mode);
    }, delay);
    return { published: false, code: 'pending', reason };
  }

  private clearRecheck(file: string): void {
    clearTimeout(this.rechecks.get(file)?.timer);
    this.rechecks.delete(file);
  }

  private skip(output: BuildOutput, code: SkipCode, reason: string, info?: ImageInfo): PublishOutcome {
    this.clearRecheck(output.file);
    const event: SkipEvent = { source: output.file, code, reason, target: output.target.key };
    if (info) event.info = info;
    this.log.info(`not publishing ${output.file}: ${reason}`);
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

function sameState(a: FileState | undefined, b: FileState): boolean {
  const same = (x?: Omit<FileState, 'signed'>, y?: Omit<FileState, 'signed'>) =>
    x === y || (!!x && !!y && x.size === y.size && x.mtimeMs === y.mtimeMs && x.ino === y.ino);
  return !!a && same(a, b) && same(a.signed, b.signed);
}

function signature(targets: readonly BuildTarget[]): string {
  return JSON.stringify([...targets].sort((a, b) => (a.key < b.key ? -1 : 1)));
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}
