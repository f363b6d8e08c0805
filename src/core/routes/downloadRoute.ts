// A firmware download (protocol.md §2): resolved against the catalog index, checked against the device's own
// headers before a byte is sent, answered with the bytes its x-MD5 was computed from.

import type { CatalogStore } from '../catalog/catalogStore';
import { notOfferedReason } from '../catalog/listing';
import { readDeviceRequest, type DeviceIdentity } from '../devices/deviceRequest';
import { decideUpdate } from '../devices/updatePolicy';
import type { ResponseHead } from '../http/response';
import type { ImageInfo } from '../firmware/imageInfo';

export type DownloadAnswer =
  | { kind: 'serve'; head: ResponseHead; body: Buffer; device: DeviceIdentity; entry: string; md5: string }
  | { kind: 'refuse'; status: number; reason: string; device?: DeviceIdentity; entry?: string; head?: ResponseHead };

export interface DownloadOptions {
  answerNotModified: boolean;
}

export async function answerDownload(
  catalog: CatalogStore,
  segments: readonly string[],
  headers: ReadonlyMap<string, string>,
  options: DownloadOptions,
): Promise<DownloadAnswer> {
  const check = readDeviceRequest(headers);
  if (!check.ok) return { kind: 'refuse', status: 403, reason: check.reason };
  const device = check.device;
  const relPath = segments.join('/');
  if (segments.length === 0) return { kind: 'refuse', status: 403, reason: 'the catalog root is a folder', device };

  const dir = segments.slice(0, -1).join('/');
  const name = segments[segments.length - 1]!;
  const found = await catalog.findCurrent(dir, name);
  if (!found) {
    if (await catalog.directory(relPath))
      return { kind: 'refuse', status: 403, reason: `${relPath} is a folder`, device, entry: relPath };
    return { kind: 'refuse', status: 404, reason: `${relPath} is not in the catalog`, device, entry: relPath };
  }
  const { entry, excluded } = found;
  const notOffered = notOfferedReason(entry, 'any');
  if (notOffered) return { kind: 'refuse', status: 403, reason: `${relPath}: ${notOffered}`, device, entry: relPath };
  if (excluded)
    return { kind: 'refuse', status: 403, reason: `${relPath} is not offered: ${excluded}`, device, entry: relPath };

  const { version, bytes } = await catalog.images.load(entry.absPath, name, true);
  if (version.info.kind !== 'app' || !version.info.complete || !bytes) {
    return {
      kind: 'refuse',
      status: 403,
      reason: `${relPath}: ${version.info.reason ?? 'not a complete application image'}`,
      device,
      entry: relPath,
    };
  }
  const running = catalog.images.identify(device.sketchSha256) ?? catalog.images.identify(device.sketchMd5);
  const runningMd5s = mayRunVariant(device, version.md5, version.info, bytes)
    ? catalog.images.runningMd5s(version, bytes, name)
    : [version.md5];
  const decision = decideUpdate(
    device,
    { name, size: bytes.length, md5: version.md5, info: version.info, runningMd5s },
    running,
    options,
  );
  if (decision.action === 'refuse')
    return { kind: 'refuse', status: 403, reason: `${relPath}: ${decision.reason}`, device, entry: relPath };
  if (decision.action === 'not-modified') {
    return {
      kind: 'refuse',
      status: 304,
      reason: `${relPath}: ${decision.reason}`,
      device,
      entry: relPath,
      head: { status: 304, headers: [] },
    };
  }
  const head: ResponseHead = {
    status: 200,
    headers: [
      ['Content-Type', 'application/octet-stream'],
      ['Content-Disposition', `attachment; filename=${name}`],
      ['Content-Length', bytes.length],
      ['x-MD5', version.md5],
      ['Cache-Control', 'no-store'],
    ],
  };
  return { kind: 'serve', head, body: bytes, device, entry: relPath, md5: version.md5 };
}

/**
 * Whether an ESP8266 reporting another MD5 may still run this image (flash-mode or size byte rewritten): only when
 * its sketch size is the image's length (for gzip, the inflated length in the trailer). Other devices cost nothing.
 */
function mayRunVariant(device: DeviceIdentity, md5: string, info: ImageInfo, bytes: Buffer): boolean {
  if (device.family !== 'esp8266' || !device.sketchMd5 || device.sketchMd5 === md5) return false;
  if (device.sketchSize === undefined || info.signed) return true;
  const runningLength = info.compressed && bytes.length >= 4 ? bytes.readUInt32LE(bytes.length - 4) : bytes.length;
  return device.sketchSize === runningLength;
}
