// ESP32-family image: 24-byte header (esp_image_header_t in ESP-IDF esp_app_format.h), segments, checksum,
// optional appended SHA-256, and for applications the esp_app_desc_t at offset 32 (esp_app_desc.h).

import { createHash } from 'node:crypto';
import { chipName, flashModeOf, flashSizeOf } from './chips';
import { incompleteReason, walkSegments, xorChecksum } from './esptoolImage';
import type { AppDescriptor, ImageInfo } from './imageInfo';

const APP_DESC_MAGIC = 0xabcd5432;
/** esp_app_desc_t starts right after the image header (24) and the first segment header (8). */
const APP_DESC_OFFSET = 32;

/** esptool's family test (protocol.md §4), made stricter: known u16 chip id, WP pin 0xEE or an app descriptor. */
export function isEsp32Family(bytes: Uint8Array): boolean {
  if (bytes.length < 24 || bytes[0] !== 0xe9) return false;
  if (bytes[23] !== 0 && bytes[23] !== 1) return false;
  if (chipName(bytes[12] | (bytes[13] << 8)) === undefined) return false;
  return bytes[8] === 0xee || hasAppDescriptor(bytes);
}

export function hasAppDescriptor(bytes: Uint8Array): boolean {
  return bytes.length >= APP_DESC_OFFSET + 4 && readU32(bytes, APP_DESC_OFFSET) === APP_DESC_MAGIC;
}

export interface Esp32Parse {
  info: ImageInfo;
  /** Where the image structure ends when it was walked completely; anything after it is trailing data. */
  end?: number;
}

/** Structure of the ESP32-family image at `bytes[0]`; the caller judges data after `end`. */
export function parseEsp32Image(bytes: Uint8Array): Esp32Parse {
  const chipId = bytes[12] | (bytes[13] << 8);
  const hashAppended = bytes[23] === 1;
  const app = hasAppDescriptor(bytes) ? readAppDescriptor(bytes) : undefined;
  // A file cut before the descriptor magic cannot tell yet; it is reported as an incomplete app.
  const isApp = app !== undefined || bytes.length < APP_DESC_OFFSET + 4;
  const info: ImageInfo = {
    kind: isApp ? 'app' : 'bootloader',
    family: 'esp32',
    chip: chipName(chipId),
    chipId,
    compressed: false,
    flashSize: flashSizeOf('esp32', bytes[3]),
    flashMode: flashModeOf(bytes[2]),
    complete: false,
  };
  if (app) info.app = app;
  const kindReason = isApp ? undefined : 'bootloader image, not an application';

  const r = walkSegments(bytes, 24, hashAppended);
  if (r.status === 'truncated') return { info: { ...info, reason: kindReason ?? incompleteReason(r) } };
  if (r.status === 'corrupt') {
    return { info: { ...info, kind: 'not-an-image', reason: `corrupt ESP32 image: ${r.reason}` } };
  }
  const { walk } = r;
  if (xorChecksum(bytes, walk.segments) !== bytes[walk.checksumOffset]) {
    return { info: { ...info, reason: kindReason ?? 'ESP32 image checksum mismatch' }, end: walk.end };
  }
  if (hashAppended) {
    const stored = Buffer.from(bytes.subarray(walk.checksumOffset + 1, walk.end)).toString('hex');
    info.appendedSha256 = stored;
    const actual = createHash('sha256')
      .update(bytes.subarray(0, walk.checksumOffset + 1))
      .digest('hex');
    if (actual !== stored) {
      return { info: { ...info, reason: kindReason ?? 'ESP32 image SHA-256 mismatch' }, end: walk.end };
    }
  }
  info.complete = true;
  if (kindReason) info.reason = kindReason;
  return { info, end: walk.end };
}

function readAppDescriptor(bytes: Uint8Array): AppDescriptor {
  // Offsets are absolute in the file: descriptor at 32, then magic(4) secure_version(4) reserv1(8).
  return {
    version: readCString(bytes, 48, 32),
    projectName: readCString(bytes, 80, 32),
    time: readCString(bytes, 112, 16),
    date: readCString(bytes, 128, 16),
    idfVersion: readCString(bytes, 144, 32),
  };
}

/** A NUL-terminated field of at most `size` bytes; a truncated file yields what is there. */
function readCString(bytes: Uint8Array, offset: number, size: number): string {
  const field = bytes.subarray(Math.min(offset, bytes.length), Math.min(offset + size, bytes.length));
  const nul = field.indexOf(0);
  return Buffer.from(nul < 0 ? field : field.subarray(0, nul)).toString('utf8');
}

function readU32(bytes: Uint8Array, offset: number): number {
  return (bytes[offset] | (bytes[offset + 1] << 8) | (bytes[offset + 2] << 16) | (bytes[offset + 3] << 24)) >>> 0;
}
