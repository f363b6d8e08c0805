// The catalog's memory of where each published entry came from. It lives next to the entries as a dotfile sidecar,
// because dotfiles are never listed to devices and the catalog folder is the one place both the publisher and the
// catalog server can see. Reads are tolerant (a missing or corrupt sidecar is an empty map: losing provenance must
// never stop serving); writes are atomic (temp file + rename) so a reader never sees half a JSON document.

import { readBounded } from '../readBounded';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';

export const ORIGINS_FILE = '.autoconnect-origins.json';

export interface Origin {
  /** Project the entry was built from: PlatformIO project folder, sketch name, or the file's stem. */
  project: string;
  /** PlatformIO environment, e.g. "d1_mini". */
  environment?: string;
  /** Board: FQBN (`esp32:esp32:esp32s3` or its dotted export folder form) or an IDE 1.x variant. */
  board?: string;
  /** Absolute path of the build output the bytes were copied from. */
  source: string;
  /** ISO time of the build output's mtime. */
  builtAt: string;
  /** ISO time the entry was written into the catalog (the server's clock: shown to people). */
  publishedAt: string;
  /**
   * The build time of the newest build this entry replaced, when that one was newer than the entry's own (a roll
   * back, a manual publish of an older file). A start-up asks "is this output newer than what the catalog holds?"
   * against it: file times against file times of the same target, whatever the server's clock says.
   */
  replacedBuiltAt?: string;
  /** Lowercase hex MD5 of the entry's bytes. */
  md5: string;
  /** Stable key of the build target that produced the entry (lets retention and naming find a target's entries). */
  target?: string;
  /** true when the entry is the build's `.bin.signed` (ESP8266 signed update), published under the `.bin` name. */
  signed?: boolean;
}

// Thousands of entries' origins fit in a few MB; a sidecar larger than this is not ours.
const ORIGINS_FILE_BYTES = 16 << 20;

/** Entry name → origin. Returns an empty map when the sidecar is missing, unreadable or not the expected shape. */
export async function readOrigins(catalogDir: string): Promise<Map<string, Origin>> {
  let text: string;
  try {
    // Bounded and never a FIFO or a link planted in the catalog under this name.
    text = (await readBounded(path.join(catalogDir, ORIGINS_FILE), ORIGINS_FILE_BYTES)).bytes.toString('utf8');
  } catch {
    return new Map();
  }
  return parseOrigins(text);
}

export function parseOrigins(text: string): Map<string, Origin> {
  const result = new Map<string, Origin>();
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return result;
  }
  if (!isRecord(data)) return result;
  for (const [name, value] of Object.entries(data)) {
    const origin = toOrigin(value);
    // Names are catalog entry names, never paths: anything else would let a corrupt sidecar point outside the folder.
    if (origin && isPlainEntryName(name)) result.set(name, origin);
  }
  return result;
}

/** Writes the whole map atomically: a reader sees the old document or the new one, never a mix. */
export async function writeOrigins(catalogDir: string, origins: ReadonlyMap<string, Origin>): Promise<void> {
  const sorted = [...origins.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const doc: Record<string, Origin> = {};
  for (const [name, origin] of sorted) doc[name] = stripUndefined(origin);
  const final = path.join(catalogDir, ORIGINS_FILE);
  const temp = path.join(catalogDir, `${ORIGINS_FILE}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await fs.open(temp, 'wx');
  try {
    await handle.writeFile(JSON.stringify(doc, null, 2) + '\n', 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await fs.rename(temp, final);
  } catch (error) {
    await fs.rm(temp, { force: true });
    throw error;
  }
}

export function isPlainEntryName(name: string): boolean {
  return name.length > 0 && name !== '.' && name !== '..' && !/[\\/\0]/.test(name);
}

function toOrigin(value: unknown): Origin | undefined {
  if (!isRecord(value)) return undefined;
  const { project, environment, board, source, builtAt, publishedAt, replacedBuiltAt, md5, target, signed } = value;
  if (typeof project !== 'string' || typeof source !== 'string' || typeof md5 !== 'string') return undefined;
  const origin: Origin = {
    project,
    source,
    builtAt: typeof builtAt === 'string' ? builtAt : '',
    publishedAt: typeof publishedAt === 'string' ? publishedAt : '',
    md5: md5.toLowerCase(),
  };
  if (typeof replacedBuiltAt === 'string') origin.replacedBuiltAt = replacedBuiltAt;
  if (typeof environment === 'string') origin.environment = environment;
  if (typeof board === 'string') origin.board = board;
  if (typeof target === 'string') origin.target = target;
  if (signed === true) origin.signed = true;
  return origin;
}

function stripUndefined(origin: Origin): Origin {
  return Object.fromEntries(Object.entries(origin).filter(([, v]) => v !== undefined)) as unknown as Origin;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
