// The esptool image layout shared by both families (protocol.md §8; esptool docs firmware-image-format.rst,
// esptool/bin_image.py load_segment/read_checksum): header, `count` segments of (u32 load address, u32 length,
// data), zero padding so the checksum byte sits at an offset ≡ 15 mod 16, then on ESP32 an optional SHA-256.
// Walking the segment headers gives the exact expected length, which is how a half-written file is told apart.

/** esptool's ESP_CHECKSUM_MAGIC: the XOR checksum starts from this value. */
export const CHECKSUM_SEED = 0xef;
/** esptool verify(): "Invalid segment count (max 16)"; also ESP-IDF ESP_IMAGE_MAX_SEGMENTS. */
const MAX_SEGMENTS = 16;
/** No ESP flash app or segment comes near this; a bigger length means the header is not a real one. */
const MAX_SEGMENT_LENGTH = 16 * 1024 * 1024;

export interface Segment {
  loadAddress: number;
  /** Offset of the segment data, relative to the image start. */
  dataOffset: number;
  length: number;
}

export interface SegmentWalk {
  segments: Segment[];
  /** Offset of the checksum byte, relative to the image start. */
  checksumOffset: number;
  /** Offset just past the image (past the SHA-256 when one is appended), relative to the image start. */
  end: number;
}

export type WalkResult =
  | { status: 'ok'; walk: SegmentWalk }
  /** The file stops before the structure does. `expected` is known once every segment length has been read. */
  | { status: 'truncated'; available: number; expected?: number; where: string }
  | { status: 'corrupt'; reason: string };

/**
 * Walk the segments of the image that starts at `image[0]`.
 * @param headerLength 8 (ESP8266) or 24 (ESP32 family: 8-byte header + 16-byte extended header)
 * @param hashAppended whether a 32-byte SHA-256 follows the checksum byte
 */
export function walkSegments(image: Uint8Array, headerLength: number, hashAppended: boolean): WalkResult {
  const available = image.length;
  if (available < headerLength) {
    return { status: 'truncated', available, where: 'inside the image header' };
  }
  const count = image[1];
  if (count === 0 || count > MAX_SEGMENTS) {
    return { status: 'corrupt', reason: `implausible segment count ${count}` };
  }
  const view = new DataView(image.buffer, image.byteOffset, image.byteLength);
  const segments: Segment[] = [];
  let pos = headerLength;
  for (let i = 0; i < count; i++) {
    if (pos + 8 > available) {
      return { status: 'truncated', available, where: `inside the header of segment ${i + 1} of ${count}` };
    }
    const loadAddress = view.getUint32(pos, true);
    const length = view.getUint32(pos + 4, true);
    if (length > MAX_SEGMENT_LENGTH) {
      return { status: 'corrupt', reason: `implausible length ${length} of segment ${i + 1}` };
    }
    segments.push({ loadAddress, dataOffset: pos + 8, length });
    pos += 8 + length;
  }
  // Smallest offset >= pos that is ≡ 15 mod 16 (the image start is always 16-aligned in a file).
  const checksumOffset = pos | 15;
  const end = checksumOffset + 1 + (hashAppended ? 32 : 0);
  if (end > available) {
    return { status: 'truncated', available, expected: end, where: describeCut(available, pos, checksumOffset) };
  }
  return { status: 'ok', walk: { segments, checksumOffset, end } };
}

function describeCut(available: number, dataEnd: number, checksumOffset: number): string {
  if (available < dataEnd) return 'inside the last segment';
  if (available <= checksumOffset) return 'before the checksum byte';
  return 'inside the appended sha-256';
}

/** 0xEF XOR every byte of every segment's data (esptool calculate_checksum). */
export function xorChecksum(image: Uint8Array, segments: readonly Segment[]): number {
  let acc = 0;
  for (const s of segments) {
    const end = s.dataOffset + s.length;
    let i = s.dataOffset;
    // XOR 32-bit words where possible: megabyte images are checked on every directory scan.
    const words = Math.floor((end - i) / 4);
    const aligned = (image.byteOffset + i) % 4 === 0;
    if (aligned && words > 0) {
      const w = new Uint32Array(image.buffer, image.byteOffset + i, words);
      let x = 0;
      for (let k = 0; k < w.length; k++) x ^= w[k];
      acc ^= (x ^ (x >>> 8) ^ (x >>> 16) ^ (x >>> 24)) & 0xff;
      i += words * 4;
    }
    for (; i < end; i++) acc ^= image[i];
  }
  return (CHECKSUM_SEED ^ acc) & 0xff;
}

/** The message for a truncated walk, e.g. "incomplete: 12288 of 409600 bytes". */
export function incompleteReason(r: { available: number; expected?: number; where: string }, base = 0): string {
  const have = base + r.available;
  return r.expected !== undefined
    ? `incomplete: ${have} of ${base + r.expected} bytes`
    : `incomplete: file ends at ${have} bytes, ${r.where}`;
}
