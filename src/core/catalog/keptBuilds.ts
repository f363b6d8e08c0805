// Which catalog entries are kept builds: the dated copies a publish leaves of a target's previous build
// (`<stem>-YYYYMMDD-HHMMSS<ext>`, see snapshot.ts), each with the origin of the build it holds. A kept build can be
// made its target's current entry again (Catalog.rollBack); this file only answers which, and why not.

import type { Origin } from './origins';
import { latestName, type EntryExt } from './snapshot';

/** A dated entry this catalog kept, and the current entry of the same target that a roll back would replace. */
export interface KeptBuild {
  /** The dated entry's name. */
  name: string;
  stem: string;
  ext: EntryExt;
  /** The target's current entry (`<stem><ext>`), the name devices and update loops ask for. */
  current: string;
  /** Origin of the build the dated entry holds. */
  origin: Origin;
}

// Longest first, so `.littlefs.bin` is not read as `.bin` of a stem ending in `.littlefs`.
const DATED = /^(.+)-(\d{8})-(\d{6})(\.littlefs\.bin|\.spiffs\.bin|\.fatfs\.bin|\.bin\.gz|\.bin)$/;

/** Splits a dated entry name into its stem and extension (undefined for any other name). */
export function parseDatedName(name: string): { stem: string; ext: EntryExt } | undefined {
  const match = DATED.exec(name);
  return match ? { stem: match[1]!, ext: match[4] as EntryExt } : undefined;
}

/**
 * The kept build at `relPath`, or a one-line reason why it is not one: it must be a dated entry in the catalog's top
 * folder (where publishes write), published by this catalog for a target whose current entry exists.
 * `present` tells whether a name is in the folder now.
 */
export function findKeptBuild(
  relPath: string,
  origins: ReadonlyMap<string, Origin>,
  present: (name: string) => boolean,
): { kept: KeptBuild } | { reason: string } {
  const notKept = {
    reason: `${relPath} is not a kept build (only the dated copies a publish keeps can be rolled back to)`,
  };
  if (relPath.includes('/') || relPath.includes('\\')) return notKept;
  const parsed = parseDatedName(relPath);
  const origin = origins.get(relPath);
  if (!parsed || !origin?.target || !present(relPath)) return notKept;
  const current = latestName(parsed.stem, parsed.ext);
  const currentOrigin = origins.get(current);
  if (!present(current)) {
    return { reason: `${relPath} has no current build to replace: ${current} is not in the catalog` };
  }
  if (!currentOrigin) return { reason: `${current} is not a build this catalog published` };
  if (currentOrigin.target !== origin.target) {
    return { reason: `${current} holds a build of another target than ${relPath}` };
  }
  if (currentOrigin.md5 === origin.md5) return { reason: `${current} already holds the build of ${relPath}` };
  return { kept: { name: relPath, stem: parsed.stem, ext: parsed.ext, current, origin } };
}
