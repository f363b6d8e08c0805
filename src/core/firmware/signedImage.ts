// An ESP8266 signed build: `<name>.bin.signed` is the `.bin` followed by the signature and a u32 LE signature
// length (esp8266/Arduino tools/signing.py sign_and_write; Updater::end reads the length from the last 4 bytes and
// hashes the `size - sigLen - 4` bytes before the signature). A device whose sketch installed a verifier accepts
// only such a file, so a broken one must not be published in place of the image.

/** RSA-4096 gives 512 bytes; 4 KB leaves room for anything a verifier could take. */
const MAX_SIGNATURE = 4096;

export type SignedCheck =
  | { ok: true; signatureLength: number }
  /** `stale`: the image part is not this `.bin` (another build's signature, or signing is still running). */
  | { ok: false; stale: boolean; reason: string };

/** Checks that `signed` is exactly `unsigned ‖ signature ‖ u32 LE signature length`. */
export function checkSignedImage(unsigned: Uint8Array, signed: Uint8Array): SignedCheck {
  const image = unsigned.length;
  if (signed.length <= image + 4) {
    const samePrefix = Buffer.from(signed.subarray(0, Math.min(image, signed.length))).equals(
      Buffer.from(unsigned.subarray(0, Math.min(image, signed.length))),
    );
    return {
      ok: false,
      stale: !samePrefix,
      reason: `truncated .bin.signed: ${signed.length} bytes, but the image alone has ${image} and a signature block needs more`,
    };
  }
  if (!Buffer.from(signed.subarray(0, image)).equals(Buffer.from(unsigned))) {
    return {
      ok: false,
      stale: true,
      reason: 'the .bin.signed holds another image than the .bin beside it (an older build, or signing not finished)',
    };
  }
  const n = signed.length - 4;
  const length = (signed[n]! | (signed[n + 1]! << 8) | (signed[n + 2]! << 16) | (signed[n + 3]! << 24)) >>> 0;
  const block = signed.length - image - 4;
  if (length !== block) {
    return {
      ok: false,
      stale: false,
      reason: `malformed signature block: its length word says ${length} bytes, the file holds ${block} after the image`,
    };
  }
  if (length > MAX_SIGNATURE) {
    return { ok: false, stale: false, reason: `malformed signature block: ${length} bytes is no signature` };
  }
  return { ok: true, signatureLength: length };
}
