// The images a device may be running: every complete application image the catalog has analysed (now or earlier in
// this session), by each hash a device can report for it (the file MD5, the MD5s of the ESP8266 running-image
// variants, the ESP32 appended SHA-256). Fed by the catalog's analysis events; asked by the download policy (which
// chip does the device run?) and by the device registry (which build is that?).

import type { ImageAnalysis } from '../catalog/imageStore';

/** An image the server has seen (in the catalog now or earlier), to recognise what a device runs. */
export interface KnownImage {
  name: string;
  md5: string;
  chip?: string;
  family?: string;
}

/** Hashes remembered at most; the oldest are forgotten first. */
const LIMIT = 50_000;

export class KnownImages {
  private readonly byHash = new Map<string, KnownImage>(); // md5 or sha256 (lower-case hex) → image

  /** Takes in one analysis of the catalog: complete application images only. */
  learn(analysis: ImageAnalysis): void {
    const { name, version, md5s } = analysis;
    if (version.info.kind !== 'app' || !version.info.complete) return;
    const image: KnownImage = { name, md5: version.md5, chip: version.info.chip, family: version.info.family };
    for (const md5 of md5s) this.remember(md5, image);
    if (version.info.appendedSha256) this.remember(version.info.appendedSha256, image);
    while (this.byHash.size > LIMIT) this.byHash.delete(this.byHash.keys().next().value as string);
  }

  /** What is known of an image with this MD5 or SHA-256 (lower-case hex). */
  identify(hash: string | undefined): KnownImage | undefined {
    return hash ? this.byHash.get(hash) : undefined;
  }

  private remember(hash: string, image: KnownImage): void {
    this.byHash.set(hash, image);
  }
}
