// The `Range` request header, as far as an OTA client needs it (RFC 9110 §14): one byte range of one image.
// esp_https_ota resumes with `bytes=N-` and, with partial_http_download, fetches `bytes=N-M` pieces whose last
// piece may name the image length as its end (one past the last byte), so an end past the image is clamped, as
// the RFC says. Anything else (another unit, several ranges, a start past the end, garbage) is refused with 416
// rather than answered with the whole image: a client resuming at an offset would append it to what it has.

export type RangeRequest =
  { kind: 'whole' } | { kind: 'range'; start: number; end: number } | { kind: 'unsatisfiable'; reason: string };

// 15 digits stay exact in a double; no image comes near.
const SPEC = /^bytes[ \t]*=[ \t]*(\d{0,15})[ \t]*-[ \t]*(\d{0,15})[ \t]*$/i;

export function parseRange(header: string | undefined, size: number): RangeRequest {
  if (header === undefined) return { kind: 'whole' };
  const text = header.trim();
  if (text.includes(',')) return refuse('several ranges in one request are not served');
  const match = SPEC.exec(text);
  if (!match) return refuse(`malformed Range "${clip(text)}" (only bytes=N-, bytes=N-M and bytes=-N are served)`);
  const [, first, last] = match as unknown as [string, string, string];
  if (first === '') {
    if (last === '') return refuse('malformed Range "bytes=-"');
    const suffix = Number(last);
    if (suffix === 0 || size === 0) return refuse(`suffix range ${text} of a ${size}-byte image is empty`);
    return { kind: 'range', start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  if (start >= size) return refuse(`range starts at byte ${start}, the image has ${size} bytes`);
  if (last === '') return { kind: 'range', start, end: size - 1 };
  const end = Number(last);
  if (end < start) return refuse(`range ${text} ends before it starts`);
  return { kind: 'range', start, end: Math.min(end, size - 1) };
}

function refuse(reason: string): RangeRequest {
  return { kind: 'unsatisfiable', reason };
}

function clip(text: string): string {
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
