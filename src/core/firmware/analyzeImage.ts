// Classify one firmware file from its bytes (protocol.md §4, §8; peers.md §3.6). Pure: no I/O, no vscode.
// Content decides; the file name is only a safety net that can take 'app' away, never grant it.

import { isEsp32Family, parseEsp32Image } from './esp32Image';
import { analyzeEsp8266 } from './esp8266Image';
import { isFilesystemName, neverAppByName } from './fileNames';
import { inflateImage } from './gzipImage';
import type { FilesystemType, ImageInfo, ImageKind } from './imageInfo';
import { analyzeMerged, mergedBootloaderOffset } from './mergedImage';
import { analyzePartitionTable, filesystemType, isFat, isOtaData } from './otherImages';
import { trailingKind } from './trailing';
import { errorMessage } from '../errorMessage';

export function analyzeImage(bytes: Buffer, fileName: string): ImageInfo {
  let info: ImageInfo;
  try {
    info = analyzeContent(bytes, true);
  } catch (e) {
    // Never throw on a file from disk; a bug here must not take the catalog down.
    info = notAnImage(`could not be analysed (${errorMessage(e)})`);
  }
  return applyNameRules(info, fileName);
}

function analyzeContent(bytes: Uint8Array, allowGzip: boolean): ImageInfo {
  if (bytes.length === 0) return notAnImage('empty file');
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
    return allowGzip ? analyzeGzip(bytes) : notAnImage('gzip inside gzip');
  }
  if (bytes[0] === 0xaa && bytes[1] === 0x50) return analyzePartitionTable(bytes);
  if (bytes[0] === 0xe9) {
    if (isFat(bytes)) return filesystem('fatfs');
    return isEsp32Family(bytes) ? analyzeEsp32(bytes) : analyzeEsp8266(bytes);
  }
  const merged = mergedBootloaderOffset(bytes);
  if (merged !== undefined) return analyzeMerged(bytes, merged);
  if (isOtaData(bytes)) {
    return {
      kind: 'ota-data',
      compressed: false,
      complete: true,
      reason: 'ota data (boot selector), not an application',
    };
  }
  const fs = filesystemType(bytes);
  if (fs) return filesystem(fs);
  if (bytes[0] === 0xea) return notAnImage('esptool v2 image (0xea); ota needs a 0xe9 image');
  if (bytes.every((b) => b === 0xff)) return notAnImage('blank (all 0xff)');
  return notAnImage(`not an esp image (starts with 0x${bytes[0].toString(16).padStart(2, '0')})`);
}

function analyzeEsp32(bytes: Uint8Array): ImageInfo {
  const { info, end } = parseEsp32Image(bytes);
  if (end === undefined) return info;
  const t = trailingKind(bytes, end);
  if (t === 'none' || t === 'padding') return info;
  // A bootloader at 0 followed by a partition table is a merged image for S3/C3/C6/H2.
  const merged = mergedBootloaderOffset(bytes);
  if (merged !== undefined) return analyzeMerged(bytes, merged);
  return {
    ...info,
    kind: 'not-an-image',
    complete: false,
    reason: `unexpected ${bytes.length - end} bytes after the image`,
  };
}

/** Only ESP8266 sketches may be gzip-compressed: eboot inflates them; the ESP32 client rejects gzip. */
function analyzeGzip(bytes: Uint8Array): ImageInfo {
  const z = inflateImage(bytes);
  if (z.status === 'corrupt') return { ...notAnImage(z.reason), compressed: true };
  const inner = analyzeContent(z.data, false);
  const info: ImageInfo = { ...inner, compressed: true };
  if (z.status === 'ok' && z.signed) info.signed = true;
  if (inner.family === 'esp32') {
    return {
      ...info,
      kind: demote(inner.kind),
      complete: false,
      reason: 'gzip-compressed ESP32 image; ESP32 OTA rejects gzip',
    };
  }
  if (z.status === 'truncated') {
    // What inflated so far still shows whether this was going to be a sketch.
    const kind = inner.kind === 'app' || inner.family === 'esp8266' ? 'app' : 'not-an-image';
    return { ...info, kind, complete: false, reason: `incomplete: gzip stream ends early at ${bytes.length} bytes` };
  }
  if (inner.kind !== 'app') {
    // Only sketches are inflated by eboot; a gzip filesystem image would be written to flash compressed.
    return { ...info, complete: false, reason: `gzip of a non-app file: ${inner.reason ?? inner.kind}` };
  }
  return info;
}

/** The name rules alone, for a verdict made under another name (a build published under its entry name). */
export function applyNameRules(info: ImageInfo, fileName: string): ImageInfo {
  if (info.kind === 'app') {
    const rule = neverAppByName(fileName);
    if (rule) return { ...info, kind: rule.kind, reason: rule.reason };
  } else if (info.kind === 'not-an-image' && isFilesystemName(fileName)) {
    // Named like one but without a recognisable superblock: listed as a filesystem, never served (complete: false).
    return {
      ...info,
      kind: 'filesystem',
      reason: 'filesystem image by its name, but no littlefs, spiffs or fat superblock was found',
    };
  }
  return info;
}

function demote(kind: ImageKind): ImageKind {
  return kind === 'app' ? 'not-an-image' : kind;
}

/**
 * A filesystem recognised by its on-disk magic. `complete` means servable to a filesystem update: there is no
 * length or checksum in these formats to prove more (the device checks only that it fits its partition).
 */
function filesystem(type: FilesystemType): ImageInfo {
  return {
    kind: 'filesystem',
    filesystem: type,
    compressed: false,
    complete: true,
    reason: `${type} filesystem image, not an application`,
  };
}

function notAnImage(reason: string): ImageInfo {
  return { kind: 'not-an-image', compressed: false, complete: false, reason };
}
