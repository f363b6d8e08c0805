// Decides, before a single byte is sent, whether a device gets an image: the checks the device itself makes too late
// (after flashing) or not at all (an ESP8266 accepts an ESP32 image, protocol.md §2.3).

import type { ImageInfo } from '../firmware/imageInfo';
import type { DeviceIdentity } from './deviceRequest';

/** An image the server has seen (in the catalog now or earlier), to recognise what a device runs. */
export interface KnownImage {
  name: string;
  md5: string;
  chip?: string;
  family?: string;
}

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

export function decideUpdate(
  device: DeviceIdentity,
  image: ServedImage,
  running: KnownImage | undefined,
  options: PolicyOptions,
): PolicyDecision {
  const info = image.info;
  const imageChip = info.chip ?? info.family ?? 'unknown';
  if (device.mode !== undefined && device.mode !== 'sketch') {
    return refuse(`device asked for a ${device.mode} (filesystem) update; only application images are served`);
  }
  if (info.family !== device.family) {
    return refuse(`${imageChip} image, but the device is an ${device.family}`);
  }
  if (device.family === 'esp32' && info.compressed) {
    return refuse('gzip image, but ESP32 HTTPUpdate cannot decompress');
  }
  if (device.family === 'esp32' && running?.chip && info.chip && running.chip !== info.chip) {
    return refuse(`${info.chip} image, but the device runs ${running.name} built for ${running.chip}`);
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
  return { action: 'serve' };
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
