// Lookup tables for the esptool image header (protocol.md §4). Values come from esptool's
// esptool/targets/*.py (IMAGE_CHIP_ID, FLASH_SIZES) and docs/en/advanced-topics/firmware-image-format.rst.

import type { ChipFamily } from './imageInfo';

/** ESP32-family `chip_id` (u16 at offset 12 of the extended header) -> chip name. */
const CHIP_NAMES: ReadonlyMap<number, string> = new Map([
  [0x00, 'esp32'],
  [0x02, 'esp32s2'],
  [0x05, 'esp32c3'],
  [0x09, 'esp32s3'],
  [0x0c, 'esp32c2'],
  [0x0d, 'esp32c6'],
  [0x10, 'esp32h2'],
  [0x12, 'esp32p4'],
  [0x14, 'esp32c61'],
  [0x17, 'esp32c5'],
  [0x19, 'esp32h21'],
  [0x1c, 'esp32h4'],
  [0x1f, 'esp32e22'],
  [0x20, 'esp32s31'],
]);

export function chipName(chipId: number): string | undefined {
  return CHIP_NAMES.get(chipId);
}

/** Inverse of chipName, for the test builders. */
export function chipIdOf(name: string): number | undefined {
  for (const [id, n] of CHIP_NAMES) if (n === name) return id;
  return undefined;
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
