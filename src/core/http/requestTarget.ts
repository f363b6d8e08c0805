// Turns a raw request target into catalog-relative path segments without ever touching the file system.
// Raw semantics like updateserver.py: no percent-decoding of the path, so `%2e%2e` is a (non-existent) name, never
// a parent folder. Catalog names never contain '%', '?', '#', spaces or backslashes, so nothing valid is lost.

export interface ParsedTarget {
  /** Path segments with '' and '.' removed, e.g. `./bin//fw.bin` → ['bin', 'fw.bin']. */
  segments: string[];
  /** The raw query string without '?', or '' */
  query: string;
}

export interface TargetRefusal {
  status: 400 | 403;
  reason: string;
}

export function parseTarget(target: string): ParsedTarget | TargetRefusal {
  let rest = target;
  // absolute-form (RFC 9112 §3.2.2): http://host:port/path
  const absolute = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*/.exec(rest);
  if (absolute) rest = rest.slice(absolute[0].length) || '/';
  if (rest === '*') return { status: 400, reason: 'asterisk-form request target' };

  const hash = rest.indexOf('#');
  if (hash !== -1) rest = rest.slice(0, hash);
  const question = rest.indexOf('?');
  const query = question === -1 ? '' : rest.slice(question + 1);
  const path = question === -1 ? rest : rest.slice(0, question);
  return splitCatalogPath(path, query);
}

/** Splits a catalog-relative path (a download path or the `path` of a catalog request). */
export function splitCatalogPath(path: string, query = ''): ParsedTarget | TargetRefusal {
  if (path.includes('\\')) return { status: 403, reason: 'backslash in path' };
  if (/[\x00-\x1f\x7f]/.test(path)) return { status: 400, reason: 'control character in path' };
  const segments = path.split('/').filter((segment) => segment !== '' && segment !== '.');
  if (segments.includes('..')) return { status: 403, reason: 'path leaves the catalog (..)' };
  return { segments, query };
}

export function isTargetRefusal(value: ParsedTarget | TargetRefusal): value is TargetRefusal {
  return 'status' in value;
}
