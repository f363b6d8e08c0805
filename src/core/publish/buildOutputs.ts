// What discovery finds: build targets, the folders their outputs land in (locations), and the outputs themselves.
// Shared by every build system, the extra folders and globs, the watcher and the publisher.

import type { FilesystemType } from '../firmware/imageInfo';
import { isInside } from '../paths';
import * as os from 'node:os';
import picomatch from 'picomatch';
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

/** The path segments of `file` below `dir`, or undefined when it is not below it. */
export function relativeParts(dir: string, file: string): string[] | undefined {
  return isInside(dir, file) ? path.relative(dir, file).split(path.sep) : undefined;
}

/** `~` and `~/x` as the user's home, as the tools themselves read them. */
export function expandHome(p: string): string {
  return p === '~' || /^~[\\/]/.test(p) ? path.join(os.homedir(), p.slice(1)) : p;
}

/**
 * Glob semantics of the shells and Python's glob that build tools follow: `**` spans folders, `*` and `?` stay in
 * one, `{a,b}`, `[abc]`, `[!x]`; a leading dot is matched like any character.
 */
export const GLOB_OPTIONS: picomatch.PicomatchOptions = { dot: true, posix: true };
