// Which `x-ESP8266-sketch-md5` a device can send while running a given image, so "already up to date" can be
// told without the device's MD5 having to equal the file's MD5 (protocol.md §4, last bullet).
// Sources read: esp8266/Arduino @ f946290, espressif/esptool @ bb72741.
//
// What the ESP8266 core hashes:
//  - getSketchMD5() (cores/esp8266/Esp.cpp:947-974) is MD5 over flash[0 .. getSketchSize()): eboot, its 0xAA fill
//    and the sketch as they sit in flash from offset 0.
//  - getSketchSize() (Esp.cpp:603-633) walks the sketch's segment headers from APP_START_OFFSET 0x1000 and returns
//    `(end of last segment's data + 16) & ~15`, i.e. up to and including the XOR checksum byte. elf2bin.py
//    (write_bin) places that byte at an offset ≡ 15 mod 16 and writes nothing after it (add_crc only patches
//    0x1010-0x1017), so for an ordinary .bin the sketch size IS the file length. For a signed .bin it stops before
//    the signature, which Updater::end drops anyway (Updater.cpp:325 `_size = binSize`).
// How the bytes in flash can differ from the file:
//  - OTA: Updater::_writeBuffer (Updater.cpp:387-423) rewrites only byte 2 (flash mode) of the first page, to the
//    running chip's mode (ESP.getFlashChipMode(): byte 2 of the current flash header, 0..3), and restores it in its
//    buffer before hashing, so x-MD5 still matches the file. Not for gzip (`_buffer[0] != 0x1f`, :394). Byte 3
//    (flash size/frequency) and the sketch header at 0x1000 are never touched; eboot copies verbatim
//    (bootloaders/eboot/eboot.c copy_raw, :143-239).
//  - Serial upload: Arduino's tools/upload.py:70 passes `--flash_size detect`, and esptool rewrites bytes 2-3 of an
//    image written at the bootloader offset 0x0 (esptool/cmds.py _update_image_flash_params, :715-800), so byte 3's
//    size nibble becomes the detected size while byte 2 is kept ('keep' is the default).
//  - gzip: eboot inflates the stream verbatim into place (copy_raw), so the device hashes the inflated bytes.
// Listed variants: byte 2 in 0..3 (OTA), and the size nibble in each size esptool can detect (serial upload).
// ESP32 devices are matched by the appended SHA-256 (x-ESP32-sketch-sha256) elsewhere; only the file MD5 is given.

import { createHash } from 'node:crypto';
import { ESP8266_DETECTABLE_SIZE_CODES } from './chips';
import { esp8266SketchSize } from './esp8266Image';
import { inflateImage } from './gzipImage';
import type { ImageInfo } from './imageInfo';

/** MD5 passes and the bytes they ran over (a benchmark figure). */
export interface HashMeter {
  passes: number;
  bytes: number;
}

/** Every lowercase MD5 a device running this image could report; the first one is the MD5 of the file itself. */
export function runningImageMd5s(bytes: Buffer, info: ImageInfo, meter?: HashMeter): string[] {
  const md5 = (data: Uint8Array) => {
    if (meter) {
      meter.passes++;
      meter.bytes += data.length;
    }
    return createHash('md5').update(data).digest('hex');
  };
  /** MD5 of `image` with header bytes 2 and 3 replaced, streamed so the image is not copied. */
  const md5WithHeader = (image: Uint8Array, byte2: number, byte3: number) => {
    if (meter) {
      meter.passes++;
      meter.bytes += image.length;
    }
    const head = Uint8Array.from([image[0]!, image[1]!, byte2, byte3]);
    return createHash('md5').update(head).update(image.subarray(4)).digest('hex');
  };
  const out = new Set<string>([md5(bytes)]);
  if (info.kind !== 'app' || info.family !== 'esp8266') return [...out];
  let image: Uint8Array = bytes;
  if (info.compressed) {
    const z = inflateImage(bytes);
    if (z.status !== 'ok') return [...out];
    image = z.data;
  }
  if (image.length < 4 || image[0] !== 0xe9) return [...out];
  // Non-Arduino ESP8266 images have no sketch at 0x1000; hash them whole.
  const size = Math.min(esp8266SketchSize(image) ?? image.length, image.length);
  const flashed = image.subarray(0, size);
  out.add(md5(flashed));
  const [mode, sizeFreq] = [flashed[2], flashed[3]];
  for (let m = 0; m <= 3; m++) out.add(md5WithHeader(flashed, m, sizeFreq));
  for (const code of ESP8266_DETECTABLE_SIZE_CODES)
    out.add(md5WithHeader(flashed, mode, (code << 4) | (sizeFreq & 0x0f)));
  return [...out];
}
