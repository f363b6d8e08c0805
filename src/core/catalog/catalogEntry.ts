// One file or folder of the catalog as the server indexes it.

import type { FileVersion } from './imageStore';
import type { Origin } from './origins';

export interface CatalogEntry {
  /** Catalog-relative folder, posix separators, '' for the root. */
  dir: string;
  name: string;
  /** `dir/name` or `name`. */
  relPath: string;
  absPath: string;
  isDirectory: boolean;
  size: number;
  mtimeMs: number;
  /** Present for firmware candidates (`*.bin`, `*.bin.gz`) once analysed. */
  version?: FileVersion;
  /** Why the entry could not be read, if it could not. */
  error?: string;
  /** Where the catalog's own publish took these bytes from (absent for a file a person put here). */
  origin?: Origin;
}

/** Files worth opening: python offers only `.bin`; ESP8266 also takes gzip images. */
export function isFirmwareCandidate(name: string): boolean {
  return /\.bin(\.gz)?$/i.test(name);
}

/** A complete application image: what a device could be offered (the figure both fronts show). */
export function isCompleteApp(entry: CatalogEntry): boolean {
  return entry.version?.info.kind === 'app' && entry.version.info.complete;
}
