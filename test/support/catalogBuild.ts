// A build as the publisher hands it to Catalog.publish: the bytes with their digests and verdict, and the target of
// a PlatformIO project `blinky`, env `d1_mini`, built at 12:<minute> on 2026-01-01.

import { createHash } from 'node:crypto';
import type { CatalogBuild } from '../../src/core/catalog/catalog';
import { analyzeImage } from '../../src/core/firmware/analyzeImage';
import { md5 } from './serverFixture';

export function blinkyBuild(bytes: Buffer, minute: number, extra: Partial<CatalogBuild> = {}): CatalogBuild {
  return {
    bytes,
    md5: md5(bytes),
    sha256: createHash('sha256').update(bytes).digest('hex'),
    info: analyzeImage(bytes, 'firmware.bin'),
    mtime: new Date(Date.UTC(2026, 0, 1, 12, minute)),
    source: '/work/blinky/.pio/build/d1_mini/firmware.bin',
    target: { key: 'pio:/work/blinky:d1_mini', project: 'blinky', environment: 'd1_mini' },
    stem: 'blinky-d1_mini',
    ext: '.bin',
    keep: 1,
    ...extra,
  };
}
