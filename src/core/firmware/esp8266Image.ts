// ESP8266 images. An Arduino .bin (esp8266/Arduino tools/elf2bin.py main/write_bin/add_crc) is:
//   0x0000  eboot image (2 segments, own XOR checksum), padded with 0xAA to 0x1000
//   0x1000  the sketch image (5 segments, XOR checksum at offset ≡ 15 mod 16, so the file length is a multiple of 16)
//   0x1010  u32 LE total file length  } stored by add_crc() over the first 8 bytes of .irom0.text, which the linker
//   0x1014  u32 LE CRC-32/MPEG-2      } reserves as two zero words (tools/sdk/ld/eagle.app.v6.common.ld.h __crc_len)
// The CRC runs over the whole file with those 8 bytes zeroed. Because add_crc() runs after the XOR checksum was
// written, the sketch's XOR checksum only matches with those 8 bytes taken as zero.
// Other ESP8266 images (non-Arduino, or Arduino cores before the CRC words) are checked by segment walk + XOR.

import { flashModeOf, flashSizeOf } from './chips';
import { crc32mpeg2 } from './crc32mpeg2';
import { incompleteReason, walkSegments, xorChecksum, type SegmentWalk } from './esptoolImage';
import type { ImageInfo } from './imageInfo';
import { trailingKind } from './trailing';

/** APP_START_OFFSET (tools/sdk/include/spi_flash_geometry.h): where the sketch image starts. */
export const APP_START = 0x1000;
const LENGTH_WORD = APP_START + 0x10;
const CRC_WORD = APP_START + 0x14;

export function analyzeEsp8266(bytes: Uint8Array): ImageInfo {
  const base: ImageInfo = {
    kind: 'app',
    family: 'esp8266',
    chip: 'esp8266',
    compressed: false,
    // The OTA client checks the header at offset 0 (Updater.cpp _verifyEnd), so that one is reported.
    flashSize: flashSizeOf('esp8266', bytes[3]),
    flashMode: flashModeOf(bytes[2]),
    complete: false,
  };
  const first = walkSegments(bytes, 8, false);
  if (first.status === 'corrupt')
    return { ...base, kind: 'not-an-image', reason: `corrupt ESP8266 image: ${first.reason}` };
  if (first.status === 'truncated') return { ...base, reason: incompleteReason(first) };
  if (xorChecksum(bytes, first.walk.segments) !== bytes[first.walk.checksumOffset]) {
    return { ...base, reason: 'ESP8266 image checksum mismatch' };
  }
  return isArduinoLayout(bytes, first.walk) ? checkArduino(bytes, base) : finish(bytes, base, first.walk.end);
}

/**
 * eboot ends before 0x1000 and is followed by elf2bin's 0xAA fill (up to the file end if that comes first).
 * A file that stops right after such a small first image counts too: no real sketch fits in 4 KB, so it is an
 * Arduino .bin cut after its eboot.
 */
function isArduinoLayout(bytes: Uint8Array, eboot: SegmentWalk): boolean {
  if (eboot.end > APP_START) return false;
  const fillEnd = Math.min(APP_START, bytes.length);
  for (let i = eboot.end; i < fillEnd; i++) if (bytes[i] !== 0xaa) return false;
  return bytes.length <= APP_START || bytes[APP_START] === 0xe9;
}

function checkArduino(bytes: Uint8Array, base: ImageInfo): ImageInfo {
  if (bytes.length <= APP_START) {
    return { ...base, reason: `incomplete: file ends at ${bytes.length} bytes, before the sketch at 0x1000` };
  }
  const sketch = bytes.subarray(APP_START);
  const r = walkSegments(sketch, 8, false);
  if (r.status === 'corrupt')
    return { ...base, kind: 'not-an-image', reason: `corrupt ESP8266 sketch image: ${r.reason}` };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lengthWord = bytes.length >= LENGTH_WORD + 4 ? view.getUint32(LENGTH_WORD, true) : 0;
  if (r.status === 'truncated') {
    // The length word knows the final size even when the segment headers run past the cut (elf2bin files are
    // always a multiple of 16 long, which also filters out code bytes of pre-CRC cores).
    const plausible = lengthWord > bytes.length && lengthWord <= 32 * 1024 * 1024 && lengthWord % 16 === 0;
    const expected = plausible ? lengthWord : undefined;
    return {
      ...base,
      reason: expected ? `incomplete: ${bytes.length} of ${expected} bytes` : incompleteReason(r, APP_START),
    };
  }
  const end = APP_START + r.walk.end;
  const crcWord = bytes.length >= CRC_WORD + 4 ? view.getUint32(CRC_WORD, true) : 0;
  const stored = sketch[r.walk.checksumOffset];
  if (lengthWord === 0 && crcWord === 0) {
    // elf2bin writes the image first and add_crc() rewrites the file afterwards: caught in between.
    return { ...base, reason: 'incomplete: length and crc words not written yet' };
  }
  if (lengthWord === end) {
    if (crcOfImage(bytes.subarray(0, end)) !== crcWord) return { ...base, reason: 'ESP8266 image CRC mismatch' };
    return finish(bytes, base, end);
  }
  // Cores before elf2bin (esptool-ck) had no CRC words: the raw XOR checksum is the only check there is.
  if (xorChecksum(sketch, r.walk.segments) === stored) return finish(bytes, base, end);
  return { ...base, reason: 'ESP8266 image checksum mismatch' };
}

/** elf2bin crc8266(): CRC-32/MPEG-2 of the image with the length and CRC words taken as zero. */
function crcOfImage(image: Uint8Array): number {
  let crc = crc32mpeg2(image.subarray(0, LENGTH_WORD));
  crc = crc32mpeg2(new Uint8Array(8), crc);
  return crc32mpeg2(image.subarray(CRC_WORD + 4), crc);
}

/** The image structure is whole and checks out; now judge what follows it. */
function finish(bytes: Uint8Array, base: ImageInfo, end: number): ImageInfo {
  const t = trailingKind(bytes, end);
  if (t === 'none' || t === 'padding') return { ...base, complete: true };
  if (t === 'signature') return { ...base, complete: true, signed: true };
  return { ...base, kind: 'not-an-image', reason: `unexpected ${bytes.length - end} bytes after the image` };
}

/**
 * What ESP.getSketchSize() computes on a device running `image` (esp8266/Arduino cores/esp8266/Esp.cpp:603-633):
 * walk the segment headers of the sketch at APP_START, take the end of the last segment's data, and round up with
 * `(pos + 16) & ~15`, i.e. include the checksum byte. For an elf2bin .bin that equals the file length; for a signed
 * file it stops before the signature. Returns undefined when `image` has no Arduino layout or is cut short.
 */
export function esp8266SketchSize(image: Uint8Array): number | undefined {
  const first = walkSegments(image, 8, false);
  if (first.status !== 'ok' || !isArduinoLayout(image, first.walk) || image.length <= APP_START) return undefined;
  const r = walkSegments(image.subarray(APP_START), 8, false);
  return r.status === 'ok' ? APP_START + r.walk.end : undefined;
}
