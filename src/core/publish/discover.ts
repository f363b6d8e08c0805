// Where do builds land? Walks a root (workspace folder or a --watch folder) for PlatformIO projects, Arduino sketches
// and vscode-arduino settings, and turns them into output *locations* (folders plus a rule that maps a file in them
// to a build target). Locations rather than file lists, because the folders often do not exist yet: a clean build
// deletes them and a first build creates them. Layouts: peers.md §3.1-3.4.
//
// Pure Node, read-only: discovery never creates or writes anything.

import type { FilesystemType } from '../firmware/imageInfo';
import { promises as fs } from 'node:fs';
import { isInside } from '../paths';
import { errorMessage } from '../errorMessage';
import type { Dirent } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export type BuildTool =
  'platformio' | 'arduino-cli' | 'vscode-arduino' | 'arduino-ide1' | 'output-dir' | 'glob' | 'file';

export interface BuildTarget {
  /** Stable identity across rescans and restarts: tool, project folder and environment/board (or the file). */
  key: string;
  tool: BuildTool;
  /** Project name: PlatformIO project folder name, sketch name, or the output file's stem. */
  project: string;
  /** Folder the project lives in (PlatformIO project, sketch folder, or the output folder). */
  projectDir: string;
  /** PlatformIO environment. */
  environment?: string;
  /** Board: FQBN with colons (arduino-cli, vscode-arduino) or the IDE 1.x variant. */
  board?: string;
  /** The application image to watch. A `.bin.gz` next to it (ESP8266 gzip OTA) belongs to the same target. */
  file: string;
}

export interface BuildOutput {
  /** Absolute path of the output file (the `.bin` or its `.bin.gz`). */
  file: string;
  target: BuildTarget;
  compressed: boolean;
  /**
   * Set for a filesystem image of the target (PlatformIO `buildfs`: `littlefs.bin`, `spiffs.bin`, `fatfs.bin`),
   * published as `<project>-<env>.<format>.bin`. Unset for the application image.
   */
  filesystem?: FilesystemType;
}

/** The image an ESP8266 signed build writes beside the `.bin` (esp8266/Arduino platform.txt, tools/signing.py). */
export const SIGNED_SUFFIX = '.signed';

export interface OutputLocation {
  /** Folder outputs appear in. May not exist yet. */
  dir: string;
  /** Sub folder levels between `dir` and an output: 0 = directly inside, 1 = `<dir>/<env or fqbn>/<file>`. */
  depth: number;
  /** A folder that survives clean builds (the project folder); watching starts from it or the nearest existing ancestor. */
  stableDir: string;
  /**
   * true when the folder belongs to the build (a clean build may wipe it): the catalog must never be inside it.
   * false for folders that merely contain outputs (a sketch folder with IDE 1.x exports, a glob's base).
   */
  buildOwned: boolean;
  /** Maps a file below `dir` to the target it is an output of; undefined for anything that is not a candidate. */
  resolve(file: string): BuildOutput | undefined;
  /** Human-readable, also used to tell whether a rescan changed anything. */
  description: string;
}

export interface DiscoveryOptions {
  roots: string[];
  /** Folders whose `*.bin` / `*.bin.gz` are candidates (e.g. an arduino-cli `--output-dir`). */
  extraOutputDirs?: string[];
  /** Globs (relative to each root, or absolute) of candidate outputs; `*`, `?`, `**`, `{a,b}`, `[...]`. */
  extraGlobs?: string[];
  /** Environment for PLATFORMIO_BUILD_DIR / PLATFORMIO_WORKSPACE_DIR / ${sysenv.X}; defaults to process.env. */
  env?: NodeJS.ProcessEnv;
  /** How many folder levels below a root are searched for projects (default 4). */
  maxDepth?: number;
}

export interface Discovery {
  /** Targets known now: expected ones (PlatformIO envs, vscode-arduino) and ones whose outputs exist on disk. */
  targets: BuildTarget[];
  locations: OutputLocation[];
  /** Files whose change means "discover again" (platformio.ini and its extra_configs, arduino.json). */
  configFiles: string[];
  /** Output files that exist right now. */
  outputs: BuildOutput[];
  /** One line each, for the log: unreadable config, unresolved interpolation, ... */
  warnings: string[];
  /** Roots that cannot be searched at all (missing, unreadable): one line each, for the user. */
  errors: string[];
}

/** Folders never searched: dependency trees and VCS data; hidden folders are skipped too. */
const SKIP_DIRS = new Set(['node_modules', 'bower_components', '__pycache__']);
/** IDE 1.x / arduino-cli `<sketch>.ino.<x>.bin` files that are known not to be app images (peers.md §3.6). */
const NON_APP_SUFFIXES = new Set([
  'bootloader',
  'partitions',
  'merged',
  'factory',
  'with_bootloader',
  'littlefs',
  'spiffs',
]);
const GLOB_MAX_DEPTH = 8;
/** Folder levels below a root searched for projects, unless told otherwise. */
export const DEFAULT_MAX_DEPTH = 4;

export async function discover(options: DiscoveryOptions): Promise<Discovery> {
  const env = options.env ?? process.env;
  const maxDepth = options.maxDepth ?? DEFAULT_MAX_DEPTH;
  const d: Discovery = { targets: [], locations: [], configFiles: [], outputs: [], warnings: [], errors: [] };

  for (const root of unique(options.roots.map((r) => path.resolve(r)))) {
    await walk(root, maxDepth, async (dir, entries) => {
      const markers = projectMarkers(dir, entries);
      if (markers.vscode) await addVscodeArduino(dir, d);
      if (markers.platformio) {
        await addPlatformIO(dir, env, d);
        return false; // a PlatformIO project is a leaf: its lib/, src/, .pio/ hold no other projects worth the cost
      }
      if (markers.sketch) {
        addSketch(dir, d);
        return false;
      }
      return true;
    }).catch((error: unknown) => d.errors.push(`cannot search ${root} for builds: ${errorMessage(error)}`));
  }
  for (const dir of unique((options.extraOutputDirs ?? []).map((p) => path.resolve(p)))) addOutputDir(dir, d);
  for (const glob of options.extraGlobs ?? []) {
    const absolute = path.isAbsolute(glob) || /^~[\\/]/.test(glob);
    const bases = absolute ? [''] : options.roots.map((r) => path.resolve(r));
    for (const base of unique(bases)) addGlob(base ? path.join(base, glob) : expandHome(glob), d);
  }

  // Outputs already on disk; they also reveal targets that only exist by folder (arduino-cli FQBN folders).
  // A file claimed by two locations (an extra folder that is also a PlatformIO env folder) belongs to the first,
  // as in resolveOutput(): one file, one target, one entry.
  const claimed = new Set<string>();
  for (const location of d.locations) {
    for (const output of await scanLocation(location)) {
      if (claimed.has(output.file)) continue;
      claimed.add(output.file);
      d.outputs.push(output);
    }
  }
  const byKey = new Map(d.targets.map((t) => [t.key, t]));
  for (const output of d.outputs) if (!byKey.has(output.target.key)) byKey.set(output.target.key, output.target);
  d.targets = [...byKey.values()];
  d.configFiles = unique(d.configFiles);
  return d;
}

/**
 * Whether any root holds a project that discover() would find (same markers, same depth, same skipped folders),
 * stopping at the first one: a workspace without firmware costs one bounded walk, never a watcher.
 */
export async function hasFirmwareProject(roots: readonly string[], maxDepth = DEFAULT_MAX_DEPTH): Promise<boolean> {
  for (const root of unique(roots.map((r) => path.resolve(r)))) {
    let found = false;
    await walk(root, maxDepth, async (dir, entries) => {
      const markers = projectMarkers(dir, entries);
      found =
        markers.platformio ||
        markers.sketch ||
        (markers.vscode && (await isFile(path.join(dir, '.vscode', 'arduino.json'))));
      return found ? 'stop' : true;
    }).catch(() => undefined); // an unreadable root has no project we could watch
    if (found) return true;
  }
  return false;
}

/** What marks a folder as a project: the one rule of discover() and hasFirmwareProject(). */
function projectMarkers(
  dir: string,
  entries: readonly Dirent[],
): { platformio: boolean; sketch: boolean; vscode: boolean } {
  const names = new Set(entries.map((e) => e.name));
  const sketch = `${path.basename(dir)}.ino`;
  return {
    platformio: names.has('platformio.ini'),
    sketch: entries.some((e) => e.isFile() && e.name === sketch),
    vscode: names.has('.vscode'),
  };
}

async function isFile(file: string): Promise<boolean> {
  return (await fs.stat(file).catch(() => undefined))?.isFile() ?? false;
}

/** Files under a location that its rule accepts (bounded by the location's depth). */
export async function scanLocation(location: OutputLocation): Promise<BuildOutput[]> {
  const found: BuildOutput[] = [];
  const visit = async (dir: string, level: number): Promise<void> => {
    let entries: Dirent[];
    try {
      entries = await fs.readdir(dir, { withFileTypes: true });
    } catch {
      return; // not built yet, or deleted by a clean build
    }
    for (const entry of entries) {
      const full = path.join(dir, entry.name);
      if (entry.isFile()) {
        const output = location.resolve(full);
        if (output) found.push(output);
      } else if (entry.isDirectory() && level < location.depth && !skipDir(entry.name, true)) {
        await visit(full, level + 1);
      }
    }
  };
  await visit(location.dir, 0);
  return found;
}

/**
 * Which location (if any) claims this file. A `<output>.signed` is claimed as its application output: the output
 * is looked at again and publishes the signed image.
 */
export function resolveOutput(locations: readonly OutputLocation[], file: string): BuildOutput | undefined {
  for (const location of locations) {
    if (!isInside(location.dir, file)) continue;
    const output = resolveCandidate(location, file);
    if (output) return output;
  }
  return undefined;
}

/** `location.resolve`, plus a `<output>.signed` claimed as its application output. */
export function resolveCandidate(location: OutputLocation, file: string): BuildOutput | undefined {
  if (!file.endsWith(SIGNED_SUFFIX)) return location.resolve(file);
  const base = location.resolve(file.slice(0, -SIGNED_SUFFIX.length));
  return base && !base.filesystem ? base : undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// Folder walk

/** What a visit decides: descend into the folder's subfolders, skip them, or end the walk. */
type Visit = boolean | 'stop';

async function walk(
  root: string,
  maxDepth: number,
  visit: (dir: string, entries: Dirent[]) => Promise<Visit>,
): Promise<void> {
  let level: string[] = [root];
  for (let depth = 0; depth <= maxDepth && level.length > 0; depth++) {
    const next: string[] = [];
    for (const dir of level) {
      let entries: Dirent[];
      try {
        entries = await fs.readdir(dir, { withFileTypes: true });
      } catch (error) {
        if (dir === root) throw error;
        continue;
      }
      const decision = await visit(dir, entries);
      if (decision === 'stop') return;
      if (!decision) continue;
      // Symlinked folders are not followed (isDirectory() is false for them): no loops, no escaping the root.
      for (const e of entries) if (e.isDirectory() && !skipDir(e.name, false)) next.push(path.join(dir, e.name));
    }
    level = next;
  }
}

function skipDir(name: string, allowPio: boolean): boolean {
  if (SKIP_DIRS.has(name)) return true;
  if (name.startsWith('.')) return !(allowPio && name === '.pio');
  return false;
}

// ---------------------------------------------------------------------------------------------------------------
// PlatformIO

async function addPlatformIO(projectDir: string, env: NodeJS.ProcessEnv, d: Discovery): Promise<void> {
  const iniPath = path.join(projectDir, 'platformio.ini');
  d.configFiles.push(iniPath);
  let config: IniConfig;
  try {
    config = parseIni(await fs.readFile(iniPath, 'utf8'));
  } catch (error) {
    d.warnings.push(`cannot read ${iniPath}: ${errorMessage(error)}`);
    return;
  }
  // extra_configs can declare more [env:...] sections; PlatformIO lets the main file win on conflicts.
  for (const extra of await extraConfigFiles(projectDir, config)) {
    d.configFiles.push(extra);
    try {
      const more = parseIni(await fs.readFile(extra, 'utf8'));
      for (const [section, values] of more) {
        const mine = config.get(section) ?? new Map<string, string>();
        for (const [k, v] of values) if (!mine.has(k)) mine.set(k, v);
        config.set(section, mine);
      }
    } catch (error) {
      d.warnings.push(`cannot read ${extra}: ${errorMessage(error)}`);
    }
  }

  const buildDir = platformioBuildDir(projectDir, config, env, d.warnings);
  const project = path.basename(projectDir);
  const envs = [...config.keys()]
    .filter((s) => s.startsWith('env:'))
    .map((s) => s.slice(4).trim())
    .filter(Boolean);
  const targets = new Map<string, BuildTarget>();
  for (const name of envs) {
    const target: BuildTarget = {
      key: `platformio:${projectDir}#${name}`,
      tool: 'platformio',
      project,
      projectDir,
      environment: name,
      // PROGNAME defaults to "firmware"; projects that rename it can add a glob.
      file: path.join(buildDir, name, 'firmware.bin'),
    };
    targets.set(name, target);
    d.targets.push(target);
  }
  d.locations.push({
    dir: buildDir,
    depth: 1,
    stableDir: projectDir,
    buildOwned: true,
    description: `platformio ${buildDir} [${envs.join(',')}]`,
    resolve(file) {
      const rel = relativeParts(buildDir, file);
      if (!rel || rel.length !== 2) return undefined;
      const target = targets.get(rel[0]!);
      if (!target) return undefined;
      if (rel[1] === 'firmware.bin') return { file, target, compressed: false };
      if (rel[1] === 'firmware.bin.gz') return { file, target, compressed: true };
      const fs = PLATFORMIO_FILESYSTEM.exec(rel[1]!);
      if (fs) return { file, target, compressed: false, filesystem: fs[1] as FilesystemType };
      return undefined;
    },
  });
}

/** What `pio run -t buildfs` writes next to firmware.bin, by the board's `board_build.filesystem`. */
const PLATFORMIO_FILESYSTEM = /^(littlefs|spiffs|fatfs)\.bin$/;

/** build_dir with PlatformIO's precedence: env var, then [platformio] option, then `<workspace_dir>/build`. */
export function platformioBuildDir(
  projectDir: string,
  config: IniConfig,
  env: NodeJS.ProcessEnv,
  warnings: string[] = [],
): string {
  const option = (key: string): string | undefined => {
    const value = config.get('platformio')?.get(key);
    if (value === undefined || value.trim() === '') return undefined;
    const resolved = interpolate(value.trim(), projectDir, config, env, effective);
    if (resolved === undefined) {
      warnings.push(
        `${path.join(projectDir, 'platformio.ini')}: cannot resolve ${key} = ${value.trim()}, using the default`,
      );
    }
    return resolved;
  };
  const absolute = (value: string) => path.resolve(projectDir, expandHome(value));
  const resolving = new Set<string>();
  // The values PlatformIO would use, so that ${platformio.workspace_dir} inside build_dir resolves to the real one.
  const effective = (key: string): string | undefined => {
    if (resolving.has(key)) return undefined; // a self reference: unresolvable, the caller falls back to the default
    resolving.add(key);
    try {
      return effectiveValue(key);
    } finally {
      resolving.delete(key);
    }
  };
  const effectiveValue = (key: string): string | undefined => {
    if (key === 'workspace_dir') {
      const fromEnv = env['PLATFORMIO_WORKSPACE_DIR'];
      if (fromEnv) return absolute(fromEnv);
      const fromIni = option('workspace_dir');
      return absolute(fromIni ?? '.pio');
    }
    if (key === 'build_dir') {
      const fromEnv = env['PLATFORMIO_BUILD_DIR'];
      if (fromEnv) return absolute(fromEnv);
      const fromIni = option('build_dir');
      return fromIni !== undefined ? absolute(fromIni) : path.join(effective('workspace_dir')!, 'build');
    }
    return undefined;
  };
  return effective('build_dir')!;
}

type IniConfig = Map<string, Map<string, string>>;

/** Python configparser as PlatformIO uses it: `[section]`, `key = value`, indented continuation lines, `;`/`#` comments. */
export function parseIni(text: string): IniConfig {
  const config: IniConfig = new Map();
  let section: Map<string, string> | undefined;
  let lastKey: string | undefined;
  for (const raw of text.split(/\r?\n/)) {
    if (/^\s*[;#]/.test(raw) || raw.trim() === '') {
      if (raw.trim() === '') lastKey = undefined;
      continue;
    }
    const line = raw.replace(/\s+[;#].*$/, '');
    if (/^\s/.test(line) && section && lastKey) {
      section.set(lastKey, `${section.get(lastKey)}\n${line.trim()}`);
      continue;
    }
    const header = /^\s*\[([^\]]+)\]/.exec(line);
    if (header) {
      const name = header[1]!.trim();
      section = config.get(name) ?? new Map();
      config.set(name, section);
      lastKey = undefined;
      continue;
    }
    const kv = /^\s*([^=:]+?)\s*[=:]\s*(.*)$/.exec(line);
    if (kv && section) {
      lastKey = kv[1]!.toLowerCase();
      section.set(lastKey, kv[2]!.trim());
    }
  }
  return config;
}

/**
 * `${PROJECT_DIR}`, `$PROJECT_DIR`, `${sysenv.NAME}`, `${platformio.workspace_dir}` (effective value) and
 * `${section.key}`. Returns undefined when something cannot be resolved, so the caller falls back to the default
 * instead of watching a folder literally named `${...}`.
 */
function interpolate(
  value: string,
  projectDir: string,
  config: IniConfig,
  env: NodeJS.ProcessEnv,
  effective: (key: string) => string | undefined,
  depth = 0,
): string | undefined {
  if (depth > 8) return undefined;
  let failed = false;
  const out = value
    .replace(/\$\{PROJECT_DIR\}|\$PROJECT_DIR\b/g, () => projectDir)
    .replace(/\$\{([^}]+)\}/g, (_, ref: string) => {
      const dot = ref.indexOf('.');
      const section = dot > 0 ? ref.slice(0, dot) : '';
      const key = dot > 0 ? ref.slice(dot + 1) : ref;
      let resolved: string | undefined;
      if (section === 'sysenv') resolved = env[key];
      else if (section === 'platformio' && (key === 'workspace_dir' || key === 'build_dir')) resolved = effective(key);
      else if (section) {
        const raw = config.get(section)?.get(key.toLowerCase());
        if (raw !== undefined) resolved = interpolate(raw, projectDir, config, env, effective, depth + 1);
      }
      if (resolved === undefined) failed = true;
      return resolved ?? '';
    });
  return failed ? undefined : out;
}

async function extraConfigFiles(projectDir: string, config: IniConfig): Promise<string[]> {
  const raw = config.get('platformio')?.get('extra_configs');
  if (!raw) return [];
  const files: string[] = [];
  for (const item of raw
    .split(/[\n,]/)
    .map((s) => s.trim())
    .filter(Boolean)) {
    const full = path.resolve(projectDir, expandHome(item));
    if (!/[*?[{]/.test(path.basename(full))) {
      files.push(full);
      continue;
    }
    const matcher = globToRegExp(path.basename(full));
    try {
      for (const name of (await fs.readdir(path.dirname(full))).sort()) {
        if (matcher.test(name)) files.push(path.join(path.dirname(full), name));
      }
    } catch {
      // an extra_configs glob over a missing folder matches nothing, as in PlatformIO
    }
  }
  return files;
}

// ---------------------------------------------------------------------------------------------------------------
// Arduino: arduino-cli / IDE 2 exports, IDE 1.x exports, vscode-arduino

function addSketch(sketchDir: string, d: Discovery): void {
  const sketch = path.basename(sketchDir);
  const exportDir = path.join(sketchDir, 'build');
  const cliTarget = (fqbnDir: string): BuildTarget => ({
    key: `arduino-cli:${sketchDir}#${fqbnDir}`,
    tool: 'arduino-cli',
    project: sketch,
    projectDir: sketchDir,
    board: fqbnFromFolder(fqbnDir),
    file: path.join(exportDir, fqbnDir, `${sketch}.ino.bin`),
  });
  // arduino-cli -e and IDE 2 "Export Compiled Binary": <sketch>/build/<fqbn, ':' → '.'>/<sketch>.ino.bin
  d.locations.push({
    dir: exportDir,
    depth: 1,
    stableDir: sketchDir,
    buildOwned: true,
    description: `arduino-cli export ${exportDir}`,
    resolve(file) {
      const rel = relativeParts(exportDir, file);
      if (!rel || rel.length !== 2) return undefined;
      if (rel[1] === `${sketch}.ino.bin`) return { file, target: cliTarget(rel[0]!), compressed: false };
      if (rel[1] === `${sketch}.ino.bin.gz`) return { file, target: cliTarget(rel[0]!), compressed: true };
      return undefined;
    },
  });
  // IDE 1.x "Export compiled Binary": <sketch>/<sketch>.ino.<variant>.bin next to the .ino
  const prefix = `${sketch}.ino.`;
  d.locations.push({
    dir: sketchDir,
    depth: 0,
    stableDir: sketchDir,
    buildOwned: false,
    description: `arduino IDE 1.x export ${sketchDir}`,
    resolve(file) {
      if (path.dirname(file) !== sketchDir) return undefined;
      const name = path.basename(file);
      if (!name.startsWith(prefix)) return undefined;
      const compressed = name.endsWith('.bin.gz');
      if (!compressed && !name.endsWith('.bin')) return undefined;
      const variant = name.slice(prefix.length, name.length - (compressed ? 7 : 4));
      if (!variant || NON_APP_SUFFIXES.has(variant.toLowerCase())) return undefined;
      const target: BuildTarget = {
        key: `arduino-ide1:${sketchDir}#${variant}`,
        tool: 'arduino-ide1',
        project: sketch,
        projectDir: sketchDir,
        board: variant,
        file: path.join(sketchDir, `${prefix}${variant}.bin`),
      };
      return { file, target, compressed };
    },
  });
}

async function addVscodeArduino(workspaceDir: string, d: Discovery): Promise<void> {
  const settingsPath = path.join(workspaceDir, '.vscode', 'arduino.json');
  let text: string;
  try {
    text = await fs.readFile(settingsPath, 'utf8');
  } catch {
    return; // no vscode-arduino settings here
  }
  d.configFiles.push(settingsPath);
  let settings: unknown;
  try {
    settings = JSON.parse(stripJsonComments(text));
  } catch (error) {
    d.warnings.push(`cannot parse ${settingsPath}: ${errorMessage(error)}`);
    return;
  }
  const { output, sketch, board } = (settings ?? {}) as Record<string, unknown>;
  // Without "output" vscode-arduino builds into a temporary folder we cannot know.
  if (typeof output !== 'string' || output.trim() === '' || typeof sketch !== 'string' || sketch.trim() === '') return;
  const outputDir = path.resolve(workspaceDir, expandHome(output.trim()));
  const sketchName = path.basename(sketch.trim().replace(/\\/g, '/')).replace(/\.(ino|pde)$/i, '');
  const target: BuildTarget = {
    key: `vscode-arduino:${workspaceDir}#${sketchName}`,
    tool: 'vscode-arduino',
    project: sketchName,
    projectDir: workspaceDir,
    file: path.join(outputDir, `${sketchName}.ino.bin`),
  };
  if (typeof board === 'string' && board.trim()) target.board = board.trim();
  d.targets.push(target);
  d.locations.push({
    dir: outputDir,
    depth: 0,
    stableDir: workspaceDir,
    buildOwned: true,
    description: `vscode-arduino ${outputDir} ${sketchName}`,
    resolve(file) {
      if (file === target.file) return { file, target, compressed: false };
      if (file === `${target.file}.gz`) return { file, target, compressed: true };
      return undefined;
    },
  });
}

/** `esp32.esp32.esp32s3` → `esp32:esp32:esp32s3` (vendor and architecture never contain dots; a board id might). */
export function fqbnFromFolder(folder: string): string {
  const parts = folder.split('.');
  return parts.length >= 3 ? `${parts[0]}:${parts[1]}:${parts.slice(2).join('.')}` : folder;
}

// ---------------------------------------------------------------------------------------------------------------
// Extra output folders and globs

function addOutputDir(dir: string, d: Discovery): void {
  d.locations.push({
    dir,
    depth: 0,
    stableDir: dir,
    buildOwned: true,
    description: `output folder ${dir}`,
    resolve(file) {
      if (path.dirname(file) !== dir) return undefined;
      return fileOutput('output-dir', dir, file);
    },
  });
}

function addGlob(pattern: string, d: Discovery): void {
  const normalized = path.resolve(pattern).split(path.sep).join('/');
  const segments = normalized.split('/');
  const firstGlob = segments.findIndex((s) => /[*?[{]/.test(s));
  if (firstGlob < 0) {
    // A plain path: a single file to watch.
    const file = path.resolve(pattern);
    const dir = path.dirname(file);
    d.locations.push({
      dir,
      depth: 0,
      stableDir: dir,
      buildOwned: false,
      description: `file ${file}`,
      resolve: (candidate) =>
        candidate === file || candidate === `${file}.gz` ? fileOutput('glob', dir, candidate) : undefined,
    });
    return;
  }
  const base = segments.slice(0, firstGlob).join('/') || '/';
  const rest = segments.slice(firstGlob);
  const depth = rest.includes('**') ? GLOB_MAX_DEPTH : rest.length - 1;
  const matcher = globToRegExp(rest.join('/'));
  const dir = path.resolve(base);
  d.locations.push({
    dir,
    depth,
    stableDir: dir,
    buildOwned: false,
    description: `glob ${pattern}`,
    resolve(file) {
      const rel = relativeParts(dir, file);
      if (!rel) return undefined;
      const relPath = rel.join('/');
      if (!matcher.test(relPath) && !(relPath.endsWith('.gz') && matcher.test(relPath.slice(0, -3)))) return undefined;
      return fileOutput('glob', dir, file);
    },
  });
}

/** A one-off file (e.g. "Publish Firmware…"): the target is the file itself. */
export function outputForFile(file: string): BuildOutput {
  const full = path.resolve(file);
  const known = fileOutput('file', path.dirname(full), full);
  if (known) return known;
  const stem = path.basename(full).replace(/\.[^.]*$/, '') || 'firmware';
  const target: BuildTarget = {
    key: `file:${full}`,
    tool: 'file',
    project: stem,
    projectDir: path.dirname(full),
    file: full,
  };
  return { file: full, target, compressed: false };
}

/** A target identified by the file itself: project = file stem without `.ino`; `firmware` takes its folder as env. */
function fileOutput(tool: BuildTool, dir: string, file: string): BuildOutput | undefined {
  const name = path.basename(file);
  const compressed = name.endsWith('.bin.gz');
  if (!compressed && !name.endsWith('.bin')) return undefined;
  const binFile = compressed ? file.slice(0, -3) : file;
  const stem = path
    .basename(binFile)
    .slice(0, -4)
    .replace(/\.ino$/, '');
  if (!stem) return undefined;
  const target: BuildTarget = { key: `${tool}:${binFile}`, tool, project: stem, projectDir: dir, file: binFile };
  if (stem === 'firmware') target.environment = path.basename(path.dirname(binFile));
  return { file, target, compressed };
}

/** Glob (forward slashes) → anchored RegExp. `**` spans folders, `*` and `?` stay inside one. */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') {
      if (glob[i + 1] === '*') {
        const slash = glob[i + 2] === '/';
        re += slash ? '(?:[^/]+/)*' : '.*';
        i += slash ? 2 : 1;
      } else re += '[^/]*';
    } else if (c === '?') re += '[^/]';
    else if (c === '{') {
      const end = glob.indexOf('}', i);
      if (end < 0) re += '\\{';
      else {
        re += `(?:${glob
          .slice(i + 1, end)
          .split(',')
          .map(escapeRegExp)
          .join('|')})`;
        i = end;
      }
    } else if (c === '[') {
      const end = glob.indexOf(']', i + 1);
      if (end < 0) re += '\\[';
      else {
        re += `[${glob
          .slice(i + 1, end)
          .replace(/^!/, '^')
          .replace(/\\/g, '\\\\')}]`;
        i = end;
      }
    } else re += escapeRegExp(c);
  }
  return new RegExp(`^${re}$`);
}

// ---------------------------------------------------------------------------------------------------------------
// Small helpers

function relativeParts(dir: string, file: string): string[] | undefined {
  return isInside(dir, file) ? path.relative(dir, file).split(path.sep) : undefined;
}

function expandHome(p: string): string {
  return p === '~' || /^~[\\/]/.test(p) ? path.join(os.homedir(), p.slice(1)) : p;
}

/** JSON with `//` and `/* *\/` comments and trailing commas, as VS Code settings files allow. */
function stripJsonComments(text: string): string {
  return text
    .replace(/("(?:[^"\\]|\\.)*")|\/\/[^\n]*|\/\*[\s\S]*?\*\//g, (_m, str: string | undefined) => str ?? '')
    .replace(/,(\s*[}\]])/g, '$1');
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

function unique<T>(items: T[]): T[] {
  return [...new Set(items)];
}
