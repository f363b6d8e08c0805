// Merged / factory images (esptool merge_bin, PlatformIO/ESPHome *.factory.bin): a whole-flash dump with the
// second-stage bootloader at the chip's bootloader offset (0x0 on S3/C3/C6/H2, 0x1000 on ESP32/S2, 0x2000 on
// P4/C5), 0xFF fill, the partition table at 0x8000 and the app at its partition (0x10000 by default).
// Flashing one over OTA would put a bootloader where the app belongs, so it is never offered.

import { isEsp32Family, parseEsp32Image } from './esp32Image';
import type { ImageInfo } from './imageInfo';

const PARTITION_TABLE = 0x8000;
const DEFAULT_APP = 0x10000;
const BOOTLOADER_OFFSETS = [0, 0x1000, 0x2000];

/** Bootloader offset when `bytes` looks like a merged flash image, else undefined. */
export function mergedBootloaderOffset(bytes: Uint8Array): number | undefined {
  for (const b of BOOTLOADER_OFFSETS) {
    if (bytes.length <= b + 24 || !isEsp32Family(bytes.subarray(b))) continue;
    if (!bytes.subarray(0, b).every((x) => x === 0xff)) continue;
    // At 0 a lone bootloader is a plain bootloader.bin; it takes the partition table to make it a flash image.
    if (b > 0 || hasPartitionTable(bytes)) return b;
  }
  return undefined;
}

export function analyzeMerged(bytes: Uint8Array, bootloaderOffset: number): ImageInfo {
  const boot = parseEsp32Image(bytes.subarray(bootloaderOffset)).info;
  const info: ImageInfo = {
    kind: 'merged',
    family: 'esp32',
    chip: boot.chip,
    chipId: boot.chipId,
    compressed: false,
    flashSize: boot.flashSize,
    flashMode: boot.flashMode,
    complete: false,
    reason: 'merged flash image (bootloader + partitions + app), not an application; publish the app .bin',
  };
  const appOffset = firstAppPartition(bytes) ?? DEFAULT_APP;
  if (bytes.length > appOffset && bytes[appOffset] === 0xe9) {
    const { info: app, end } = parseEsp32Image(bytes.subarray(appOffset));
    if (app.app) info.app = app.app;
    // The app is the last thing written; esptool --fill-flash-size may pad with 0xFF after it.
    info.complete = app.complete && end !== undefined && bytes.subarray(appOffset + end).every((x) => x === 0xff);
  }
  return info;
}

function hasPartitionTable(bytes: Uint8Array): boolean {
  return bytes[PARTITION_TABLE] === 0xaa && bytes[PARTITION_TABLE + 1] === 0x50;
}

/** Offset of the first app-type (type 0) partition in the table at 0x8000. */
function firstAppPartition(bytes: Uint8Array): number | undefined {
  if (!hasPartitionTable(bytes)) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let p = PARTITION_TABLE; p + 32 <= bytes.length && bytes[p] === 0xaa && bytes[p + 1] === 0x50; p += 32) {
    if (bytes[p + 2] === 0x00) return view.getUint32(p + 4, true);
  }
  return undefined;
}
