// Puts one analyzed build into the catalog without ever exposing a partial file: the bytes go to a dotfile inside
// the catalog (same filesystem, and dotfiles are never listed), are fsynced, and are renamed over the entry name.
// The caller hands over the exact Buffer it analyzed and hashed, so what is served is what was checked.
//
// Naming (device limits of protocol.md §1.3: names well under 128 bytes, unique without regard to case):
//   latest build of a target   <stem>.bin            (or <stem>.bin.gz for a gzip ESP8266 image)
//   previous builds            <stem>-YYYYMMDD-HHMMSS.bin   (UTC build time, so names sort and never repeat over DST)
// with <stem> = sanitized "<project>-<env or board>", every name at most 64 bytes.

import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { Origin } from './origins';
import { syncFolder } from '../syncFolder';

/** Application entries end `.bin` / `.bin.gz`; a PlatformIO filesystem image of the same target `.<format>.bin`. */
export type EntryExt = '.bin' | '.bin.gz' | '.littlefs.bin' | '.spiffs.bin' | '.fatfs.bin';

export const MAX_ENTRY_NAME_BYTES = 64;
const STAMP_LENGTH = '-YYYYMMDD-HHMMSS'.length;
/** Longest stem such that even `<stem>-YYYYMMDD-HHMMSS.bin.gz` fits the name budget. */
export const MAX_STEM_LENGTH = MAX_ENTRY_NAME_BYTES - STAMP_LENGTH - '.bin.gz'.length;
const TEMP_PREFIX = '.publish-';
const TEMP_SUFFIX = '.tmp';

/** `[A-Za-z0-9._-]` only (ASCII, so bytes = characters), no leading dot (that would hide it), at most `max` long. */
export function sanitizeStem(raw: string, max = MAX_STEM_LENGTH): string {
  const ascii = raw.normalize('NFKD').replace(/[\u0300-\u036f]/g, ''); // "Prüfung" → "Prufung", not "Pr_fung"
  const clean = ascii
    .replace(/[^A-Za-z0-9._-]+/g, '_')
    .replace(/\.{2,}/g, '.')
    .replace(/^[._-]+/, '');
  const cut = clean.slice(0, max).replace(/[._-]+$/, '');
  return cut || 'firmware';
}

/** `<project>-<env or board id>`, sanitized. */
export function baseStem(project: string, variant?: string): string {
  const p = sanitizeStem(project);
  if (!variant) return p;
  const v = sanitizeStem(variant);
  return sanitizeStem(`${p}-${v}`);
}

const FILESYSTEM_EXTS = ['.littlefs.bin', '.spiffs.bin', '.fatfs.bin'];

/** Whether `name` is the latest or a dated entry of `stem` (compared without regard to case). */
export function belongsToStem(name: string, stem: string): boolean {
  const n = name.toLowerCase();
  const s = stem.toLowerCase();
  if (n === `${s}.bin` || n === `${s}.bin.gz` || FILESYSTEM_EXTS.some((ext) => n === `${s}${ext}`)) return true;
  return n.startsWith(`${s}-`) && /^-\d{8}-\d{6}(\.(littlefs|spiffs|fatfs))?\.bin(\.gz)?$/.test(n.slice(s.length));
}

/**
 * The stem a target publishes under. A target keeps the stem it already has entries under (so names stay stable
 * across restarts); otherwise it takes the first of `base`, `base-2`, `base-3`, ... that no other target and no
 * foreign file uses, case-insensitively.
 */
export function chooseStem(
  base: string,
  targetKey: string,
  catalogNames: readonly string[],
  origins: ReadonlyMap<string, Origin>,
): string {
  const names = [...new Set([...catalogNames, ...origins.keys()])];
  const candidates = Array.from({ length: 50 }, (_, i) => (i === 0 ? base : withSuffix(base, `-${i + 1}`)));
  const claims = (stem: string) => {
    let mine = false;
    let foreign = false;
    for (const name of names) {
      if (!belongsToStem(name, stem)) continue;
      if (origins.get(name)?.target === targetKey) mine = true;
      else foreign = true;
    }
    return { mine, foreign };
  };
  for (const stem of candidates) {
    const c = claims(stem);
    if (c.mine && !c.foreign) return stem;
  }
  for (const stem of candidates) if (!claims(stem).foreign) return stem;
  return withSuffix(base, `-${createHash('md5').update(targetKey).digest('hex').slice(0, 8)}`);
}

function withSuffix(base: string, suffix: string): string {
  return `${base.slice(0, MAX_STEM_LENGTH - suffix.length).replace(/[._-]+$/, '')}${suffix}`;
}

export function latestName(stem: string, ext: EntryExt): string {
  return `${stem}${ext}`;
}

export function datedName(stem: string, ext: EntryExt, builtAt: Date): string {
  const iso = builtAt.toISOString(); // 2024-05-01T12:34:56.789Z
  const stamp = `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}-${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}`;
  return `${stem}-${stamp}${ext}`;
}

export interface SnapshotInput {
  catalogDir: string;
  stem: string;
  ext: EntryExt;
  /** The exact bytes that were analyzed and hashed. */
  bytes: Buffer;
  /** Origin of the new entry (its md5 is the md5 of `bytes`); its `replacedBuiltAt` is filled in here. */
  origin: Origin;
  /** Build output's mtime: given to the entry, so the catalog's date/time columns show the build time. */
  mtime: Date;
  /** Previous builds kept as dated entries (0 = none). */
  keep: number;
  /** Origins of the catalog; updated in place (new entry, dated copy, removed entries). The caller persists it. */
  origins: Map<string, Origin>;
  /** Told each file as soon as it holds its bytes under its entry name (the new entry, the dated copy). */
  onWritten?: (file: string, kind: 'entry' | 'kept') => Promise<void>;
}

export interface SnapshotResult {
  entry: string;
  /** Dated name the previous build of this target was kept under. */
  kept?: string;
  /** Dated entries deleted by retention. */
  removed: string[];
}

/** The newest build time an entry stands for: its own, or that of a newer build it replaced. */
export function latestBuildTime(origin: Origin): number {
  return Math.max(Date.parse(origin.builtAt) || 0, Date.parse(origin.replacedBuiltAt ?? '') || 0);
}

export async function writeSnapshot(input: SnapshotInput): Promise<SnapshotResult> {
  const { catalogDir, stem, ext, origins } = input;
  const entry = latestName(stem, ext);
  const finalPath = path.join(catalogDir, entry);
  const temp = path.join(catalogDir, `${TEMP_PREFIX}${randomBytes(8).toString('hex')}${TEMP_SUFFIX}`);

  const handle = await fs.open(temp, 'wx');
  try {
    await handle.writeFile(input.bytes);
    await handle.utimes(input.mtime, input.mtime);
    await handle.sync();
  } catch (error) {
    await handle.close().catch(() => undefined);
    await fs.rm(temp, { force: true });
    throw error;
  }
  await handle.close();

  const result: SnapshotResult = { entry, removed: [] };
  try {
    // Keep the previous build under a dated name. A hard link shares its bytes, so the latest name never
    // disappears, not even for a moment: a device listing the catalog right now still finds it.
    const previous = origins.get(entry);
    if (previous && previous.target === input.origin.target) {
      // An older build made current (a roll back, a manual publish): what it replaced stays the newest build seen.
      const newest = latestBuildTime(previous);
      if (newest > (Date.parse(input.origin.builtAt) || 0))
        input.origin.replacedBuiltAt = new Date(newest).toISOString();
      else delete input.origin.replacedBuiltAt;
    }
    if (input.keep > 0 && previous && previous.target === input.origin.target && (await exists(finalPath))) {
      const builtAt = new Date(previous.builtAt);
      const kept = datedName(stem, ext, Number.isNaN(builtAt.getTime()) ? new Date() : builtAt);
      if (kept !== entry) {
        await linkOrCopy(finalPath, path.join(catalogDir, kept));
        origins.set(kept, previous);
        result.kept = kept;
      }
    }
    await renameWithRetry(temp, finalPath);
    await input.onWritten?.(finalPath, 'entry');
    // After the rename: it took the kept file's second link, which moved its ctime once more.
    if (result.kept) await input.onWritten?.(path.join(catalogDir, result.kept), 'kept');
  } catch (error) {
    await fs.rm(temp, { force: true });
    throw error;
  }
  origins.set(entry, input.origin);
  await syncFolder(catalogDir);
  result.removed = await applyRetention(catalogDir, stem, ext, input.keep, input.origin.target, origins, result.kept);
  return result;
}

/**
 * Deletes this target's dated entries beyond `keep`: the build just replaced (`spare`) first, whatever its stamp (after
 * a roll back it is older than others, and it is what an undo goes to), then newest first by their stamp.
 */
async function applyRetention(
  catalogDir: string,
  stem: string,
  ext: EntryExt,
  keep: number,
  targetKey: string | undefined,
  origins: Map<string, Origin>,
  spare: string | undefined,
): Promise<string[]> {
  const pattern = new RegExp(`^${escapeRegExp(stem)}-\\d{8}-\\d{6}${escapeRegExp(ext)}$`);
  // Only entries we published for this target: a user's own file that happens to match is left alone.
  const dated = [...origins.entries()]
    .filter(([name, o]) => pattern.test(name) && o.target === targetKey)
    .map(([name]) => name)
    .sort()
    .reverse();
  const order = spare && dated.includes(spare) ? [spare, ...dated.filter((name) => name !== spare)] : dated;
  const removed: string[] = [];
  for (const name of order.slice(Math.max(0, keep))) {
    try {
      await fs.rm(path.join(catalogDir, name), { force: true });
      origins.delete(name);
      removed.push(name);
    } catch {
      // in use on Windows, or already gone: the next publish tries again
    }
  }
  return removed;
}

/** Drops origins whose entry no longer exists (deleted by hand), so names and retention follow the folder. */
export async function pruneOrigins(
  catalogDir: string,
  origins: Map<string, Origin>,
  catalogNames: readonly string[],
): Promise<boolean> {
  const present = new Set(catalogNames);
  let changed = false;
  for (const name of [...origins.keys()]) {
    if (!present.has(name) && !(await exists(path.join(catalogDir, name)))) {
      origins.delete(name);
      changed = true;
    }
  }
  return changed;
}

/** Temp files left by a crash mid-publish; `olderThanMs` spares another publisher's file being written now. */
export async function removeStaleTemps(catalogDir: string, olderThanMs = 60_000): Promise<void> {
  let names: string[];
  try {
    names = await fs.readdir(catalogDir);
  } catch {
    return;
  }
  const now = Date.now();
  for (const name of names) {
    if (!name.startsWith(TEMP_PREFIX) || !name.endsWith(TEMP_SUFFIX)) continue;
    const full = path.join(catalogDir, name);
    try {
      if (now - (await fs.stat(full)).mtimeMs > olderThanMs) await fs.rm(full, { force: true });
    } catch {
      // raced with its owner: fine
    }
  }
}

async function linkOrCopy(from: string, to: string): Promise<void> {
  await fs.rm(to, { force: true }); // two builds within one second: the later one takes the stamp
  try {
    await fs.link(from, to);
  } catch {
    await fs.copyFile(from, to); // filesystems without hard links (FAT, some network shares)
  }
}

/** Windows refuses to replace a file another process has open (a download in flight) for a moment: retry briefly. */
async function renameWithRetry(from: string, to: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await fs.rename(from, to);
      return;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (attempt >= 10 || (code !== 'EPERM' && code !== 'EBUSY' && code !== 'EACCES')) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50 * (attempt + 1)));
    }
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await fs.access(file);
    return true;
  } catch {
    return false;
  }
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
