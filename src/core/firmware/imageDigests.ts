// MD5 and SHA-256 of one file version's bytes, computed together so every consumer of a version shares one pair.

import { createHash } from 'node:crypto';

export interface Digests {
  md5: string;
  sha256: string;
}

export function digests(data: Uint8Array): Digests {
  const md5 = createHash('md5');
  const sha256 = createHash('sha256');
  // One walk over the buffer in 1 MB slices keeps both hashes' inputs in cache.
  for (let offset = 0; offset < data.length; offset += 1 << 20) {
    const slice = data.subarray(offset, Math.min(data.length, offset + (1 << 20)));
    md5.update(slice);
    sha256.update(slice);
  }
  return { md5: md5.digest('hex'), sha256: sha256.digest('hex') };
}
