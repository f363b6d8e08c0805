// gzip images (`1F 8B`, ESP8266 core >= 2.7): eboot inflates them into place on reboot
// (esp8266/Arduino bootloaders/eboot/eboot.c copy_raw). A file is complete when the stream ends with its
// trailer (CRC-32 and length), which zlib verifies. Signing happens after compression, so a signed file is
// `gzip stream ‖ signature ‖ u32 LE length`.

import { constants, gunzipSync } from 'node:zlib';
import { signatureLength } from './trailing';

/** No ESP8266 sketch inflates beyond the largest flash; also a guard against gzip bombs. */
export const MAX_INFLATED = 32 * 1024 * 1024;

export type Inflated =
  | { status: 'ok'; data: Buffer; signed: boolean }
  /** Stream cut short: `data` is what inflates from the part that is there (enough to see the image header). */
  | { status: 'truncated'; data: Buffer }
  | { status: 'corrupt'; reason: string };

export function inflateImage(bytes: Uint8Array): Inflated {
  const whole = tryGunzip(bytes);
  if (!(whole instanceof Error)) return { status: 'ok', data: whole, signed: false };
  // zlib rejects data after the stream; a signature block is the one legitimate kind.
  const n = bytes.length;
  const sigLen = n >= 4 ? (bytes[n - 4] | (bytes[n - 3] << 8) | (bytes[n - 2] << 16) | (bytes[n - 1] << 24)) >>> 0 : 0;
  const payloadEnd = n - 4 - sigLen;
  if (payloadEnd > 0 && signatureLength(bytes, payloadEnd) === sigLen) {
    const payload = tryGunzip(bytes.subarray(0, payloadEnd));
    if (!(payload instanceof Error)) return { status: 'ok', data: payload, signed: true };
  }
  if (whole.code === 'ERR_BUFFER_TOO_LARGE') return { status: 'corrupt', reason: 'gzip image inflates beyond 32 MB' };
  if (whole.message.includes('unexpected end of file')) {
    return { status: 'truncated', data: partialGunzip(bytes) };
  }
  return { status: 'corrupt', reason: 'corrupt gzip stream' };
}

function tryGunzip(bytes: Uint8Array): Buffer | NodeJS.ErrnoException {
  try {
    return gunzipSync(bytes, { maxOutputLength: MAX_INFLATED });
  } catch (e) {
    return e instanceof Error ? e : new Error(String(e));
  }
}

/** Inflate as much as a cut stream holds: Z_SYNC_FLUSH makes zlib hand out output without the trailer. */
function partialGunzip(bytes: Uint8Array): Buffer {
  try {
    return gunzipSync(bytes, { finishFlush: constants.Z_SYNC_FLUSH, maxOutputLength: MAX_INFLATED });
  } catch {
    return Buffer.alloc(0);
  }
}
