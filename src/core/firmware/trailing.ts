// What follows the end of a walked image. Only 0xFF padding (esptool elf2image --pad-to-size fills with 0xFF)
// and an ESP8266 signature block are normal; anything else is another image glued on (merged/factory) or junk.

/** Padding longer than an MMU page is no longer "padding" but a flash dump. */
const MAX_PADDING = 0x10000;
/** Signature length in the ESP8266 signed layout; RSA-4096 gives 512, so 4 KB is generous. */
const MAX_SIGNATURE = 4096;

export type Trailing = 'none' | 'padding' | 'signature' | 'data';

export function trailingKind(bytes: Uint8Array, end: number): Trailing {
  const extra = bytes.length - end;
  if (extra <= 0) return 'none';
  if (extra < MAX_PADDING && bytes.subarray(end).every((b) => b === 0xff)) return 'padding';
  return signatureLength(bytes, end) !== undefined ? 'signature' : 'data';
}

/**
 * ESP8266 signed binaries are `payload ‖ signature ‖ u32 LE signature length` (esp8266/Arduino tools/signing.py
 * sign_and_write; checked in Updater::end). Returns the signature length when the bytes after `end` are exactly that.
 */
export function signatureLength(bytes: Uint8Array, end: number): number | undefined {
  const extra = bytes.length - end;
  if (extra < 5) return undefined;
  const n = bytes.length - 4;
  const sigLen = (bytes[n] | (bytes[n + 1] << 8) | (bytes[n + 2] << 16) | (bytes[n + 3] << 24)) >>> 0;
  return sigLen > 0 && sigLen <= MAX_SIGNATURE && sigLen + 4 === extra ? sigLen : undefined;
}
