// A firmware download (protocol.md §2): resolved against the catalog index, checked against the device's own
// headers before a byte is sent, answered with the bytes its x-MD5 and x-SHA256 were computed from. A filesystem
// update (mode spiffs) gets a filesystem image, a sketch update an application image. ESP-IDF's esp_https_ota may
// ask for one byte range of the image (resume, partial download): 206 with Content-Range, or 416.

import type { Catalog } from '../catalog/catalog';
import { servable, type FileVersion } from '../catalog/imageStore';
import type { CatalogEntry } from '../catalog/catalogEntry';
import { isNotInside } from '../catalog/catalogRoot';
import { notOfferedReason } from '../catalog/listing';
import { readDeviceRequest, type DeviceIdentity } from '../devices/deviceRequest';
import { decideUpdate, type PolicyDecision } from '../devices/updatePolicy';
import { parseRange } from '../http/byteRange';
import type { KnownImages } from '../devices/knownImages';
import type { ResponseHead } from '../http/response';
import type { ImageInfo } from '../firmware/imageInfo';
import { imageChip } from '../firmware/chips';

/** The part of the image a 206 answer carries (inclusive byte offsets). */
export interface ServedRange {
  start: number;
  end: number;
  total: number;
}

export type DownloadAnswer =
  | {
      kind: 'serve';
      head: ResponseHead;
      body: Buffer;
      device: DeviceIdentity;
      entry: string;
      md5: string;
      /** Present for a 206: the body is this range of the image. */
      range?: ServedRange;
      /** One-line facts worth a log line (e.g. that an ESP-IDF client has no family gate beyond the image). */
      notes: string[];
    }
  | {
      kind: 'refuse';
      status: number;
      reason: string;
      device?: DeviceIdentity;
      entry?: string;
      head?: ResponseHead;
      extraHeaders?: Array<[string, string | number]>;
    };

export interface DownloadOptions {
  answerNotModified: boolean;
  /** Boards whose updates are held: answered 304 for every image, before anything is looked up. */
  isHeld?: (device: DeviceIdentity) => boolean;
}

export async function answerDownload(
  catalog: Catalog,
  known: KnownImages,
  segments: readonly string[],
  headers: ReadonlyMap<string, string>,
  options: DownloadOptions,
): Promise<DownloadAnswer> {
  const check = readDeviceRequest(headers);
  if (!check.ok) return { kind: 'refuse', status: 403, reason: check.reason };
  const device = check.device;
  const relPath = segments.join('/');
  if (segments.length === 0) return { kind: 'refuse', status: 403, reason: 'the catalog root is a folder', device };
  if (device.staMac && options.isHeld?.(device)) {
    const reason = `${relPath}: updates are held for this device`;
    return { kind: 'refuse', status: 304, reason, device, entry: relPath, head: { status: 304, headers: [] } };
  }

  const dir = segments.slice(0, -1).join('/');
  const name = segments[segments.length - 1]!;
  const found = await catalog.findCurrent(dir, name);
  if (!found) {
    if (await catalog.directory(relPath))
      return { kind: 'refuse', status: 403, reason: `${relPath} is a folder`, device, entry: relPath };
    return { kind: 'refuse', status: 404, reason: `${relPath} is not in the catalog`, device, entry: relPath };
  }
  const { entry, excluded, budgetOnly } = found;
  const info = entry.version?.info;
  // Only applications are offered in the catalog; a filesystem image is never listed as `bin`, but a filesystem
  // update asks for it by name.
  if (info?.kind !== 'filesystem') {
    const notOffered = notOfferedReason(entry, 'any');
    if (notOffered) return { kind: 'refuse', status: 403, reason: `${relPath}: ${notOffered}`, device, entry: relPath };
  }
  // Left out of the listing only to keep the device's list parseable (a case twin, a name too long for the list):
  // a device that asks for it by its exact name gets the file.
  if (excluded && !budgetOnly)
    return { kind: 'refuse', status: 403, reason: `${relPath} is not offered: ${excluded}`, device, entry: relPath };

  // Decided from the index first (findCurrent checked it against the disk): a 304 or a refusal costs no file read.
  const indexed = entry.version;
  if (indexed && servable(indexed.info)) {
    const early = await decide(catalog, known, device, name, entry, indexed, undefined, options);
    if (early.action === 'refuse')
      return { kind: 'refuse', status: 403, reason: `${relPath}: ${early.reason}`, device, entry: relPath };
    if (early.action === 'not-modified') {
      const reason = `${relPath}: ${early.reason}`;
      return { kind: 'refuse', status: 304, reason, device, entry: relPath, head: { status: 304, headers: [] } };
    }
  }

  let loaded;
  try {
    loaded = await catalog.loadEntry(entry, true);
  } catch (error) {
    // Proven not inside the catalog any more (a link swapped in), or gone since it was indexed.
    if (isNotInside(error))
      return { kind: 'refuse', status: 404, reason: `${relPath}: ${error.message}`, device, entry: relPath };
    if ((error as NodeJS.ErrnoException).code === 'ENOENT')
      return { kind: 'refuse', status: 404, reason: `${relPath} is not in the catalog`, device, entry: relPath };
    throw error;
  }
  const { version, bytes } = loaded;
  const refuse = (
    status: number,
    reason: string,
    extra: { head?: ResponseHead; extraHeaders?: Array<[string, string | number]> } = {},
  ): DownloadAnswer => ({ kind: 'refuse', status, reason: `${relPath}: ${reason}`, device, entry: relPath, ...extra });
  if (!servable(version.info) || !bytes) {
    const what =
      version.info.kind === 'filesystem' ? 'not a complete filesystem image' : 'not a complete application image';
    return refuse(403, version.info.reason ?? what);
  }
  const decision = await decide(catalog, known, device, name, entry, version, bytes, options);
  if (decision.action === 'refuse') return refuse(403, decision.reason);
  if (decision.action === 'not-modified') {
    return refuse(304, decision.reason, { head: { status: 304, headers: [] } });
  }

  const notes: string[] = [];
  if (device.client === 'esp-idf') {
    notes.push(
      `${relPath}: ESP-IDF client (${clip(device.userAgent)}) sends no chip, MAC or free-space headers; served on the image alone (${imageChip(version.info)} application), no family gate beyond it`,
    );
  }
  const range = parseRange(headers.get('range'), bytes.length);
  if (range.kind === 'unsatisfiable') {
    return refuse(416, range.reason, { extraHeaders: [['Content-Range', `bytes */${bytes.length}`]] });
  }
  const common: Array<[string, string | number]> = [
    ['Content-Type', 'application/octet-stream'],
    ['Content-Disposition', `attachment; filename=${name}`],
  ];
  if (range.kind === 'range') {
    // The digests describe the whole image, not this part, so they are left off: a client verifies the
    // image it assembled (esp_https_ota checks the image's own SHA-256 when it ends the update).
    const body = bytes.subarray(range.start, range.end + 1);
    const head: ResponseHead = {
      status: 206,
      headers: [
        ...common,
        ['Content-Length', body.length],
        ['Content-Range', `bytes ${range.start}-${range.end}/${bytes.length}`],
        ['Accept-Ranges', 'bytes'],
        ['Cache-Control', 'no-store'],
      ],
    };
    const served = { start: range.start, end: range.end, total: bytes.length };
    return { kind: 'serve', head, body, device, entry: relPath, md5: version.md5, range: served, notes };
  }
  const head: ResponseHead = {
    status: 200,
    headers: [
      ...common,
      ['Content-Length', bytes.length],
      ['x-MD5', version.md5],
      // arduino-esp32 3.x checks it over the whole payload when present (Update.setSHA256: 64 hex digits).
      ['x-SHA256', version.sha256],
      ['Cache-Control', 'no-store'],
    ],
  };
  return { kind: 'serve', head, body: bytes, device, entry: relPath, md5: version.md5, notes };
}

/**
 * The policy's verdict for one version of an entry. The running-image MD5 variants (the ESP8266 updater rewrites the
 * flash-mode byte) need the bytes once per version; after that they are known and the verdict needs no read.
 */
async function decide(
  catalog: Catalog,
  known: KnownImages,
  device: DeviceIdentity,
  name: string,
  entry: CatalogEntry,
  version: FileVersion,
  bytes: Buffer | undefined,
  options: DownloadOptions,
): Promise<PolicyDecision> {
  const app = version.info.kind === 'app';
  const running = app ? (known.identify(device.sketchSha256) ?? known.identify(device.sketchMd5)) : undefined;
  let runningMd5s: readonly string[] = [version.md5];
  if (app && mayRunVariant(device, version.md5, version.info, version.size)) {
    const cached = catalog.images.cachedRunningMd5s(version);
    if (cached) runningMd5s = cached;
    else {
      const data = bytes ?? (await catalog.loadEntry(entry, true).catch(() => undefined))?.bytes;
      if (data) runningMd5s = await catalog.images.runningMd5s(version, data, name);
    }
  }
  return decideUpdate(
    device,
    { name, size: version.size, md5: version.md5, info: version.info, runningMd5s },
    running,
    options,
  );
}

function clip(text: string): string {
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/**
 * Whether an ESP8266 reporting another MD5 may still run this image (flash-mode or size byte rewritten): only when
 * its sketch size is the image's length. Other devices cost nothing.
 */
function mayRunVariant(device: DeviceIdentity, md5: string, info: ImageInfo, size: number): boolean {
  if (device.family !== 'esp8266' || !device.sketchMd5 || device.sketchMd5 === md5) return false;
  // A gzip image runs inflated, and its inflated length is in the trailer: the bytes tell (once per version).
  if (device.sketchSize === undefined || info.signed || info.compressed) return true;
  return device.sketchSize === size;
}
