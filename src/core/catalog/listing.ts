// The wire form of `GET /_catalog?op=list&path=P`: python's field set and formats (protocol.md §3.3), within what
// the device can parse (§1.3): every entry fits 256 bytes, at most 255 `bin` entries, names unique without regard
// to case and safe in a request line. Entries that break a rule are left out, with the reason kept for logs and views.

import type { ChipFamily } from '../firmware/imageInfo';
import type { CatalogEntry } from './catalogEntry';
import { imageChip } from '../firmware/chips';
import { ENTRY_POOL_BYTES, MAX_BIN_ENTRIES, entryPoolCost, unsafeNameReason } from './deviceLimits';
import { yieldIfBusy } from '../work/loopTurn';

export type Audience = ChipFamily | 'any';

export type WireEntry =
  | { name: string; type: 'bin'; date: string; time: string; size: number }
  | { name: string; type: 'file' | 'directory' };

export interface Exclusion {
  name: string;
  reason: string;
  /**
   * Left out only to keep the device's list parseable (a case twin, more than 255 images, a name too long for the
   * entry budget): a device that asks for it by its exact name is still served.
   */
  budget?: boolean;
}

export interface Listing {
  audience: Audience;
  entries: WireEntry[];
  /** Entries left out of the listing entirely. */
  excluded: Exclusion[];
  /** The response body, ready to send. */
  body: Buffer;
}

/** Why an entry is not offered as `bin` to this audience, or undefined when it is offerable. */
export function notOfferedReason(entry: CatalogEntry, audience: Audience): string | undefined {
  if (entry.isDirectory) return 'folder';
  if (entry.error) return entry.error;
  const version = entry.version;
  if (!version) return 'not a firmware file (*.bin, *.bin.gz)';
  const info = version.info;
  if (info.kind !== 'app') return info.reason ?? `${info.kind}, not an application image`;
  if (!info.complete) return info.reason ?? 'incomplete image';
  if (!/\.bin(\.gz)?$/.test(entry.name)) return 'extension must be lower-case .bin (as updateserver.py requires)';
  if (audience === 'esp8266' && info.family !== 'esp8266') return `${imageChip(info)} image, not for ESP8266`;
  if (audience === 'esp32' && info.family !== 'esp32') return `${imageChip(info)} image, not for ESP32`;
  if (audience === 'esp32' && info.compressed) return 'gzip image: ESP32 cannot take it';
  return undefined;
}

const OFFERED = {} as { unsafe?: string };
/** Per entry and audience: offered, left out for its name, or not offered (a verdict never changes for an entry). */
const verdicts = new WeakMap<CatalogEntry, Map<Audience, { unsafe?: string }>>();

function verdictOf(entry: CatalogEntry, audience: Audience): { unsafe?: string } {
  let byAudience = verdicts.get(entry);
  if (!byAudience) verdicts.set(entry, (byAudience = new Map()));
  let verdict = byAudience.get(audience);
  if (!verdict) {
    const offerable = notOfferedReason(entry, audience) === undefined;
    const unsafe = offerable ? unsafeNameReason(entry.name) : undefined;
    verdict = !offerable ? {} : unsafe ? { unsafe } : OFFERED;
    byAudience.set(audience, verdict);
  }
  return verdict;
}

/**
 * Names in code-unit order. Not localeCompare: the first collation in a process loads ICU's collator, about 10-20 ms
 * of the loop, and a folder of builds written in one go has many equal mtimes. python lists in directory order.
 */
export function byName(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

const AUDIENCES: readonly Audience[] = ['any', 'esp8266', 'esp32'];
/** The listing's order of images: newest first (the 255 kept are the newest), then by name. */
export const newestFirst = (a: CatalogEntry, b: CatalogEntry): number =>
  b.mtimeMs - a.mtimeMs || byName(a.name, b.name);

/**
 * Works out ahead, in slices of the loop, what buildListing keeps per entry (verdicts, wire items, their budget cost
 * and JSON text), so that building the listing itself afterwards is a sort and a join. A rescan of 1000 new images
 * otherwise does all of it in one stretch (formatting dates, JSON, the entry budget: 10-30 ms of the loop).
 */
export async function prepareListing(entries: Iterable<CatalogEntry>): Promise<void> {
  const offered: CatalogEntry[] = [];
  for (const entry of entries) {
    await yieldIfBusy();
    for (const audience of AUDIENCES) verdictOf(entry, audience);
    if (verdictOf(entry, 'any') === OFFERED) offered.push(entry);
  }
  await yieldIfBusy(); // the sort of 1000 entries in a turn of its own when this one is spent
  offered.sort(newestFirst);
  // The newest of every audience are among the newest offered to any; case twins push a few further down.
  for (const entry of offered.slice(0, 2 * MAX_BIN_ENTRIES)) {
    await yieldIfBusy();
    const item = binItem(entry);
    costOf(item);
    pythonJsonOf(item);
  }
  await yieldIfBusy(); // and the listing the caller builds next
}

export function buildListing(entries: readonly CatalogEntry[], audience: Audience): Listing {
  const steps = listingSteps(entries, audience);
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
  }
}

/**
 * The same listing, built in turns of the loop: a folder of 1000 entries is a pass over them, a sort and 255 entries
 * checked against the device's budget, and after every change of the folder it is built again (3-8 ms in one piece).
 */
export async function buildListingInSlices(entries: readonly CatalogEntry[], audience: Audience): Promise<Listing> {
  const steps = listingSteps(entries, audience);
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
    await yieldIfBusy();
  }
}

/** Entries looked at between two chances to yield. */
const STEP = 64;

/** Why many images are left out: one string for all of them (745 of a folder of 1000, in every listing). */
const OVER_THE_CAP = `more than ${MAX_BIN_ENTRIES} images in one folder; older ones are left out`;

function* listingSteps(entries: readonly CatalogEntry[], audience: Audience): Generator<void, Listing> {
  const excluded: Exclusion[] = [];
  const bins: CatalogEntry[] = [];
  const others: CatalogEntry[] = [];
  let n = 0;
  for (const entry of entries) {
    if (++n % STEP === 0) yield;
    const verdict = verdictOf(entry, audience);
    if (verdict === OFFERED) bins.push(entry);
    else if (verdict.unsafe) excluded.push({ name: entry.name, reason: verdict.unsafe });
    else others.push(entry);
  }

  // Newest first: the device lists them in this order, and the 255 kept are the newest. (Entries handed over in
  // that order already, as the index keeps them, are one pass of the sort.)
  yield;
  bins.sort(newestFirst);
  yield;
  const wire: WireEntry[] = [];
  const seen = new Map<string, string>();
  n = 0;
  for (const entry of bins) {
    if (++n % STEP === 0) yield;
    const folded = entry.name.toLowerCase();
    const first = seen.get(folded);
    if (first !== undefined) {
      excluded.push({
        name: entry.name,
        reason: `same name as ${first} without regard to case; the device would pick ${first}`,
        budget: true,
      });
      continue;
    }
    if (seen.size >= MAX_BIN_ENTRIES) {
      excluded.push({ name: entry.name, reason: OVER_THE_CAP, budget: true });
      continue;
    }
    const item = binItem(entry);
    if (!fits(item, entry, excluded)) continue;
    seen.set(folded, entry.name);
    wire.push(item);
  }

  yield;
  others.sort((a, b) => Number(a.isDirectory) - Number(b.isDirectory) || byName(a.name, b.name));
  for (const entry of others) {
    const item: WireEntry = { name: entry.name, type: entry.isDirectory ? 'directory' : 'file' };
    if (fits(item, entry, excluded)) wire.push(item);
  }
  yield;
  return { audience, entries: wire, excluded, body: Buffer.from(toPythonJson(wire), 'utf8') };
}

/**
 * An offered entry as the device sees it, made once per entry: an index entry never changes (a changed file is a new
 * entry), and a folder of 1000 images is listed again after every change to it.
 */
const binItems = new WeakMap<CatalogEntry, WireEntry>();
const itemCosts = new WeakMap<WireEntry, number>();

function binItem(entry: CatalogEntry): WireEntry {
  let item = binItems.get(entry);
  if (!item) {
    item = { name: entry.name, type: 'bin', ...formatTimestamp(entry.mtimeMs), size: entry.size };
    binItems.set(entry, item);
  }
  return item;
}

function costOf(item: WireEntry): number {
  let cost = itemCosts.get(item);
  if (cost === undefined) itemCosts.set(item, (cost = entryPoolCost(item)));
  return cost;
}

function fits(item: WireEntry, entry: CatalogEntry, excluded: Exclusion[]): boolean {
  const cost = costOf(item);
  if (cost <= ENTRY_POOL_BYTES) return true;
  excluded.push({
    name: entry.name,
    reason: `name too long: the entry needs ${cost} of the device's ${ENTRY_POOL_BYTES} bytes (it would break the whole list)`,
    budget: entry.version?.info.kind === 'app',
  });
  return false;
}

/** python's `%x` and `%X` in the C locale, in server local time: MM/DD/YY and HH:MM:SS. */
export function formatTimestamp(mtimeMs: number): { date: string; time: string } {
  const d = new Date(mtimeMs);
  const two = (n: number) => String(n).padStart(2, '0');
  return {
    date: `${two(d.getMonth() + 1)}/${two(d.getDate())}/${two(d.getFullYear() % 100)}`,
    time: `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`,
  };
}

/** `json.dumps` with python's defaults: ", " and ": " separators, non-ASCII as \uXXXX. */
export function toPythonJson(entries: readonly WireEntry[]): string {
  return `[${entries.map(pythonJsonOf).join(', ')}]`;
}

/** One entry's `json.dumps` text, made once per wire entry (bin entries are reused across listings). */
const jsonTexts = new WeakMap<WireEntry, string>();

function pythonJsonOf(entry: WireEntry): string {
  let text = jsonTexts.get(entry);
  if (text === undefined) jsonTexts.set(entry, (text = entryJson(entry)));
  return text;
}

function entryJson(entry: WireEntry): string {
  return `{${Object.entries(entry)
    .map(([k, v]) => `${asciiJson(k)}: ${typeof v === 'number' ? String(v) : asciiJson(v)}`)
    .join(', ')}}`;
}

function asciiJson(text: string): string {
  return JSON.stringify(text).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
