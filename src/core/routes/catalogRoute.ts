// GET /_catalog?op=list&path=P (protocol.md §1, §3.2): 403 for a missing or unknown op, 403 for a path that leaves
// the catalog, 404 for a folder that is not in it, else python's JSON with Content-Length.

import type { Catalog } from '../catalog/catalog';
import type { Listing } from '../catalog/listing';
import { catalogAudience } from '../devices/deviceRequest';
import { isTargetRefusal, splitCatalogPath } from '../http/requestTarget';
import type { ResponseHead } from '../http/response';

export type CatalogAnswer =
  | { ok: true; head: ResponseHead; body: Buffer; listing: Listing; path: string }
  | { ok: false; status: number; reason: string };

export async function answerCatalog(
  catalog: Catalog,
  query: string,
  userAgent: string | undefined,
): Promise<CatalogAnswer> {
  const params = new URLSearchParams(query);
  const op = params.get('op');
  if (op === null) return { ok: false, status: 403, reason: 'invalid catalog request (no op)' };
  if (op !== 'list') return { ok: false, status: 403, reason: `${op.slice(0, 40)}: unknown operation` };
  const rawPath = params.get('path') ?? '.';
  const split = splitCatalogPath(rawPath === '' ? '.' : rawPath);
  if (isTargetRefusal(split))
    return {
      ok: false,
      status: split.status,
      reason: `catalog path ${JSON.stringify(rawPath.slice(0, 80))}: ${split.reason}`,
    };
  const path = split.segments.join('/');
  const listing = await catalog.listing(path, catalogAudience(userAgent));
  if (!listing) return { ok: false, status: 404, reason: `no folder ${JSON.stringify(path || '.')} in the catalog` };
  const head: ResponseHead = {
    status: 200,
    headers: [
      ['Content-Type', 'application/json'],
      ['Content-Length', listing.body.length],
      ['Cache-Control', 'no-store'],
    ],
  };
  return { ok: true, head, body: listing.body, listing, path };
}
