// PCRE patterns, for nginx `map`s, of the raw query values our server reads one way. The server form-decodes the
// query (URLSearchParams: `+` is a space, `%XX` a byte) and drops '' and '.' segments of `path`; each pattern accepts
// exactly the raw strings that decode (and normalise) to one value, so nginx picks the answer our server would send.

const SEPARATOR = '(?:/|%2[fF])';
const DOT = '(?:\\.|%2[eE])';
/** '', '/', './', '//', '/./', ... : what normalises away before, between and after segments. */
const FILLER = `(?:${DOT}?${SEPARATOR})*`;

/** Characters a folder or value may hold to be matched here: the device-safe name set (deviceLimits.ts). */
const MATCHABLE = /^[A-Za-z0-9._\-+~=,@()]+$/;

/** Whether a catalog folder name can be matched by a generated pattern (and written into a config unescaped). */
export function isMatchableName(name: string): boolean {
  return MATCHABLE.test(name) && name !== '.' && name !== '..';
}

/** One character as it may arrive raw: itself (unless decoding changes it) or percent-encoded in either case. */
function encodedChar(char: string): string {
  const hex = char.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0');
  const percent = `%${hex[0]}${/[A-F]/.test(hex[1]!) ? `[${hex[1]}${hex[1]!.toLowerCase()}]` : hex[1]}`;
  if (char === '.') return DOT;
  // '+' decodes to a space: a literal plus sign only arrives as %2B.
  if (char === '+') return percent;
  const literal = /[A-Za-z0-9_~=,@-]/.test(char) ? char : `\\${char}`;
  return `(?:${literal}|${percent})`;
}

/** A literal value, e.g. the `op` that must decode to `list`. */
export function encodedValuePattern(value: string): string {
  if (!isMatchableName(value)) throw new Error(`cannot match ${JSON.stringify(value)}`);
  return `^${[...value].map(encodedChar).join('')}$`;
}

/** The raw `path=` values that name the catalog folder `rel` ('' for the root, posix separators). */
export function folderPathPattern(rel: string): string {
  const segments = rel === '' ? [] : rel.split('/');
  for (const segment of segments) if (!isMatchableName(segment)) throw new Error(`cannot match folder ${rel}`);
  if (segments.length === 0) return `^${FILLER}${DOT}?$`;
  const body = segments.map((segment) => [...segment].map(encodedChar).join('')).join(`${SEPARATOR}${FILLER}`);
  return `^${FILLER}${body}(?:${SEPARATOR}${FILLER}${DOT}?)?$`;
}

// Refusals, in the order our server checks them (requestTarget.ts splitCatalogPath) after decoding.
/** A backslash: 403. */
export const BACKSLASH_PATTERN = '\\\\|%5[cC]';
/** A control character: 400 (raw ones never get past nginx's request parser). */
export const CONTROL_PATTERN = '%[01][0-9a-fA-F]|%7[fF]';
/** A `..` segment: 403. */
export const PARENT_PATTERN = `(?:^|${SEPARATOR})${DOT}${DOT}(?:${SEPARATOR}|$)`;
