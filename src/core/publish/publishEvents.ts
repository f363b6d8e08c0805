// What publishing tells: a build published, a build skipped with the reason, a failure; and a look's outcome.

import type { ImageInfo } from '../firmware/imageInfo';
import type { Origin } from '../catalog/origins';

export interface PublishEvent {
  /** Catalog entry name, e.g. `blink-d1_mini.bin`. */
  name: string;
  md5: string;
  size: number;
  info: ImageInfo;
  origin: Origin;
  /** Key of the build target. */
  target: string;
  /** Dated name the previous build was kept under. */
  kept?: string;
  /** Old dated entries deleted by retention. */
  removed: string[];
  /** Something a person should know about this entry's history, e.g. a signed build replacing an unsigned one. */
  note?: string;
}

/** `unreadable`: not a regular file (link, FIFO, socket, device), larger than any image, or not readable. */
export type SkipCode =
  'not-an-app' | 'not-a-filesystem' | 'incomplete' | 'wrong-family' | 'bad-signature' | 'unreadable';

export interface SkipEvent {
  source: string;
  code: SkipCode;
  /** One line a person can act on, e.g. "bootloader image". */
  reason: string;
  target?: string;
  info?: ImageInfo;
}

export interface PublishErrorEvent {
  message: string;
  source?: string;
}

export type PublishOutcome =
  | { published: true; event: PublishEvent }
  | {
      published: false;
      code: SkipCode | 'unchanged' | 'older' | 'missing' | 'pending' | 'error';
      reason: string;
      name?: string;
    };

/** Why an output is looked at: a build event, an output found at start or rescan, or a person's request. */
export type LookMode = 'build' | 'existing' | 'manual';
