// Decides, before a single byte is sent, whether a device gets an image: the checks the device itself makes too late
// (after flashing) or not at all (an ESP8266 accepts an ESP32 image, protocol.md §2.3).

import type { ImageInfo } from '../firmware/imageInfo';
import { chipDisplayName, imageChip } from '../firmware/chips';
import type { DeviceIdentity } from './deviceRequest';
import type { KnownImage } from './knownImages';

export type { KnownImage } from './knownImages';

export interface ServedImage {
  name: string;
  size: number;
  md5: string;
  info: ImageInfo;
  /** Every MD5 a device running this image may report (ESP8266 flash-mode rewrite), file MD5 first. */
  runningMd5s: readonly string[];
}

export type PolicyDecision =
  { action: 'serve' } | { action: 'not-modified'; reason: string } | { action: 'refuse'; status: 403; reason: string };

export interface PolicyOptions {
  /** Answer 304 when the device already runs the requested image. */
  answerNotModified: boolean;
}

/** Filesystem update modes: ESP8266 updateFS and ESP32 updateSpiffs send `spiffs`; arduino-esp32 3.x the rest. */
const FILESYSTEM_MODES = new Set(['spiffs', 'littlefs', 'fatfs', 'flashfs']);

/** What a request asks for: an application image, a filesystem image, or something the server does not serve. */
export function requestedKind(device: DeviceIdentity): 'app' | 'filesystem' | { unknown: string } {
  const mode = device.mode;
  if (mode === undefined || mode === 'sketch') return 'app';
  if (FILESYSTEM_MODES.has(mode)) return 'filesystem';
  return { unknown: mode };
}

export function decideUpdate(
  device: DeviceIdentity,
  image: ServedImage,
  running: KnownImage | undefined,
  options: PolicyOptions,
): PolicyDecision {
  const info = image.info;
  const wanted = requestedKind(device);
  if (typeof wanted === 'object') return refuse(`device asked for mode "${clip(wanted.unknown)}", which is not served`);
  if (wanted === 'filesystem') return decideFilesystem(device.mode ?? 'spiffs', info);
  if (info.kind === 'filesystem') {
    return refuse(`${describeFilesystem(info)}, but the device asked for an application (mode sketch)`);
  }
  if (info.family !== device.family) {
    return refuse(`${imageChip(info)} image, but the device is an ${chipDisplayName(device.family)}`);
  }
  if (device.family === 'esp32' && info.compressed) {
    return refuse(
      `gzip image, but ${device.client === 'esp-idf' ? 'esp_https_ota' : 'ESP32 HTTPUpdate'} cannot decompress`,
    );
  }
  if (device.family === 'esp32' && running?.chip && info.chip && running.chip !== info.chip) {
    return refuse(
      `${chipDisplayName(info.chip)} image, but the device runs ${running.name} built for ${chipDisplayName(running.chip)}`,
    );
  }
  if (device.freeSpace !== undefined && image.size > device.freeSpace) {
    return refuse(`image is ${image.size} bytes, the device has ${device.freeSpace} bytes free for it`);
  }
  if (
    device.family === 'esp8266' &&
    !info.compressed &&
    info.flashSize !== undefined &&
    device.chipSize !== undefined &&
    info.flashSize > device.chipSize
  ) {
    return refuse(`image is built for ${mib(info.flashSize)} flash, the device has ${mib(device.chipSize)}`);
  }
  if (options.answerNotModified && runsThisImage(device, image)) {
    return { action: 'not-modified', reason: 'the device already runs this image' };
  }
  const version = device.currentVersion?.trim();
  if (options.answerNotModified && version && info.app?.version && version === info.app.version.trim()) {
    return { action: 'not-modified', reason: `already at version ${clip(version)}` };
  }
  return { action: 'serve' };
}

/**
 * A filesystem update gets a filesystem image and nothing else. `spiffs` and `flashfs` take any format (the ESP32
 * partition subtype says spiffs for LittleFS too); `littlefs` and `fatfs` only their own when the content shows it.
 * No free-space check (x-*-free-space is the sketch's space, not the filesystem partition's) and no 304 (the device
 * does not report what its filesystem holds).
 */
function decideFilesystem(mode: string, info: ImageInfo): PolicyDecision {
  if (info.kind !== 'filesystem') {
    const what = info.kind === 'app' ? `an ${imageChip(info)} application image` : (info.reason ?? info.kind);
    return refuse(`the device asked for a filesystem image (mode ${mode}), this is ${what}`);
  }
  if (!info.complete || !info.filesystem) return refuse(info.reason ?? 'not a recognisable filesystem image');
  if ((mode === 'littlefs' || mode === 'fatfs') && info.filesystem !== mode) {
    return refuse(`${describeFilesystem(info)}, but the device asked for ${mode}`);
  }
  return { action: 'serve' };
}

function describeFilesystem(info: ImageInfo): string {
  return info.filesystem ? `${info.filesystem} filesystem image` : 'filesystem image';
}

function clip(text: string): string {
  return text.length > 64 ? `${text.slice(0, 61)}...` : text;
}

function runsThisImage(device: DeviceIdentity, image: ServedImage): boolean {
  if (device.sketchSha256 && image.info.appendedSha256) return device.sketchSha256 === image.info.appendedSha256;
  return device.sketchMd5 !== undefined && image.runningMd5s.includes(device.sketchMd5);
}

function refuse(reason: string): PolicyDecision {
  return { action: 'refuse', status: 403, reason };
}

function mib(bytes: number): string {
  return bytes >= 1 << 20 ? `${bytes / (1 << 20)} MB` : `${bytes / 1024} KB`;
}
