// What the server tells its fronts (the editor's views, the CLI's log) about devices and downloads.

import type { DeviceIdentity } from './devices/deviceRequest';
import type { Audience } from './catalog/listing';

export interface RequestSummary {
  remoteAddress: string;
  method: string;
  target: string;
  userAgent?: string;
}

export interface CatalogServedEvent {
  request: RequestSummary;
  /** Catalog-relative folder that was listed. */
  path: string;
  audience: Audience;
  /** Names offered as `bin`. */
  offered: string[];
  at: number;
}

/** A request answered without an image: refused (403/404/4xx) or 304 because the device already runs it. */
export interface RefusedEvent {
  request: RequestSummary;
  device?: DeviceIdentity;
  status: number;
  reason: string;
  /** Catalog-relative path of the entry asked for, when the target resolved to one. */
  entry?: string;
  at: number;
}

export interface DownloadStartedEvent {
  id: number;
  request: RequestSummary;
  device: DeviceIdentity;
  entry: string;
  /** Bytes this download sends: the image, or the range of it a 206 carries. */
  size: number;
  /** MD5 of the whole image. */
  md5: string;
  /** Present when the client asked for a byte range (ESP-IDF resume or partial download). */
  range?: { start: number; end: number; total: number };
  at: number;
}

export interface DownloadProgressEvent {
  id: number;
  sent: number;
  total: number;
}

export interface DownloadFinishedEvent {
  id: number;
  device: DeviceIdentity;
  entry: string;
  /** downloaded: the device closed its side after the last byte; aborted: it does not have the whole image. */
  outcome: 'downloaded' | 'aborted';
  sent: number;
  total: number;
  durationMs: number;
  /** Why it was aborted. */
  reason?: string;
  at: number;
}
