// Builders for realistic firmware files, shared by the project's tests. Layouts follow the real tools:
//  - ESP8266 Arduino .bin: esp8266/Arduino tools/elf2bin.py (eboot + 0xAA fill to 0x1000, sketch at 0x1000,
//    length word at 0x1010 and CRC-32/MPEG-2 at 0x1014 written last, over the linker's two reserved zero words).
//  - ESP32 family: esptool elf2image (24-byte header, segments, XOR checksum at ≡ 15 mod 16, SHA-256), ESP-IDF
//    esp_app_desc_t / esp_bootloader_desc_t, gen_esp32part.py partition tables, esptool merge_bin layouts.
// Payloads are a seeded xorshift pattern: fast for megabyte images, and two seeds give two different builds.

import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { chipIdOf, flashModeCode, flashSizeCode } from '../../src/core/firmware/chips';
import { crc32mpeg2 } from '../../src/core/firmware/crc32mpeg2';

export type FlashMode = 'QIO' | 'QOUT' | 'DIO' | 'DOUT';

const KB = 1024;
const MB = 1024 * KB;

/** Deterministic pseudo-random bytes (xorshift32). */
export function pattern(length: number, seed = 1): Buffer {
  const words = new Uint32Array(Math.ceil(length / 4));
  let x = (Math.imul(seed | 0, 0x9e3779b1) ^ 0x2545f491) >>> 0 || 1;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x >>> 0;
  }
  return Buffer.from(words.buffer, 0, length);
}

interface SegmentSpec {
  addr: number;
  data: Buffer;
}

/**
 * esptool layout: header (its byte 1 is set to the segment count), segments, zero padding, checksum byte at an
 * offset ≡ 15 mod 16, then the SHA-256 of everything before it when `appendSha`.
 */
function esptoolImage(header: Buffer, segments: SegmentSpec[], appendSha: boolean): Buffer {
  header[1] = segments.length;
  const parts: Buffer[] = [header];
  let length = header.length;
  let checksum = 0xef;
  for (const s of segments) {
    const sh = Buffer.alloc(8);
    sh.writeUInt32LE(s.addr >>> 0, 0);
    sh.writeUInt32LE(s.data.length, 4);
    parts.push(sh, s.data);
    length += 8 + s.data.length;
    for (let i = 0; i < s.data.length; i++) checksum ^= s.data[i];
  }
  const pad = (length | 15) - length;
  parts.push(Buffer.alloc(pad), Buffer.from([checksum]));
  const image = Buffer.concat(parts);
  return appendSha ? Buffer.concat([image, createHash('sha256').update(image).digest()]) : image;
}

function esp8266Header(mode: number, byte3: number, entry: number): Buffer {
  const h = Buffer.alloc(8);
  h[0] = 0xe9;
  h[2] = mode;
  h[3] = byte3;
  h.writeUInt32LE(entry >>> 0, 4);
  return h;
}

/** Segment length for the bulk of a payload: 4-aligned like ELF sections, never below 64 bytes. */
function bulkLength(n: number): number {
  return Math.max(64, Math.ceil(n / 4) * 4);
}

// ---------------------------------------------------------------- ESP8266

export interface Esp8266AppOptions {
  flashMode?: FlashMode;
  /** Flash size in bytes (ESP8266 table: 256K, 512K, 1M, 2M, 4M, 8M, 16M); default 4 MB. */
  flashSize?: number;
  /** Raw size code (high nibble of byte 3); wins over flashSize. */
  flashSizeCode?: number;
  /** Low nibble of byte 3: 0 = 40 MHz (default), 0xF = 80 MHz. */
  flashFreqCode?: number;
  /** Approximate total file size in bytes (default 300 KB); below ~45 KB the smallest image is built. */
  payloadSize?: number;
  seed?: number;
}

function esp8266Byte3(o: Esp8266AppOptions): number {
  const code = o.flashSizeCode ?? flashSizeCode('esp8266', o.flashSize ?? 4 * MB);
  if (code === undefined) throw new Error(`no ESP8266 size code for ${o.flashSize}`);
  return (code << 4) | (o.flashFreqCode ?? 0);
}

/** An Arduino ESP8266 sketch .bin exactly as elf2bin.py writes it. */
export function esp8266ArduinoApp(opts: Esp8266AppOptions = {}): Buffer {
  const mode = flashModeCode(opts.flashMode ?? 'DIO')!;
  const byte3 = esp8266Byte3(opts);
  const seed = opts.seed ?? 1;

  // eboot: `.text` linked at 0x4010F000 (bootloaders/eboot/eboot.ld), `.rodata` in DRAM; identical in every build.
  const eboot = esptoolImage(
    esp8266Header(mode, byte3, 0x4010f000),
    [
      { addr: 0x4010f000, data: pattern(0xa84, 0xeb00) },
      { addr: 0x3ffe8000, data: pattern(0x3c, 0xeb01) },
    ],
    false,
  );
  const ebootArea = Buffer.alloc(0x1000, 0xaa);
  eboot.copy(ebootArea);

  // Sketch: .irom0.text at 0x40201010 starts with the two zero words the linker reserves for __crc_len/__crc_val.
  const fixed = 0x1000 + 8 + 5 * 8 + 0x7800 + 0x600 + 0x4f0 + 0x1400 + 16;
  const iromLength = bulkLength((opts.payloadSize ?? 300 * KB) - fixed);
  const irom = pattern(iromLength, seed);
  irom.fill(0, 0, 8);
  const sketch = esptoolImage(
    esp8266Header(mode, byte3, 0x40100004),
    [
      { addr: 0x40201010, data: irom },
      { addr: 0x40100000, data: pattern(0x7800, seed + 1) },
      { addr: 0x40107800, data: pattern(0x600, seed + 2) },
      { addr: 0x3ffe8000, data: pattern(0x4f0, seed + 3) },
      { addr: 0x3ffe84f0, data: pattern(0x1400, seed + 4) },
    ],
    false,
  );
  const bin = Buffer.concat([ebootArea, sketch]);
  // add_crc(): CRC over the whole file with both words zero (they still are), then store length and CRC.
  const crc = crc32mpeg2(bin);
  bin.writeUInt32LE(bin.length, 0x1010);
  bin.writeUInt32LE(crc, 0x1014);
  return bin;
}

/** A plain (non-Arduino) ESP8266 image: one esptool image, no eboot, no CRC words. */
export function esp8266PlainApp(opts: Esp8266AppOptions = {}): Buffer {
  const seed = opts.seed ?? 1;
  return esptoolImage(
    esp8266Header(flashModeCode(opts.flashMode ?? 'QIO')!, esp8266Byte3(opts), 0x40100004),
    [
      { addr: 0x40100000, data: pattern(0x6000, seed) },
      { addr: 0x3ffe8000, data: pattern(0x800, seed + 1) },
      { addr: 0x3ffe8800, data: pattern(0x400, seed + 2) },
    ],
    false,
  );
}

/** `payload ‖ signature ‖ u32 LE signature length` as tools/signing.py writes a signed ESP8266 .bin. */
export function signedOf(payload: Buffer, signatureLength = 256): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32LE(signatureLength, 0);
  return Buffer.concat([payload, pattern(signatureLength, 0x5160), len]);
}

// ---------------------------------------------------------------- ESP32 family

interface ChipMap {
  drom: number;
  dram: number;
  iram: number;
  irom: number;
  bootDram: number;
  bootIram: number;
  maxRev: number;
}

// Approximate memory maps: the analyzer ignores load addresses, but the images should look like the real thing.
function chipMap(chip: string): ChipMap {
  switch (chip) {
    case 'esp32':
      return {
        drom: 0x3f400020,
        dram: 0x3ffbdb60,
        iram: 0x40080000,
        irom: 0x400d0020,
        bootDram: 0x3fff0030,
        bootIram: 0x40078000,
        maxRev: 399,
      };
    case 'esp32s2':
      return {
        drom: 0x3f000020,
        dram: 0x3ffbe000,
        iram: 0x40022000,
        irom: 0x40080020,
        bootDram: 0x3ffe6000,
        bootIram: 0x4004e000,
        maxRev: 99,
      };
    case 'esp32s3':
      return {
        drom: 0x3c020020,
        dram: 0x3fc92000,
        iram: 0x40374000,
        irom: 0x42000020,
        bootDram: 0x3fcd7000,
        bootIram: 0x403c9700,
        maxRev: 99,
      };
    default: // RISC-V parts (C2/C3/C5/C6/C61/H2/P4 ...)
      return {
        drom: 0x3c000020,
        dram: 0x3fc8b000,
        iram: 0x40380000,
        irom: 0x42000020,
        bootDram: 0x3fcd5000,
        bootIram: 0x403cc000,
        maxRev: 199,
      };
  }
}

export interface Esp32ImageOptions {
  /** 'esp32' (default), 'esp32s2', 'esp32s3', 'esp32c3', 'esp32c6', ... */
  chip?: string;
  /** Raw `chip_id` of the extended header; wins over chip's (which still picks the memory map). */
  chipId?: number;
  flashMode?: FlashMode;
  /** Flash size in bytes (ESP32 table: 1..128 MB); default 4 MB. */
  flashSize?: number;
  /** Raw size code (high nibble of byte 3); wins over flashSize. */
  flashSizeCode?: number;
  /** Low nibble of byte 3; default 0xF (80 MHz). */
  flashFreqCode?: number;
  /** Append the SHA-256 and set hash_appended (default true, as IDF and Arduino-ESP32 builds do). */
  hashAppended?: boolean;
  seed?: number;
}

export interface Esp32AppOptions extends Esp32ImageOptions {
  version?: string;
  projectName?: string;
  time?: string;
  date?: string;
  idfVer?: string;
  /** Approximate total file size in bytes (default 300 KB); below ~30 KB the smallest image is built. */
  payloadSize?: number;
}

/** esp_image_header_t (ESP-IDF esp_app_format.h): 8-byte common header + 16-byte extended header. */
function esp32Header(o: Esp32ImageOptions, entry: number): Buffer {
  const chip = o.chip ?? 'esp32';
  const chipId = o.chipId ?? chipIdOf(chip);
  const sizeCode = o.flashSizeCode ?? flashSizeCode('esp32', o.flashSize ?? 4 * MB);
  if (chipId === undefined || sizeCode === undefined) throw new Error(`bad chip ${chip} or flash size ${o.flashSize}`);
  const h = Buffer.alloc(24);
  h[0] = 0xe9;
  h[2] = flashModeCode(o.flashMode ?? 'DIO')!;
  h[3] = (sizeCode << 4) | (o.flashFreqCode ?? 0xf);
  h.writeUInt32LE(entry >>> 0, 4);
  h[8] = 0xee; // WP pin: disabled
  h.writeUInt16LE(chipId, 12);
  h[14] = 0; // min_chip_rev (deprecated)
  h.writeUInt16LE(0, 15); // min_chip_rev_full
  h.writeUInt16LE(chipMap(chip).maxRev, 17); // max_chip_rev_full
  h[23] = o.hashAppended === false ? 0 : 1;
  return h;
}

function cString(text: string, size: number): Buffer {
  const b = Buffer.alloc(size);
  b.write(text.slice(0, size - 1), 'utf8');
  return b;
}

/** esp_app_desc_t (ESP-IDF esp_app_desc.h), 256 bytes. */
function appDescriptor(o: Esp32AppOptions, seed: number): Buffer {
  const head = Buffer.alloc(16);
  head.writeUInt32LE(0xabcd5432, 0); // magic_word; secure_version and reserv1 stay 0
  const tail = Buffer.alloc(256 - 176);
  tail.writeUInt16LE(0, 0); // min_efuse_blk_rev_full
  tail.writeUInt16LE(99, 2); // max_efuse_blk_rev_full
  tail[4] = 16; // mmu_page_size: log2(64 KB)
  return Buffer.concat([
    head,
    cString(o.version ?? '1.0.0', 32),
    cString(o.projectName ?? 'autoconnect-app', 32),
    cString(o.time ?? '12:34:56', 16),
    cString(o.date ?? 'Jan  2 2025', 16),
    cString(o.idfVer ?? 'v5.1.4-dirty', 32),
    createHash('sha256').update(pattern(64, seed)).digest(), // app_elf_sha256
    tail,
  ]);
}

/** An ESP32-family application image as esptool elf2image writes it (app descriptor first in DROM). */
export function esp32App(opts: Esp32AppOptions = {}): Buffer {
  const m = chipMap(opts.chip ?? 'esp32');
  const seed = opts.seed ?? 1;
  const fixed = 24 + 5 * 8 + 256 + 0x2000 + 0x1400 + 0x4000 + 0x800 + 16 + 32;
  const iromLength = bulkLength((opts.payloadSize ?? 300 * KB) - fixed);
  return esptoolImage(
    esp32Header(opts, m.iram + 0x100),
    [
      { addr: m.drom, data: Buffer.concat([appDescriptor(opts, seed), pattern(0x2000, seed + 1)]) },
      { addr: m.dram, data: pattern(0x1400, seed + 2) },
      { addr: m.iram, data: pattern(0x4000, seed + 3) },
      { addr: m.irom, data: pattern(iromLength, seed + 4) },
      { addr: m.iram + 0x4000, data: pattern(0x800, seed + 5) },
    ],
    opts.hashAppended !== false,
  );
}

/** esp_bootloader_desc_t (ESP-IDF >= 5.2 esp_bootloader_desc.h), 80 bytes, first in the bootloader's DRAM segment. */
function bootloaderDescriptor(): Buffer {
  const head = Buffer.alloc(8);
  head[0] = 80; // ESP_BOOTLOADER_DESC_MAGIC_BYTE
  head.writeUInt32LE(1, 4); // version
  return Buffer.concat([head, cString('v5.1.4-dirty', 32), cString('Jan  2 2025 12:00:00', 24), Buffer.alloc(16)]);
}

/** A second-stage bootloader (bootloader.bin): an ESP32-family image without an app descriptor. */
export function esp32Bootloader(opts: Esp32ImageOptions = {}): Buffer {
  const m = chipMap(opts.chip ?? 'esp32');
  const seed = opts.seed ?? 0xb007;
  return esptoolImage(
    esp32Header(opts, m.bootIram + 0x5a0),
    [
      { addr: m.bootDram, data: Buffer.concat([bootloaderDescriptor(), pattern(0x1c0, seed)]) },
      { addr: m.bootIram, data: pattern(0x3a00, seed + 1) },
      { addr: m.bootIram + 0x8400, data: pattern(0x1a00, seed + 2) },
    ],
    opts.hashAppended !== false,
  );
}

export interface PartitionEntry {
  name: string;
  type: number;
  subtype: number;
  offset: number;
  size: number;
  flags?: number;
}

/** Arduino-ESP32 tools/partitions/default.csv. */
export const DEFAULT_PARTITIONS: readonly PartitionEntry[] = [
  { name: 'nvs', type: 1, subtype: 0x02, offset: 0x9000, size: 0x5000 },
  { name: 'otadata', type: 1, subtype: 0x00, offset: 0xe000, size: 0x2000 },
  { name: 'app0', type: 0, subtype: 0x10, offset: 0x10000, size: 0x140000 },
  { name: 'app1', type: 0, subtype: 0x11, offset: 0x150000, size: 0x140000 },
  { name: 'spiffs', type: 1, subtype: 0x82, offset: 0x290000, size: 0x160000 },
  { name: 'coredump', type: 1, subtype: 0x03, offset: 0x3f0000, size: 0x10000 },
];

/** partitions.bin as gen_esp32part.py writes it: entries, MD5 entry, 0xFF up to 0xC00. */
export function partitionTable(entries: readonly PartitionEntry[] = DEFAULT_PARTITIONS): Buffer {
  const rows = entries.map((e) => {
    const row = Buffer.alloc(32);
    row[0] = 0xaa;
    row[1] = 0x50;
    row[2] = e.type;
    row[3] = e.subtype;
    row.writeUInt32LE(e.offset, 4);
    row.writeUInt32LE(e.size, 8);
    cString(e.name, 16).copy(row, 12);
    row.writeUInt32LE(e.flags ?? 0, 28);
    return row;
  });
  const body = Buffer.concat(rows);
  const md5Row = Buffer.concat([
    Buffer.from([0xeb, 0xeb]),
    Buffer.alloc(14, 0xff),
    createHash('md5').update(body).digest(),
  ]);
  const table = Buffer.alloc(0xc00, 0xff);
  Buffer.concat([body, md5Row]).copy(table);
  return table;
}

/** zlib-compatible CRC-32 continuing from `crc` (the ROM's esp_rom_crc32_le semantics). */
function crc32(bytes: Uint8Array, crc: number): number {
  let c = ~crc >>> 0;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return ~c >>> 0;
}

/**
 * An otadata image (two 4 KB sectors). Default: boot_app0-like, sector 0 holding an esp_ota_select_entry_t with
 * ota_seq 1 (boot app0) and its CRC (crc32_le(UINT32_MAX, &ota_seq, 4)); `blank: true` gives ota_data_initial.bin.
 */
export function otaData(opts: { blank?: boolean } = {}): Buffer {
  const data = Buffer.alloc(0x2000, 0xff);
  if (!opts.blank) {
    data.writeUInt32LE(1, 0); // ota_seq; seq_label[20] and ota_state stay erased
    data.writeUInt32LE(crc32(data.subarray(0, 4), 0xffffffff), 28);
  }
  return data;
}

/** Bootloader offset per chip (esptool targets BOOTLOADER_FLASH_OFFSET). */
function bootloaderOffset(chip: string): number {
  if (chip === 'esp32' || chip === 'esp32s2') return 0x1000;
  if (chip === 'esp32p4' || chip === 'esp32c5') return 0x2000;
  return 0;
}

/** esptool merge_bin output: bootloader, partitions at 0x8000, boot_app0 at 0xE000, app at 0x10000, 0xFF between. */
export function mergedImage(chip = 'esp32', app: Esp32AppOptions = {}): Buffer {
  const image = esp32App({ ...app, chip });
  const merged = Buffer.alloc(0x10000 + image.length, 0xff);
  esp32Bootloader({ chip, flashMode: app.flashMode, flashSize: app.flashSize }).copy(merged, bootloaderOffset(chip));
  partitionTable().copy(merged, 0x8000);
  otaData().copy(merged, 0xe000);
  image.copy(merged, 0x10000);
  return merged;
}

// ---------------------------------------------------------------- filesystems

/**
 * A littlefs v2 image: superblock metadata pair in blocks 0 and 1 (revision count, then the superblock name tag
 * whose payload "littlefs" lands at offset 8, then the inline struct), everything else erased.
 */
export function littlefsImage(opts: { blockSize?: number; blockCount?: number } = {}): Buffer {
  const blockSize = opts.blockSize ?? 4096;
  const blockCount = opts.blockCount ?? 16;
  const image = Buffer.alloc(blockSize * blockCount, 0xff);
  for (const block of [0, 1]) {
    const b = block * blockSize;
    image.writeUInt32LE(block + 1, b); // revision count
    image.writeUInt32BE((0x0ff00008 ^ 0xffffffff) >>> 0, b + 4); // LFS_TYPE_SUPERBLOCK tag, xored with 0xffffffff
    image.write('littlefs', b + 8, 'latin1');
    image.writeUInt32BE((0x20100018 ^ 0x0ff00008) >>> 0, b + 16); // LFS_TYPE_INLINESTRUCT tag, xored with previous
    image.writeUInt32LE(0x00020000, b + 20); // disk version 2.0
    image.writeUInt32LE(blockSize, b + 24);
    image.writeUInt32LE(blockCount, b + 28);
    image.writeUInt32LE(32, b + 32); // name_max
    image.writeUInt32LE(0x7fffffff, b + 36); // file_max
    image.writeUInt32LE(1022, b + 40); // attr_max
  }
  return image;
}

/**
 * A SPIFFS image as mkspiffs builds it for the ESP cores (256-byte pages, magic in every block's lookup page at
 * +252: u16 0x20140529 ^ 256, erase count at +254), one small file in block 0.
 */
export function spiffsImage(opts: { blockSize?: number; blockCount?: number } = {}): Buffer {
  const blockSize = opts.blockSize ?? 8192;
  const blockCount = opts.blockCount ?? 8;
  const image = Buffer.alloc(blockSize * blockCount, 0xff);
  for (let block = 0; block < blockCount; block++) {
    const b = block * blockSize;
    image.writeUInt16LE((0x20140529 ^ 256) & 0xffff, b + 252);
    image.writeUInt16LE(block + 1, b + 254);
  }
  image.writeUInt16LE(0x8001, 0); // object index header page of object 1
  image.writeUInt16LE(0x0001, 2); // its data page
  const header = Buffer.alloc(256, 0xff);
  header.writeUInt16LE(0x8001, 0);
  header.write('/index.html', 0x10, 'latin1');
  header.copy(image, 256);
  pattern(256, 0x5f).copy(image, 512);
  return image;
}

// ---------------------------------------------------------------- transforms

export function gzipOf(buf: Buffer): Buffer {
  return gzipSync(buf, { level: 9 });
}

/** A copy of the first `n` bytes, as a reader sees a file still being written. */
export function truncate(buf: Buffer, n: number): Buffer {
  return Buffer.from(buf.subarray(0, n));
}

/** A copy with the byte at `offset` inverted. */
export function flipByte(buf: Buffer, offset: number): Buffer {
  const copy = Buffer.from(buf);
  copy[offset] ^= 0xff;
  return copy;
}
