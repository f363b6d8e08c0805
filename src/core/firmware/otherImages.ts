// Flash images that are not ESP executables but sit next to the app in build folders (peers.md §3.6):
// partition tables, OTA data (boot_app0.bin / ota_data_initial.bin) and filesystem images.

import { createHash } from 'node:crypto';
import type { FilesystemType, ImageInfo } from './imageInfo';

const SECTOR = 0x1000;

/**
 * ESP-IDF partition table (gen_esp32part.py): 32-byte entries starting `AA 50`, then an MD5 entry
 * (`EB EB`, 14 x 0xFF, MD5 of the entries before it), then 0xFF up to 0xC00. Complete when the entries are
 * terminated by a matching MD5 entry or by erased flash.
 */
export function analyzePartitionTable(bytes: Uint8Array): ImageInfo {
  const info: ImageInfo = {
    kind: 'partition-table',
    family: 'esp32',
    compressed: false,
    complete: false,
    reason: 'partition table, not an application',
  };
  let pos = 0;
  while (pos + 32 <= bytes.length && bytes[pos] === 0xaa && bytes[pos + 1] === 0x50) pos += 32;
  if (pos + 32 > bytes.length) return info;
  if (bytes[pos] === 0xeb && bytes[pos + 1] === 0xeb) {
    const md5 = createHash('md5').update(bytes.subarray(0, pos)).digest();
    info.complete = md5.equals(bytes.subarray(pos + 16, pos + 32));
  } else {
    info.complete = bytes[pos] === 0xff && bytes[pos + 1] === 0xff;
  }
  return info;
}

/**
 * OTA data partition image: two 4 KB sectors (the default `otadata` size, 0x2000), each erased except for an
 * optional 32-byte esp_ota_select_entry_t at its start. ota_data_initial.bin is all 0xFF; boot_app0.bin may hold a
 * selection entry. Accepts 1..4 sectors.
 */
export function isOtaData(bytes: Uint8Array): boolean {
  if (bytes.length === 0 || bytes.length % SECTOR !== 0 || bytes.length > 4 * SECTOR) return false;
  for (let s = 0; s < bytes.length; s += SECTOR) {
    for (let i = s + 32; i < s + SECTOR; i++) if (bytes[i] !== 0xff) return false;
  }
  return true;
}

export type { FilesystemType };

/** Recognise a filesystem image by its on-disk magic. */
export function filesystemType(bytes: Uint8Array): FilesystemType | undefined {
  if (isLittlefs(bytes)) return 'littlefs';
  if (isFat(bytes)) return 'fatfs';
  if (isSpiffs(bytes)) return 'spiffs';
  return undefined;
}

/** littlefs v2 superblock: the name tag's payload "littlefs" at offset 8 of a metadata block (block 0 or 1). */
function isLittlefs(bytes: Uint8Array): boolean {
  return [0, 0x1000, 0x2000].some((b) => asciiAt(bytes, b + 8, 'littlefs'));
}

/** FAT boot sector: 0x55AA signature and the "FAT" file-system type string (FAT12/16 at 54, FAT32 at 82). */
export function isFat(bytes: Uint8Array): boolean {
  return [0, SECTOR].some(
    (b) =>
      bytes[b + 510] === 0x55 &&
      bytes[b + 511] === 0xaa &&
      (asciiAt(bytes, b + 54, 'FAT') || asciiAt(bytes, b + 82, 'FAT')),
  );
}

/**
 * SPIFFS as the ESP cores build it (SPIFFS_USE_MAGIC 1, SPIFFS_USE_MAGIC_LENGTH 0, 256-byte pages): every block
 * carries u16 `0x20140529 ^ page size` in the second-last entry of its object lookup page, i.e. at block + 252
 * (esp8266/Arduino cores/esp8266/spiffs/spiffs_nucleus.h SPIFFS_MAGIC, SPIFFS_MAGIC_PADDR). Checked in the first
 * two blocks (4 KB or 8 KB blocks) so two random bytes do not make a filesystem.
 */
function isSpiffs(bytes: Uint8Array): boolean {
  const magic = (0x20140529 ^ 256) & 0xffff;
  const at = (o: number) => o + 1 < bytes.length && (bytes[o] | (bytes[o + 1] << 8)) === magic;
  if (!at(252)) return false;
  return [0x1000, 0x2000].some((block) => at(block + 252));
}

function asciiAt(bytes: Uint8Array, offset: number, text: string): boolean {
  if (offset + text.length > bytes.length) return false;
  for (let i = 0; i < text.length; i++) if (bytes[offset + i] !== text.charCodeAt(i)) return false;
  return true;
}
