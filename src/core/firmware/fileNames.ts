// File names that build systems give to flash images that are not OTA apps (peers.md §3.6). Content decides
// first; these names are the safety net for when the content alone would pass as an app, e.g. a C3/S3
// merged image cut right after its bootloader, or a bootloader built with an app-like first segment.

import type { ImageKind } from './imageInfo';

interface NameRule {
  pattern: RegExp;
  kind: Exclude<ImageKind, 'app' | 'not-an-image'>;
  what: string;
}

const NEVER_APP: readonly NameRule[] = [
  { pattern: /(^|[._-])(merged|factory)\.bin$/, kind: 'merged', what: 'a merged/factory flash image' },
  { pattern: /\.with_bootloader\.bin$/, kind: 'merged', what: 'an image with bootloader' },
  { pattern: /(^|\.)bootloader([._-][^/]*)?\.bin$/, kind: 'bootloader', what: 'a bootloader' },
  { pattern: /(^|\.)partitions\.bin$|^partition[-_]table\.bin$/, kind: 'partition-table', what: 'a partition table' },
  { pattern: /^boot_app0\.bin$|^ota_data_initial\.bin$/, kind: 'ota-data', what: 'ota data' },
];

const FILESYSTEM = /^(littlefs|spiffs|fatfs|ffat)\.bin$/;

function baseName(fileName: string): string {
  return fileName.replace(/^.*[\\/]/, '').toLowerCase();
}

/** The rule a name matches that forbids it from being an app, if any. */
export function neverAppByName(fileName: string): { kind: NameRule['kind']; reason: string } | undefined {
  const name = baseName(fileName);
  const rule = NEVER_APP.find((r) => r.pattern.test(name));
  return rule && { kind: rule.kind, reason: `named like ${rule.what} (${name}); not offered as an app` };
}

/** littlefs.bin, spiffs.bin, fatfs.bin: taken as a filesystem when the content is no app. */
export function isFilesystemName(fileName: string): boolean {
  return FILESYSTEM.test(baseName(fileName));
}
