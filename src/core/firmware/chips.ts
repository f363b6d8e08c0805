// The chips and the lookup tables of the esptool image header (protocol.md §4). Values come from esptool's
// esptool/targets/*.py (CHIP_NAME, IMAGE_CHIP_ID, FLASH_SIZES), docs/en/advanced-topics/firmware-image-format.rst
// and ESP-IDF's esp_app_format.h (esp_chip_id_t).

import type { ChipFamily, ImageInfo } from './imageInfo';

export interface Chip {
  /** The name builds and tools use: ESP-IDF's target, esptool's --chip, PlatformIO's board MCU. */
  readonly name: string;
  /** How people write it (esptool's CHIP_NAME). */
  readonly displayName: string;
  readonly family: ChipFamily;
  /** `chip_id` of the extended image header (ESP-IDF esp_chip_id_t, esptool IMAGE_CHIP_ID); ESP32 family only. */
  readonly imageChipId?: number;
}

/**
 * Every chip esptool knows (esptool/targets/__init__.py CHIP_DEFS; its beta targets are gone from esptool and from
 * here). The one table the classifier, the views and the log take chip names from.
 */
export const CHIPS: readonly Chip[] = [
  { name: 'esp8266', displayName: 'ESP8266', family: 'esp8266' },
  { name: 'esp32', displayName: 'ESP32', family: 'esp32', imageChipId: 0x00 },
  { name: 'esp32s2', displayName: 'ESP32-S2', family: 'esp32', imageChipId: 0x02 },
  { name: 'esp32c3', displayName: 'ESP32-C3', family: 'esp32', imageChipId: 0x05 },
  { name: 'esp32s3', displayName: 'ESP32-S3', family: 'esp32', imageChipId: 0x09 },
  { name: 'esp32c2', displayName: 'ESP32-C2', family: 'esp32', imageChipId: 0x0c },
  { name: 'esp32c6', displayName: 'ESP32-C6', family: 'esp32', imageChipId: 0x0d },
  { name: 'esp32h2', displayName: 'ESP32-H2', family: 'esp32', imageChipId: 0x10 },
  { name: 'esp32p4', displayName: 'ESP32-P4', family: 'esp32', imageChipId: 0x12 },
  { name: 'esp32c61', displayName: 'ESP32-C61', family: 'esp32', imageChipId: 0x14 },
  { name: 'esp32c5', displayName: 'ESP32-C5', family: 'esp32', imageChipId: 0x17 },
  { name: 'esp32h21', displayName: 'ESP32-H21', family: 'esp32', imageChipId: 0x19 },
  { name: 'esp32h4', displayName: 'ESP32-H4', family: 'esp32', imageChipId: 0x1c },
  { name: 'esp32e22', displayName: 'ESP32-E22', family: 'esp32', imageChipId: 0x1f },
  { name: 'esp32s31', displayName: 'ESP32-S31', family: 'esp32', imageChipId: 0x20 },
];

const BY_IMAGE_CHIP_ID: ReadonlyMap<number, Chip> = new Map(
  CHIPS.filter((c) => c.imageChipId !== undefined).map((c) => [c.imageChipId!, c]),
);
const BY_NAME: ReadonlyMap<string, Chip> = new Map(CHIPS.map((c) => [c.name, c]));

/** ESP32-family `chip_id` (u16 at offset 12 of the extended header) -> chip name. */
export function chipName(chipId: number): string | undefined {
  return BY_IMAGE_CHIP_ID.get(chipId)?.name;
}

/** Inverse of chipName, for the test builders. */
export function chipIdOf(name: string): number | undefined {
  return BY_NAME.get(name)?.imageChipId;
}

/**
 * How a chip or family name is shown to people: `esp32h4` → `ESP32-H4`. A name not in the table (a chip newer than
 * this table) is shown upper-case as it came.
 */
export function chipDisplayName(name: string): string {
  return BY_NAME.get(name)?.displayName ?? name.toUpperCase();
}

/** The chip an image is built for, as shown to people: its variant when the header names one, else its family. */
export function imageChip(info: Pick<ImageInfo, 'chip' | 'family'>): string {
  const name = info.chip ?? info.family;
  return name ? chipDisplayName(name) : 'unknown chip';
}

const KB = 1024;
const MB = 1024 * KB;

// The same size code means different sizes on the two families (2 = 1 MB on ESP8266, 4 MB on ESP32).
// Codes 5 and 6 on ESP8266 are the "-c1" layouts of 2 MB and 4 MB.
const ESP8266_FLASH_SIZES: ReadonlyMap<number, number> = new Map([
  [0, 512 * KB],
  [1, 256 * KB],
  [2, 1 * MB],
  [3, 2 * MB],
  [4, 4 * MB],
  [5, 2 * MB],
  [6, 4 * MB],
  [8, 8 * MB],
  [9, 16 * MB],
]);

const ESP32_FLASH_SIZES: ReadonlyMap<number, number> = new Map([
  [0, 1 * MB],
  [1, 2 * MB],
  [2, 4 * MB],
  [3, 8 * MB],
  [4, 16 * MB],
  [5, 32 * MB],
  [6, 64 * MB],
  [7, 128 * MB],
]);

/** Decode header byte 3 (high nibble = size code) with the table of `family`. */
export function flashSizeOf(family: ChipFamily, byte3: number): number | undefined {
  const code = (byte3 >> 4) & 0x0f;
  return (family === 'esp8266' ? ESP8266_FLASH_SIZES : ESP32_FLASH_SIZES).get(code);
}

/** Size code (high nibble of byte 3) for a flash size in bytes; the builders use it. */
export function flashSizeCode(family: ChipFamily, bytes: number): number | undefined {
  for (const [code, size] of family === 'esp8266' ? ESP8266_FLASH_SIZES : ESP32_FLASH_SIZES) {
    if (size === bytes) return code;
  }
  return undefined;
}

/**
 * Size codes `esptool --flash_size detect` can write into an ESP8266 header (esptool/targets/esp8266.py
 * FLASH_SIZES without the "-c1" variants, which detection never yields).
 */
export const ESP8266_DETECTABLE_SIZE_CODES: readonly number[] = [0, 1, 2, 3, 4, 8, 9];

// Header byte 2; 4 and 5 exist only in the ESP-IDF enum (esp_image_spi_mode_t).
const FLASH_MODES = ['QIO', 'QOUT', 'DIO', 'DOUT', 'FAST_READ', 'SLOW_READ'];

export function flashModeOf(byte2: number): string | undefined {
  return FLASH_MODES[byte2];
}

export function flashModeCode(name: string): number | undefined {
  const i = FLASH_MODES.indexOf(name.toUpperCase());
  return i < 0 ? undefined : i;
}
