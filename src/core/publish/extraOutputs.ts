// Outputs the user points at: extra folders (an arduino-cli --output-dir), glob patterns (a renamed PROGNAME), and a
// single file published by hand. The target is then the file itself.

import * as path from 'node:path';
import picomatch from 'picomatch';
import {
  GLOB_OPTIONS,
  relativeParts,
  type BuildOutput,
  type BuildTarget,
  type BuildTool,
  type Discovery,
} from './buildOutputs';

const GLOB_MAX_DEPTH = 8;

export function addOutputDir(dir: string, d: Discovery): void {
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

export function addGlob(pattern: string, d: Discovery): void {
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
  const matcher = picomatch(rest.join('/'), GLOB_OPTIONS);
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
      if (!matcher(relPath) && !(relPath.endsWith('.gz') && matcher(relPath.slice(0, -3)))) return undefined;
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

/** Glob (forward slashes) → anchored RegExp: `**` spans folders, `*` and `?` stay inside one, `{a,b}`, `[!x]`. */
export function globToRegExp(glob: string): RegExp {
  return picomatch.makeRe(glob, GLOB_OPTIONS);
}
