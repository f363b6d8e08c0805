// Parses the head of one HTTP/1.x request as devices really send it. Node's own parser (llhttp) answers 400 to
// request targets without a leading slash (`GET bin/fw.bin HTTP/1.0`, protocol.md §2.1), so we parse ourselves.

export interface RequestHead {
  method: string;
  /** The request target exactly as sent (latin1), e.g. `./fw.bin` or `/_catalog?op=list&path=.` */
  target: string;
  /** '1.0' or '1.1' */
  version: '1.0' | '1.1';
  /** Header values by lower-case name; repeated headers are joined with ", " (RFC 9110 §5.3). */
  headers: Map<string, string>;
  /** Whether the request announces a body (Content-Length > 0 or Transfer-Encoding). We never read bodies. */
  hasBody: boolean;
}

export interface HeadError {
  status: number;
  reason: string;
}

export interface HeadLimits {
  maxRequestLine: number;
  maxHeaderBytes: number;
  maxHeaders: number;
}

export const defaultHeadLimits: HeadLimits = { maxRequestLine: 8192, maxHeaderBytes: 16384, maxHeaders: 100 };

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// Anything a request target may not contain: controls, space, DEL. (Raw UTF-8 bytes arrive as latin1 >= 0x80.)
const BAD_TARGET_CHAR = /[\x00-\x20\x7f]/;
const BAD_VALUE_CHAR = /[\x00\r\n]/;

/**
 * Looks for the end of a request head in `buffer`. Returns the index just past the blank line, -1 when more bytes
 * are needed, or a HeadError when limits are already exceeded. Bare LF line endings are tolerated.
 */
export function findHeadEnd(buffer: Buffer, limits: HeadLimits = defaultHeadLimits): number | HeadError {
  // Skip empty lines before the request line (RFC 9112 §2.2 allows at least one).
  let start = 0;
  while (start < buffer.length && (buffer[start] === 0x0d || buffer[start] === 0x0a)) start++;
  const firstLf = buffer.indexOf(0x0a, start);
  if (firstLf === -1) {
    if (buffer.length - start > limits.maxRequestLine) return { status: 414, reason: 'request line too long' };
    return -1;
  }
  if (firstLf - start > limits.maxRequestLine) return { status: 414, reason: 'request line too long' };
  let i = firstLf;
  while (i !== -1) {
    const next = buffer[i + 1];
    if (next === 0x0a) return i + 2;
    if (next === 0x0d && buffer[i + 2] === 0x0a) return i + 3;
    if (next === undefined || (next === 0x0d && i + 2 >= buffer.length)) break;
    i = buffer.indexOf(0x0a, i + 1);
  }
  if (buffer.length - firstLf > limits.maxHeaderBytes) return { status: 431, reason: 'request headers too large' };
  return -1;
}

/** Parses a complete head (as delimited by findHeadEnd). */
export function parseHead(head: Buffer, limits: HeadLimits = defaultHeadLimits): RequestHead | HeadError {
  // One pass over the lines, without splitting the head into arrays first: a fleet of polling boards sends a few
  // hundred of these a second.
  const text = head.toString('latin1');
  let at = 0;
  /** The next line without its line ending, or undefined at the end of the text. */
  const nextLine = (): string | undefined => {
    if (at >= text.length) return undefined;
    const lf = text.indexOf('\n', at);
    const end = lf === -1 ? text.length : lf;
    const line = text.slice(at, end > at && text.charCodeAt(end - 1) === 0x0d ? end - 1 : end);
    at = end + 1;
    return line;
  };
  let requestLine = nextLine();
  while (requestLine === '') requestLine = nextLine();
  if (requestLine === undefined) return { status: 400, reason: 'empty request' };

  const parts = requestLine.split(' ');
  if (parts.length !== 3) {
    return { status: 400, reason: `malformed request line (${parts.length} parts; a space in a file name?)` };
  }
  const [method, target, protocol] = parts as [string, string, string];
  if (!TOKEN.test(method)) return { status: 400, reason: 'malformed method' };
  const versionMatch = /^HTTP\/(\d)\.(\d)$/.exec(protocol);
  if (!versionMatch) return { status: 400, reason: 'malformed protocol version' };
  if (versionMatch[1] !== '1')
    return { status: 505, reason: `HTTP/${versionMatch[1]}.${versionMatch[2]} not supported` };
  const version = versionMatch[2] === '0' ? '1.0' : '1.1';
  if (target.length === 0 || BAD_TARGET_CHAR.test(target)) return { status: 400, reason: 'malformed request target' };

  const headers = new Map<string, string>();
  let count = 0;
  // Empty lines end the head; only empty lines may follow the last header (findHeadEnd stops at the first one).
  let blank = 0;
  for (let line = nextLine(); line !== undefined; line = nextLine()) {
    if (line === '') {
      blank++;
      continue;
    }
    if (blank > 0) return { status: 400, reason: 'malformed header line' };
    if (++count > limits.maxHeaders) return { status: 431, reason: 'too many request headers' };
    const first = line.charCodeAt(0);
    if (first === 0x20 || first === 0x09) return { status: 400, reason: 'folded header line' };
    const colon = line.indexOf(':');
    if (colon <= 0) return { status: 400, reason: 'malformed header line' };
    const name = line.slice(0, colon);
    if (!TOKEN.test(name)) return { status: 400, reason: 'malformed header name' };
    const value = line.slice(colon + 1).trim();
    if (BAD_VALUE_CHAR.test(value)) return { status: 400, reason: 'malformed header value' };
    const key = name.toLowerCase();
    const previous = headers.get(key);
    // RFC 9112 §3.2: more than one Host line is a 400. Two hosts could make a proxy in front and us disagree on
    // which site was asked for; a device never sends two.
    if (key === 'host' && previous !== undefined) return { status: 400, reason: 'more than one Host header' };
    headers.set(key, previous === undefined ? value : `${previous}, ${value}`);
  }
  if (headers.get('host')?.includes(',')) return { status: 400, reason: 'more than one Host in the Host header' };

  let hasBody = headers.has('transfer-encoding');
  const contentLength = headers.get('content-length');
  if (contentLength !== undefined) {
    // Repeated lines were joined above. RFC 9110 §8.6 lets a recipient take a list of one repeated value as that
    // value; different values mean the message's framing is ambiguous (request smuggling), so it is a 400.
    const values = contentLength.split(',').map((part) => part.trim());
    if (values.some((part) => !/^\d+$/.test(part))) return { status: 400, reason: 'malformed Content-Length' };
    if (values.some((part) => Number(part) !== Number(values[0]))) {
      return { status: 400, reason: `conflicting Content-Length values (${values.join(', ')})` };
    }
    headers.set('content-length', values[0]!);
    if (Number(values[0]) > 0) hasBody = true;
  }
  return { method, target, version, headers, hasBody };
}

export function isHeadError(value: unknown): value is HeadError {
  return typeof value === 'object' && value !== null && 'status' in value && 'reason' in value;
}
