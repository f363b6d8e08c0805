// The catalog key: an opt-in secret folder name. With a key, the catalog is served only below `/<KEY>/`, which every
// unmodified device can use because AutoConnectUpdate takes the folder as its third argument (`uri`): it asks for
// `/_catalog?op=list&path=<KEY>` and downloads `<KEY>/<name>` (protocol.md §1.1, §2.1). Python's server and ours list
// a folder that way, so the key needs nothing on the device but the argument.

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Characters that survive AutoConnect's raw concatenation into a request line and a query string unchanged (no
 * percent-encoding there: space, `&`, `#`, `?`, `%` and `/` would corrupt the request) and are never a dot folder.
 */
const KEY_PATTERN = /^[A-Za-z0-9_-]+$/;
export const MIN_KEY_LENGTH = 8;
export const MAX_KEY_LENGTH = 64;

/** Why `key` cannot be a catalog key, or undefined when it can. */
export function catalogKeyProblem(key: string): string | undefined {
  if (key.length < MIN_KEY_LENGTH) return `a catalog key needs at least ${MIN_KEY_LENGTH} characters`;
  if (key.length > MAX_KEY_LENGTH) return `a catalog key has at most ${MAX_KEY_LENGTH} characters`;
  if (!KEY_PATTERN.test(key)) return 'a catalog key may only hold letters, digits, "-" and "_"';
  return undefined;
}

/** 128 random bits as 22 URL-safe characters. */
export function generateCatalogKey(): string {
  return randomBytes(16).toString('base64url');
}

/** What the log may say about a key: its first two characters, never the whole. */
export function maskKey(key: string): string {
  return `${key.slice(0, 2)}…`;
}

/** Compares a candidate with the key in time independent of where they differ (both are hashed to equal length). */
export class CatalogKey {
  private readonly digest: Buffer;

  constructor(readonly value: string) {
    const problem = catalogKeyProblem(value);
    if (problem) throw new Error(problem);
    this.digest = sha256(value);
  }

  matches(candidate: string | undefined): boolean {
    if (candidate === undefined) return false;
    return timingSafeEqual(this.digest, sha256(candidate));
  }
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}
