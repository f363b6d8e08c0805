// Exports the catalog for nginx: one owner of the export folder. Each export is built as a new generation beside the
// live one (`.export-N/`) and switched in by renaming one symbolic link (`current`), so nginx, rsync or a person
// never see half an export. The catalog answers come from the catalog's own listing code, the images are the bytes
// their digests were computed from (the export's own files: an in-place rewrite of a catalog file cannot change
// what nginx sends with an old x-MD5), hard-linked from the previous generation when unchanged.

import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import {
  chmod,
  link,
  lstat,
  mkdir,
  open,
  readFile,
  readdir,
  readlink,
  rename,
  rm,
  stat,
  symlink,
  unlink,
  writeFile,
} from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { CatalogStore } from '../catalog/catalogStore';
import type { Audience } from '../catalog/listing';
import { Emitter, type Disposable, type Event } from '../events';
import { errorMessage } from '../errorMessage';
import { silentLogger, type Logger } from '../log';
import { isSameOrInside } from '../paths';
import { AUDIENCES, nginxConf, serverConf, type ExportedFolder, type ExportedImage } from './nginxConfig';
import { exportReadme } from './nginxReadme';
import { isMatchableName } from './queryPatterns';
import { mapLimited } from '../work/mapLimited';
import { syncFolder } from '../syncFolder';

/** What the export reads of the catalog: its index, its listings and the image store's bytes and variants. */
export type ExportSource = Pick<
  CatalogStore,
  'root' | 'allEntries' | 'listing' | 'findCurrent' | 'loadEntry' | 'images'
>;

export interface NginxExportOptions {
  dir: string;
  catalog: ExportSource;
  /** Port of the generated `listen`; default: the existing export's, else 8000 (AutoConnectUpdate's default). */
  port?: number;
  /** The port when neither `port` nor an existing export gives one (default 8000). */
  defaultPort?: number;
  /** `server_name`; default: the existing export's, else `_`. */
  serverName?: string;
  /** 304 for the image a device already runs (default on, as in our server). */
  answerNotModified?: boolean;
  /** Who made it, for the generated files' first line, e.g. `autoconnect-update-server 0.2.0`. */
  generator?: string;
  logger?: Logger;
  /** Previous generations kept for an nginx that has not reloaded yet (default 2). */
  keepPrevious?: number;
}

export interface NginxExportResult {
  dir: string;
  generation: number;
  port: number;
  serverName: string;
  images: number;
  /** Images hard-linked from the previous export (unchanged) and written anew. */
  linked: number;
  written: number;
  folders: number;
  /** Things a person should fix (a folder nginx's worker cannot reach, folders left out). */
  warnings: string[];
}

export class NginxExportError extends Error {}

interface ManifestImage extends Omit<ExportedImage, 'file'> {
  /** Path of the copy below the generation folder. */
  file: string;
  ino: number;
  mtimeMs: number;
}

interface Manifest {
  format: 1;
  generator: string;
  catalog: string;
  exportedAt: string;
  port: number;
  serverName: string;
  answerNotModified: boolean;
  folders: ExportedFolder[];
  images: ManifestImage[];
}

const MARKER = '.autoconnect-nginx-export';
const LOCK = '.export.lock';
const CURRENT = 'current';
const GENERATION = /^\.export-(\d+)$/;
const FILE_MODE = 0o644;
const DIR_MODE = 0o755;
/** Exports retried when the catalog changes while one is built. */
const ATTEMPTS = 3;

/** Changed while exported: the export starts again from a fresh look at the catalog. */
class CatalogMoved extends Error {}

export class NginxExporter {
  private readonly logger: Logger;
  private readonly dir: string;
  private running: Promise<NginxExportResult> | undefined;
  private queued: Promise<NginxExportResult> | undefined;
  private readonly exported = new Emitter<NginxExportResult>('nginx export done', () => this.logger);
  private readonly failed = new Emitter<Error>('nginx export failed', () => this.logger);
  /** Fires after every export that `keepCurrent` started, with its result. */
  readonly onDidExport: Event<NginxExportResult> = this.exported.event;
  readonly onDidFail: Event<Error> = this.failed.event;
  private timer: NodeJS.Timeout | undefined;
  private disposed = false;

  constructor(private readonly options: NginxExportOptions) {
    this.logger = options.logger ?? silentLogger;
    this.dir = resolve(options.dir);
  }

  /** Exports now; calls while an export runs share one more export after it (they all see the newest catalog). */
  export(): Promise<NginxExportResult> {
    if (!this.running) return this.start();
    this.queued ??= this.running
      .catch(() => undefined)
      .then(() => {
        this.queued = undefined;
        return this.start();
      });
    return this.queued;
  }

  private start(): Promise<NginxExportResult> {
    const run = this.exportWithRetries().finally(() => {
      if (this.running === run) this.running = undefined;
    });
    this.running = run;
    return run;
  }

  /** Re-exports after every catalog change (debounced), reporting through onDidExport / onDidFail. */
  keepCurrent(onDidChange: Event<unknown>, debounceMs = 250): Disposable {
    const subscription = onDidChange(() => {
      if (this.disposed) return;
      clearTimeout(this.timer);
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.export().then(
          (result) => this.exported.fire(result),
          (error: unknown) => this.failed.fire(error instanceof Error ? error : new Error(String(error))),
        );
      }, debounceMs);
    });
    return {
      dispose: () => {
        subscription.dispose();
        clearTimeout(this.timer);
      },
    };
  }

  /** Stops following the catalog and waits for an export under way. */
  async dispose(): Promise<void> {
    this.disposed = true;
    clearTimeout(this.timer);
    await this.queued?.catch(() => undefined);
    await this.running?.catch(() => undefined);
    this.exported.dispose();
    this.failed.dispose();
  }

  private async exportWithRetries(): Promise<NginxExportResult> {
    await this.prepareDir();
    const release = await this.lock();
    try {
      for (let attempt = 1; ; attempt++) {
        try {
          return await this.exportOnce();
        } catch (error) {
          if (!(error instanceof CatalogMoved) || attempt >= ATTEMPTS) {
            if (error instanceof CatalogMoved)
              throw new NginxExportError(`the catalog kept changing while it was exported (${error.message})`);
            throw error;
          }
          this.logger.debug(`nginx export: ${error.message}; starting again`);
        }
      }
    } finally {
      await release();
    }
  }

  /** Creates DIR, or checks that it is empty or an export of ours: an export never deletes anything else. */
  private async prepareDir(): Promise<void> {
    const catalogRoot = this.options.catalog.root;
    if ([...this.dir].some((c) => c === '$' || c.charCodeAt(0) < 0x20)) {
      throw new NginxExportError(
        `the export folder ${this.dir} has a character nginx would read as a variable ($) or a control character`,
      );
    }
    if (isSameOrInside(catalogRoot, this.dir) || isSameOrInside(this.dir, catalogRoot)) {
      throw new NginxExportError(
        `the export folder ${this.dir} and the catalog ${catalogRoot} must not contain each other`,
      );
    }
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOTDIR') throw new NginxExportError(`${this.dir} is not a folder`);
      if (code !== 'ENOENT') throw new NginxExportError(`cannot read ${this.dir}: ${errorMessage(error)}`);
      await mkdir(this.dir, { recursive: true });
      await chmod(this.dir, DIR_MODE);
      names = [];
    }
    if (names.length > 0 && !names.includes(MARKER)) {
      throw new NginxExportError(
        `${this.dir} is neither empty nor an nginx export of this catalog; choose an empty or new folder`,
      );
    }
    if (!names.includes(MARKER)) {
      await writeFile(join(this.dir, MARKER), 'An nginx export of autoconnect-update-server. See README.txt.\n');
      await chmod(join(this.dir, MARKER), FILE_MODE);
    }
    await mkdir(join(this.dir, 'run'), { recursive: true });
    await chmod(join(this.dir, 'run'), DIR_MODE);
  }

  /** One exporter per folder, across processes: a lock file holding the owner's pid. */
  private async lock(): Promise<() => Promise<void>> {
    const path = join(this.dir, LOCK);
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await writeFile(path, `${process.pid}\n`, { flag: 'wx' });
        return () => unlink(path).catch(() => undefined);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        const pid = Number((await readFile(path, 'utf8').catch(() => '')).trim());
        if (Number.isInteger(pid) && pid > 0 && isAlive(pid)) {
          throw new NginxExportError(`another export to ${this.dir} is under way (process ${pid})`);
        }
        await unlink(path).catch(() => undefined); // left by a process that is gone
      }
    }
    throw new NginxExportError(`cannot lock ${path}`);
  }

  private async exportOnce(): Promise<NginxExportResult> {
    const source = this.options.catalog;
    const previous = await this.readCurrent();
    const port = this.options.port ?? previous?.manifest.port ?? this.options.defaultPort ?? 8000;
    const serverName = this.options.serverName ?? previous?.manifest.serverName ?? '_';
    const answerNotModified = this.options.answerNotModified ?? true;
    const generation = (await this.generations()).reduce((max, n) => Math.max(max, n), 0) + 1;
    const genName = `.export-${generation}`;
    const genDir = join(this.dir, genName);
    const generator = `generated by ${this.options.generator ?? 'autoconnect-update-server'} from ${source.root} at ${new Date().toISOString()}`;
    const warnings: string[] = [];

    // 1. What the catalog holds now: every indexed folder's listings, its offered images and its other names.
    const folderRels = [
      '',
      ...source
        .allEntries()
        .filter((e) => e.isDirectory)
        .map((e) => e.relPath),
    ];
    const listings = new Map<string, Map<Audience, Buffer>>();
    const folders: ExportedFolder[] = [];
    const refused: string[] = [];
    const wanted: { relPath: string; dir: string; name: string }[] = [];
    for (const rel of folderRels) {
      const any = await source.listing(rel, 'any');
      if (!any) continue; // deeper than the catalog indexes: our server answers 404 too
      if (rel !== '' && !rel.split('/').every(isMatchableName)) {
        warnings.push(`folder ${rel} is left out: its name has characters a catalog request cannot carry`);
        continue;
      }
      const bodies = new Map<Audience, Buffer>();
      for (const audience of AUDIENCES) bodies.set(audience, (await source.listing(rel, audience))!.body);
      listings.set(rel, bodies);
      folders.push({ rel, id: `f${folders.length}` });
      const prefix = rel ? `${rel}/` : '';
      for (const entry of any.entries) {
        if (entry.type === 'bin') wanted.push({ relPath: `${prefix}${entry.name}`, dir: rel, name: entry.name });
        else if (isMatchableName(entry.name)) refused.push(`/${prefix}${entry.name}`);
        if (entry.type === 'directory' && isMatchableName(entry.name)) refused.push(`/${prefix}${entry.name}/`);
      }
      for (const { name } of any.excluded) if (isMatchableName(name)) refused.push(`/${prefix}${name}`);
    }
    refused.push('/');

    // 2. The new generation: images (linked when unchanged), answers, server.conf, manifest.
    await rm(genDir, { recursive: true, force: true });
    await makeDir(genDir);
    const reusable = new Map<string, { path: string; image: ManifestImage }>();
    for (const image of previous?.manifest.images ?? []) {
      reusable.set(image.sha256, { path: join(previous!.dir, image.file), image });
    }
    const images: ExportedImage[] = [];
    const manifestImages: ManifestImage[] = [];
    let linked = 0;
    // A few at a time: a first export of 1000 images waits on as many flushes to disk, which overlap well.
    const done = await mapLimited(wanted, 8, async (item) => {
      const found = await source.findCurrent(item.dir, item.name);
      const version = found?.entry.version;
      if (!found || !version || version.info.kind !== 'app' || version.info.family === undefined)
        throw new CatalogMoved(`${item.relPath} changed`);
      const file = join('images', item.relPath);
      const target = join(genDir, file);
      await makeDir(dirname(target), genDir);
      let runningMd5s: readonly string[] | undefined;
      const old = reusable.get(version.sha256);
      if (
        old &&
        old.image.size === version.size &&
        old.image.md5 === version.md5 &&
        (await sameFile(old.path, old.image))
      ) {
        try {
          await link(old.path, target);
          runningMd5s = old.image.runningMd5s;
          linked++;
        } catch {
          runningMd5s = undefined; // another file system or no links there: written below
        }
      }
      if (!runningMd5s) {
        // Through the catalog: the bytes exported are proven inside it like those it serves (catalogRoot.ts).
        const loaded = await source.loadEntry(found.entry, true).catch((error: unknown) => {
          throw new CatalogMoved(`${item.relPath} changed: ${(error as Error).message}`);
        });
        if (loaded.version.key !== version.key || !loaded.bytes) throw new CatalogMoved(`${item.relPath} changed`);
        runningMd5s =
          version.info.family === 'esp8266'
            ? await source.images.runningMd5s(version, loaded.bytes, item.name)
            : [version.md5];
        await writeDurably(target, loaded.bytes);
      }
      const stats = await lstat(target);
      const exported: ExportedImage = {
        relPath: item.relPath,
        file: join(this.dir, genName, file),
        size: version.size,
        md5: version.md5,
        sha256: version.sha256,
        family: version.info.family,
        chip: version.info.chip,
        compressed: version.info.compressed,
        appendedSha256: version.info.appendedSha256,
        runningMd5s,
      };
      const listed: ManifestImage = { ...exported, file, ino: stats.ino, mtimeMs: stats.mtimeMs };
      return { exported, listed };
    });
    for (const { exported, listed } of done) {
      images.push(exported);
      manifestImages.push(listed);
    }
    const catalogDir = join(this.dir, genName, 'catalog');
    for (const audience of AUDIENCES) await makeDir(join(genDir, 'catalog', audience), genDir);
    const answers = folders.flatMap((folder) => AUDIENCES.map((audience) => ({ folder, audience })));
    await mapLimited(answers, 8, ({ folder, audience }) =>
      writeDurably(join(genDir, 'catalog', audience, `${folder.id}.json`), listings.get(folder.rel)!.get(audience)!),
    );
    const config = serverConf(
      { port, serverName, answerNotModified, images, folders, catalogDir, refused: [...new Set(refused)] },
      generator,
    );
    await writeDurably(join(genDir, 'server.conf'), config);
    const manifest: Manifest = {
      format: 1,
      generator,
      catalog: source.root,
      exportedAt: new Date().toISOString(),
      port,
      serverName,
      answerNotModified,
      folders,
      images: manifestImages,
    };
    await writeDurably(join(genDir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);

    // 3. Nothing changed meanwhile? Then the listings written are the ones our server sends now.
    for (const [rel, bodies] of listings) {
      for (const [audience, body] of bodies) {
        const now = await source.listing(rel, audience);
        if (!now || !now.body.equals(body)) throw new CatalogMoved(`folder ${rel || '.'} changed`);
      }
    }

    // 4. The switch: one rename. Then the files outside generations, and old generations.
    await syncFolder(genDir);
    const next = join(this.dir, `${CURRENT}.${randomBytes(4).toString('hex')}`);
    await symlink(genName, next);
    await rename(next, join(this.dir, CURRENT));
    await ensureLink(join(this.dir, 'server.conf'), `${CURRENT}/server.conf`);
    await replaceFile(join(this.dir, 'nginx.conf'), nginxConf(generator));
    await replaceFile(
      join(this.dir, 'README.txt'),
      exportReadme({
        dir: this.dir,
        port,
        serverName,
        images: images.length,
        folders: folders.length,
        generatedBy: generator,
      }),
    );
    await syncFolder(this.dir);
    await this.prune(generation);
    warnings.push(...(await unreachableWarnings(this.dir)));
    const result: NginxExportResult = {
      dir: this.dir,
      generation,
      port,
      serverName,
      images: images.length,
      linked,
      written: images.length - linked,
      folders: folders.length,
      warnings,
    };
    this.logger.info(
      `nginx export ${this.dir} #${generation}: ${images.length} image(s) (${linked} unchanged, ${images.length - linked} written) in ${folders.length} folder(s), port ${port}`,
    );
    for (const warning of warnings) this.logger.warn(`nginx export: ${warning}`);
    return result;
  }

  private async readCurrent(): Promise<{ dir: string; manifest: Manifest } | undefined> {
    try {
      const target = await readlink(join(this.dir, CURRENT));
      if (!GENERATION.test(target)) return undefined;
      const dir = join(this.dir, target);
      const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as Manifest;
      return manifest.format === 1 ? { dir, manifest } : undefined;
    } catch {
      return undefined;
    }
  }

  private async generations(): Promise<number[]> {
    return (await readdir(this.dir)).flatMap((name) => {
      const match = GENERATION.exec(name);
      return match ? [Number(match[1])] : [];
    });
  }

  /** Keeps the new generation and the few before it (an nginx not reloaded yet still serves one of them). */
  private async prune(current: number): Promise<void> {
    const keep = this.options.keepPrevious ?? 2;
    const older = (await this.generations()).filter((n) => n !== current).sort((a, b) => b - a);
    for (const n of older.slice(keep)) await rm(join(this.dir, `.export-${n}`), { recursive: true, force: true });
    for (const name of await readdir(this.dir)) {
      if (name.startsWith(`${CURRENT}.`) || name.endsWith('.tmp')) await rm(join(this.dir, name), { force: true });
    }
  }
}

/**
 * One export of a catalog folder that is not being served: the folder is indexed (without a watcher), exported and
 * closed. Rejects with a CatalogError (missing or unreadable catalog) or an NginxExportError.
 */
export async function exportCatalogForNginx(
  options: Omit<NginxExportOptions, 'catalog'> & { catalogDir: string },
): Promise<NginxExportResult> {
  const { catalogDir, ...rest } = options;
  const catalog = new CatalogStore({ root: catalogDir, logger: options.logger, watch: false });
  try {
    await catalog.open();
    const exporter = new NginxExporter({ ...rest, catalog });
    try {
      return await exporter.export();
    } finally {
      await exporter.dispose();
    }
  } finally {
    await catalog.dispose();
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The previous generation's copy is still the file the manifest describes (nobody replaced or rewrote it). */
async function sameFile(path: string, image: ManifestImage): Promise<boolean> {
  const stats = await lstat(path).catch(() => undefined);
  return (
    !!stats && stats.isFile() && stats.ino === image.ino && stats.size === image.size && stats.mtimeMs === image.mtimeMs
  );
}

/** mkdir -p with mode 755 whatever the umask (nginx's worker must search every folder). */
async function makeDir(path: string, within?: string): Promise<void> {
  if (within && !isSameOrInside(within, path)) throw new Error(`${path} is outside ${within}`);
  const created = await mkdir(path, { recursive: true });
  if (!created) return;
  for (let dir = path; isSameOrInside(created, dir); dir = dirname(dir)) await chmod(dir, DIR_MODE);
}

/** Written, flushed to disk and world-readable: a crash after the switch never leaves nginx a half-written file. */
async function writeDurably(path: string, data: Buffer | string): Promise<void> {
  const handle = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, FILE_MODE);
  try {
    await handle.writeFile(data);
    await handle.chmod(FILE_MODE);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function replaceFile(path: string, text: string): Promise<void> {
  const temp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  await writeDurably(temp, text);
  await rename(temp, path);
}

async function ensureLink(path: string, target: string): Promise<void> {
  const existing = await readlink(path).catch(() => undefined);
  if (existing === target) return;
  const temp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  await symlink(target, temp);
  await rename(temp, path);
}

/** Folders above the export that an unprivileged user (nginx's worker) cannot search. */
async function unreachableWarnings(dir: string): Promise<string[]> {
  const warnings: string[] = [];
  for (let path = dir; ; path = dirname(path)) {
    const stats = await stat(path).catch(() => undefined);
    if (stats && (stats.mode & 0o001) === 0) {
      warnings.push(
        `${path} is not searchable by other users (mode ${(stats.mode & 0o777).toString(8)}): nginx's unprivileged worker cannot read the export (chmod o+x ${path})`,
      );
    }
    if (dirname(path) === path) break;
  }
  return warnings;
}
