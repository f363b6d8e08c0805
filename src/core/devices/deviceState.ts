// The device state file's format (`.autoconnect-devices.json`): every board that sent an update request, what it
// runs, what happened to its updates, and every build ever published. Parsing trusts nothing: a hand-edited file,
// one from a newer version or one cut short by a crash is read field by field, bounded, or refused as a whole.
// Format 1 repeated every fact in every record; format 2 (stateWriter.ts) writes a build's facts once and refers to
// builds and recurring reasons from the records (stateRefs.ts). Both are read into the same document.

import { BuildRefIndex } from './stateRefs';

export const STATE_FILE = '.autoconnect-devices.json';
/** Format version written by this server; a file with a higher one is set aside, not misread. */
export const STATE_VERSION = 2;

/** Bounds: a fleet of a thousand boards and their last twenty updates, and the builds they may run. */
export const MAX_DEVICES = 1000;
/** Records kept under one MAC: the board and, at most, this many minus one that claimed its MAC. */
export const MAX_TWINS = 4;
export const MAX_UPDATES = 20;
export const MAX_BUILDS = 2000;
/** A state file larger than this is not read (it would not have been written by us). */
export const MAX_STATE_BYTES = 16 << 20;

export type UpdateOutcome =
  'refused' | 'not-modified' | 'downloading' | 'downloaded' | 'aborted' | 'confirmed' | 'rolled-back';

export const UPDATE_OUTCOMES: readonly UpdateOutcome[] = [
  'refused',
  'not-modified',
  'downloading',
  'downloaded',
  'aborted',
  'confirmed',
  'rolled-back',
];

/** What a board runs: its reported MD5 (and ESP32 SHA-256) and, when the build is known, what that build is. */
export interface StoredRunning {
  md5?: string;
  sha256?: string;
  /** Catalog entry the build was published as. */
  image?: string;
  project?: string;
  environment?: string;
  board?: string;
  chip?: string;
  /** App version (ESP32 app descriptor). */
  version?: string;
  /** ISO 8601 build time. */
  builtAt?: string;
  /**
   * MD5 of the build named here, when it is not the reported one: the ESP8266 updater rewrites the flash-mode byte,
   * so a board reports the MD5 of its flash, not of the file.
   */
  build?: string;
}

export interface StoredUpdate {
  /** Catalog-relative entry the device asked for. */
  image: string;
  /** MD5 of the image served (or, for a 304, the one the device runs). */
  md5?: string;
  /** ISO 8601: when the device asked (for folded repeats: the latest time). */
  at: string;
  outcome: UpdateOutcome;
  reason?: string;
  /** HTTP status of a refusal. */
  status?: number;
  /** While awaiting confirmation: the MD5 the device ran before the download. */
  from?: string;
  /** Identical answers in a row (a polling device) folded into one record. */
  count?: number;
  /** A filesystem update (x-*-mode: spiffs): the board never reports its filesystem, so nothing confirms it. */
  filesystem?: true;
}

export interface StoredDevice {
  mac: string;
  /**
   * A second (third, ...) board that sent this MAC with another hardware identity (family, AP MAC, chip id, ESP8266
   * flash size): recorded apart, as `<mac>#<twin>`, so it changes only its own record.
   */
  twin?: number;
  /** Hardware identity the board sent (x-*-AP-MAC, x-ESP8266-Chip-ID). */
  apMac?: string;
  chipId?: string;
  /** User-given name (Rename Device…). */
  name?: string;
  family?: 'esp8266' | 'esp32';
  /** Chip of the build it runs, when known (e.g. esp32s3). */
  chip?: string;
  address?: string;
  firstSeen?: string;
  lastSeen: string;
  chipSize?: number;
  freeSpace?: number;
  sdkVersion?: string;
  /** Updates held: every image is answered 304 until released. */
  held?: boolean;
  running?: StoredRunning;
  /** Newest first. */
  updates: StoredUpdate[];
}

export interface StoredBuild extends StoredRunning {
  md5: string;
  /** Catalog entry name it was published or found as. */
  image: string;
  /** ISO 8601: when the server first saw it (published or found in the catalog). */
  seenAt: string;
  size?: number;
}

export interface DeviceStateDoc {
  version: number;
  devices: StoredDevice[];
  builds: StoredBuild[];
}

export type ParsedState =
  | { ok: true; doc: DeviceStateDoc; dropped: number; /** Format version of the text read. */ version: number }
  | { ok: false; reason: string; newer?: boolean };

const MAC = /^[0-9A-F]{2}(:[0-9A-F]{2}){5}$/;
const MD5 = /^[0-9a-f]{32}$/;
const SHA256 = /^[0-9a-f]{64}$/;
const SHORT = 200;

export function emptyState(): DeviceStateDoc {
  return { version: STATE_VERSION, devices: [], builds: [] };
}

/** Reads a state document. Records that do not make sense are dropped (and counted); the rest is kept. */
export function parseDeviceState(text: string): ParsedState {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    return { ok: false, reason: `not JSON (${(error as Error).message})` };
  }
  if (!isRecord(data)) return { ok: false, reason: 'not a JSON object' };
  const version = data.version;
  if (typeof version !== 'number' || !Number.isInteger(version) || version < 1)
    return { ok: false, reason: 'no format version' };
  if (version > STATE_VERSION)
    return { ok: false, reason: `format version ${version} is newer than this server's ${STATE_VERSION}`, newer: true };
  if (!Array.isArray(data.devices) || (data.builds !== undefined && !Array.isArray(data.builds)))
    return { ok: false, reason: 'devices or builds is not a list' };
  let dropped = 0;
  const builds: StoredBuild[] = [];
  const byMd5 = new Map<string, StoredBuild>();
  for (const item of (data.builds ?? []) as unknown[]) {
    const build = toBuild(item);
    if (!build || byMd5.has(build.md5)) {
      dropped++;
      continue;
    }
    byMd5.set(build.md5, build);
    builds.push(build);
  }
  const refs = version >= 2 ? compactRefs(byMd5, data.reasons) : undefined;
  const devices: StoredDevice[] = [];
  const seen = new Set<string>();
  for (const item of data.devices as unknown[]) {
    const device = toDevice(item, refs);
    const key = device && deviceKey(device);
    if (!device || !key || seen.has(key)) {
      dropped++;
      continue;
    }
    seen.add(key);
    devices.push(device);
  }
  const doc = boundState({ version: STATE_VERSION, devices, builds });
  dropped += devices.length - doc.devices.length + builds.length - doc.builds.length;
  return { ok: true, doc, dropped, version };
}

/** Keeps the newest devices, their newest updates and the newest builds within the bounds (the oldest go first). */
export function boundState(doc: DeviceStateDoc): DeviceStateDoc {
  const devices = newestFirst(doc.devices, (d) => d.lastSeen)
    .slice(0, MAX_DEVICES)
    .map((d) => (d.updates.length > MAX_UPDATES ? { ...d, updates: d.updates.slice(0, MAX_UPDATES) } : d));
  const builds = newestFirst(doc.builds, (b) => b.seenAt).slice(0, MAX_BUILDS);
  return { version: doc.version, devices, builds };
}

/** A copy newest first; the registry and the build history hand theirs over in that order already (no sort then). */
function newestFirst<T>(items: readonly T[], time: (item: T) => string | undefined): T[] {
  let sorted = true;
  for (let i = 1; i < items.length && sorted; i++) sorted = cmpIso(time(items[i - 1]!), time(items[i]!)) >= 0;
  return sorted ? [...items] : [...items].sort((a, b) => cmpIso(time(b), time(a)));
}

/** What format 2's records refer to: the file's builds (by MD5 or a prefix of it) and its table of reasons. */
interface CompactRefs {
  builds: BuildRefIndex;
  byMd5: ReadonlyMap<string, StoredBuild>;
  bySha: ReadonlyMap<string, StoredBuild>;
  reasons: readonly (string | undefined)[];
}

function compactRefs(byMd5: ReadonlyMap<string, StoredBuild>, reasons: unknown): CompactRefs {
  const bySha = new Map<string, StoredBuild>();
  for (const build of byMd5.values()) if (build.sha256) bySha.set(build.sha256, build);
  return {
    builds: new BuildRefIndex(byMd5.keys()),
    byMd5,
    bySha,
    reasons: Array.isArray(reasons) ? reasons.map((reason) => text(reason, 300)) : [],
  };
}

function toDevice(value: unknown, refs?: CompactRefs): StoredDevice | undefined {
  if (!isRecord(value)) return undefined;
  const mac = typeof value.mac === 'string' ? value.mac.toUpperCase() : '';
  const lastSeen = iso(value.lastSeen);
  if (!MAC.test(mac) || !lastSeen) return undefined;
  const device: StoredDevice = { mac, lastSeen, updates: [] };
  const twin = count(value.twin);
  if (twin !== undefined && twin >= 2 && twin <= MAX_TWINS) device.twin = twin;
  const apMac = typeof value.apMac === 'string' ? value.apMac.toUpperCase() : '';
  if (MAC.test(apMac)) device.apMac = apMac;
  const chipId = text(value.chipId, 20);
  if (chipId) device.chipId = chipId;
  const name = text(value.name, 80);
  if (name) device.name = name;
  if (value.family === 'esp8266' || value.family === 'esp32') device.family = value.family;
  const chip = text(value.chip, 20);
  if (chip) device.chip = chip;
  const address = text(value.address, 64);
  if (address) device.address = address;
  const firstSeen = iso(value.firstSeen);
  if (firstSeen) device.firstSeen = firstSeen;
  for (const key of ['chipSize', 'freeSpace'] as const) {
    const n = count(value[key]);
    if (n !== undefined) device[key] = n;
  }
  const sdk = text(value.sdkVersion, 64);
  if (sdk) device.sdkVersion = sdk;
  if (value.held === true) device.held = true;
  const running = toRunning(value.running, refs);
  if (running) device.running = running;
  // Format 2: the entry the board asks for is written once; an update names another only where it differs.
  const image = refs ? text(value.image, SHORT) : undefined;
  if (Array.isArray(value.updates)) {
    for (const item of value.updates.slice(0, MAX_UPDATES)) {
      const update = toUpdate(item, refs, image);
      if (update) device.updates.push(update);
    }
  }
  return device;
}

const FACTS = ['project', 'environment', 'board', 'chip', 'version', 'builtAt'] as const;

function toRunning(value: unknown, refs: CompactRefs | undefined): StoredRunning | undefined {
  if (!isRecord(value)) return undefined;
  const running: StoredRunning = {};
  const md5 = hash(value.md5, MD5);
  if (md5) running.md5 = md5;
  const sha256 = hash(value.sha256, SHA256);
  if (sha256) running.sha256 = sha256;
  if (!md5 && !sha256) return undefined;
  copyTexts(value, running, ['image', 'project', 'environment', 'board', 'chip', 'version']);
  const builtAt = iso(value.builtAt);
  if (builtAt) running.builtAt = builtAt;
  if (refs) {
    // Format 2 names the build (by `build`, or by the reported MD5 / SHA-256 itself) instead of repeating its facts.
    const ref = refs.builds.resolve(value.build);
    const build =
      (ref ? refs.byMd5.get(ref) : undefined) ??
      (md5 ? refs.byMd5.get(md5) : undefined) ??
      (sha256 ? refs.bySha.get(sha256) : undefined);
    if (build) {
      for (const key of FACTS) if (build[key] && !running[key]) running[key] = build[key];
      if (build.md5 !== md5) running.build = build.md5;
    }
  }
  return running;
}

function toUpdate(value: unknown, refs: CompactRefs | undefined, deviceImage?: string): StoredUpdate | undefined {
  if (!isRecord(value)) return undefined;
  const image = text(value.image, SHORT) ?? deviceImage;
  const outcome = refs ? outcomeKey(value) : (value.outcome as UpdateOutcome);
  if (!image || !outcome || !UPDATE_OUTCOMES.includes(outcome)) return undefined;
  const at = iso(refs ? value[outcome] : value.at);
  if (!at) return undefined;
  const update: StoredUpdate = { image, at, outcome };
  const md5 = refs ? refs.builds.resolve(value.md5) : hash(value.md5, MD5);
  if (md5) update.md5 = md5;
  const reason = refs && typeof value.reason === 'number' ? refs.reasons[value.reason] : text(value.reason, 300);
  if (reason) update.reason = reason;
  const status = count(value.status);
  if (status !== undefined && status >= 100 && status < 600) update.status = status;
  const from = refs ? refs.builds.resolve(value.from) : hash(value.from, MD5);
  if (from) update.from = from;
  const repeats = count(value.count);
  if (repeats !== undefined && repeats > 1) update.count = repeats;
  if (value.filesystem === true) update.filesystem = true;
  return update;
}

/** Format 2 keys an update by its outcome (the value is the time): exactly one outcome, or the record is dropped. */
function outcomeKey(value: Record<string, unknown>): UpdateOutcome | undefined {
  let found: UpdateOutcome | undefined;
  for (const outcome of UPDATE_OUTCOMES) {
    if (value[outcome] === undefined) continue;
    if (found) return undefined;
    found = outcome;
  }
  return found;
}

function toBuild(value: unknown): StoredBuild | undefined {
  if (!isRecord(value)) return undefined;
  const md5 = hash(value.md5, MD5);
  const image = text(value.image, SHORT);
  const seenAt = iso(value.seenAt);
  if (!md5 || !image || !seenAt) return undefined;
  const build: StoredBuild = { md5, image, seenAt };
  const sha256 = hash(value.sha256, SHA256);
  if (sha256) build.sha256 = sha256;
  copyTexts(value, build, ['project', 'environment', 'board', 'chip', 'version']);
  const builtAt = iso(value.builtAt);
  if (builtAt) build.builtAt = builtAt;
  const size = count(value.size);
  if (size !== undefined) build.size = size;
  return build;
}

function copyTexts<T extends object>(
  from: Record<string, unknown>,
  to: T,
  keys: ReadonlyArray<keyof T & string>,
): void {
  for (const key of keys) {
    const value = text(from[key], SHORT);
    if (value) (to as Record<string, unknown>)[key] = value;
  }
}

function text(value: unknown, max: number): string | undefined {
  if (typeof value !== 'string') return undefined;
  // Control characters never belong in a name or a reason; a long string is cut, not trusted whole.
  // eslint-disable-next-line no-control-regex -- control characters are what is removed
  const clean = value.replace(/[\u0000-\u001f\u007f]/g, ' ').trim();
  return clean ? clean.slice(0, max) : undefined;
}

function hash(value: unknown, pattern: RegExp): string | undefined {
  if (typeof value !== 'string') return undefined;
  const lower = value.toLowerCase();
  return pattern.test(lower) ? lower : undefined;
}

const DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/**
 * `YYYY-MM-DDTHH:MM:SSZ`, the form this server writes, checked field by field from its characters (no RegExp, no
 * Date: a thousand boards hold twenty thousand times). Undefined for any other form or an impossible date.
 */
function canonicalMs(s: string): number | undefined {
  if (s.length !== 20) return undefined;
  for (const [at, code] of SEPARATORS) if (s.charCodeAt(at) !== code) return undefined;
  const year = digits(s, 0, 4);
  const month = digits(s, 5, 2);
  const day = digits(s, 8, 2);
  const hour = digits(s, 11, 2);
  const minute = digits(s, 14, 2);
  const second = digits(s, 17, 2);
  // Years before 1000 are left to Date.parse (Date.UTC reads 0–99 as 1900–1999).
  if (year < 1000 || month < 1 || month > 12 || day < 1 || hour < 0 || hour > 23) return undefined;
  if (minute < 0 || minute > 59 || second < 0 || second > 59) return undefined;
  const leap = month === 2 && year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 1 : 0;
  if (day > DAYS[month - 1]! + leap) return undefined;
  return Date.UTC(year, month - 1, day, hour, minute, second);
}

/** '-', '-', 'T', ':', ':', 'Z' at their places in `YYYY-MM-DDTHH:MM:SSZ`. */
const SEPARATORS: ReadonlyArray<readonly [number, number]> = [
  [4, 45],
  [7, 45],
  [10, 84],
  [13, 58],
  [16, 58],
  [19, 90],
];

/** The decimal number of `length` digits at `at`, or -1 when one of them is not a digit. */
function digits(s: string, at: number, length: number): number {
  let value = 0;
  for (let i = at; i < at + length; i++) {
    const digit = s.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) return -1;
    value = value * 10 + digit;
  }
  return value;
}

function iso(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length > 40) return undefined;
  if (canonicalMs(value) !== undefined) return value;
  const ms = Date.parse(value);
  return Number.isFinite(ms) && Math.abs(ms) < 8.64e15 ? new Date(ms).toISOString().replace('.000Z', 'Z') : undefined;
}

function count(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : undefined;
}

/** The key a board is known by: its MAC, or `<mac>#<twin>` for another board that claimed that MAC. */
export function deviceKey(device: Pick<StoredDevice, 'mac' | 'twin'>): string {
  return device.twin ? `${device.mac}#${device.twin}` : device.mac;
}

function cmpIso(a: string | undefined, b: string | undefined): number {
  return (a ?? '') < (b ?? '') ? -1 : (a ?? '') > (b ?? '') ? 1 : 0;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Milliseconds of a time the file holds (checked on reading). */
export function isoMs(value: string): number {
  return canonicalMs(value) ?? Date.parse(value);
}

/** ISO 8601 to the second: what the file holds for times (milliseconds would only add bytes). */
export function isoSeconds(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}
