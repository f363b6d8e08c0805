// Where do builds land? Walks a root (workspace folder or a --watch folder) and asks each known build system
// (buildSystems/registry.ts) about every folder; they turn projects into output *locations* (folders plus a rule that
// maps a file in them to a build target). Locations rather than file lists, because the folders often do not exist
// yet: a clean build deletes them and a first build creates them. Layouts: peers.md §3.1-3.4.
//
// Pure Node, read-only: discovery never creates or writes anything.

import { promises as fs } from 'node:fs';
import type { Dirent } from 'node:fs';
import * as path from 'node:path';
import { isInside } from '../paths';
import { errorMessage } from '../errorMessage';
import { expandHome, SIGNED_SUFFIX, type BuildOutput, type Discovery, type OutputLocation } from './buildOutputs';
import { buildSystems } from './buildSystems/registry';
import type { ProjectFolder } from './buildSystems/buildSystem';
import { addGlob, addOutputDir } from './extraOutputs';

export type { BuildOutput, BuildTarget, BuildTool, Discovery, OutputLocation } from './buildOutputs';
export { SIGNED_SUFFIX } from './buildOutputs';
export { outputForFile, globToRegExp } from './extraOutputs';
export { parseIni, platformioBuildDir } from './buildSystems/platformioIni';
export { fqbnFromFolder } from './buildSystems/arduinoSketch';

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

/** Folders never searched: dependency trees and VCS data; hidden folders are skipped too. */
const SKIP_DIRS = new Set(['node_modules', 'bower_components', '__pycache__']);
/** Folder levels below a root searched for projects, unless told otherwise. */
export const DEFAULT_MAX_DEPTH = 4;

export async function discover(options: DiscoveryOptions): Promise<Discovery> {
  const env = options.env ?? process.env;
  const maxDepth = options.maxDepth ?? DEFAULT_MAX_DEPTH;
  const d: Discovery = { targets: [], locations: [], configFiles: [], outputs: [], warnings: [], errors: [] };

  for (const root of unique(options.roots.map((r) => path.resolve(r)))) {
    await walk(root, maxDepth, async (dir, entries) => {
      const folder = projectFolder(dir, entries);
      let descend = true;
      for (const system of buildSystems) {
        if (!(await system.detect(folder))) continue;
        await system.discover(folder, { env, found: d });
        if (system.leaf) {
          descend = false;
          break;
        }
      }
      return descend;
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
 * Whether any root holds a project that discover() would find (the same build systems, depth and skipped folders),
 * stopping at the first one: a workspace without firmware costs one bounded walk, never a watcher.
 */
export async function hasFirmwareProject(roots: readonly string[], maxDepth = DEFAULT_MAX_DEPTH): Promise<boolean> {
  for (const root of unique(roots.map((r) => path.resolve(r)))) {
    let found = false;
    await walk(root, maxDepth, async (dir, entries) => {
      const folder = projectFolder(dir, entries);
      for (const system of buildSystems) if (await system.detect(folder)) found = true;
      return found ? 'stop' : true;
    }).catch(() => undefined); // an unreadable root has no project we could watch
    if (found) return true;
  }
  return false;
}

function projectFolder(dir: string, entries: readonly Dirent[]): ProjectFolder {
  return { dir, entries, names: new Set(entries.map((e) => e.name)) };
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

function unique<T>(items: T[]): T[] {
  return [...new Set(items)];
}
