// Every device that talked to the server and what happened to its requests, folded from the server's events.
// Pure bookkeeping for the editor's Devices view (and anyone else): no I/O.

import { Emitter, type Disposable, type Event } from '../events';
import type { ChipFamily } from '../firmware/imageInfo';
import { silentLogger, type Logger } from '../log';
import type { KnownImage } from './knownImages';
import type {
  CatalogServedEvent,
  DownloadFinishedEvent,
  DownloadProgressEvent,
  DownloadStartedEvent,
  RefusedEvent,
} from '../serverEvents';

export type DownloadState = 'running' | 'done' | 'aborted' | 'not-modified' | 'refused';

export interface DownloadRecord {
  /** Server download id; absent for requests answered without a download. */
  id?: number;
  entry: string;
  state: DownloadState;
  total: number;
  sent: number;
  startedAt: number;
  endedAt?: number;
  /** HTTP status of a refusal. */
  status?: number;
  reason?: string;
}

export interface DeviceRecord {
  /** STA MAC when known, else `ip:<address>` for a device seen only through catalog requests. */
  key: string;
  mac?: string;
  family?: ChipFamily;
  remoteAddress: string;
  chipSize?: number;
  freeSpace?: number;
  sdkVersion?: string;
  sketchMd5?: string;
  sketchSha256?: string;
  /** The catalog image the device runs, matched by MD5 / SHA-256, when known. */
  running?: KnownImage;
  firstSeen: number;
  lastSeen: number;
  catalogRequests: number;
  /** Newest first, bounded. */
  downloads: DownloadRecord[];
}

export interface ServerEventSource {
  onDidServeCatalog: Event<CatalogServedEvent>;
  onDidRefuseRequest: Event<RefusedEvent>;
  onDidStartDownload: Event<DownloadStartedEvent>;
  onDidProgressDownload: Event<DownloadProgressEvent>;
  onDidFinishDownload: Event<DownloadFinishedEvent>;
}

const HISTORY = 20;

export class DeviceRegistry implements Disposable {
  private readonly devices = new Map<string, DeviceRecord>();
  private readonly byAddress = new Map<string, string>(); // remote address → device key
  private readonly running = new Map<number, DownloadRecord>();
  private readonly subscriptions: Disposable[] = [];
  private readonly changed = new Emitter<DeviceRecord | undefined>('device changed', () => this.logger);
  /** Fires with the device whose record changed, or with `undefined` when the whole list changed (cleared). */
  readonly onDidChange: Event<DeviceRecord | undefined> = this.changed.event;

  constructor(
    private readonly identify: (hash: string | undefined) => KnownImage | undefined = () => undefined,
    private readonly logger: Logger = silentLogger,
  ) {}

  /** Follows a server's events; call again for a restarted server. Returns the subscription. */
  follow(server: ServerEventSource): Disposable {
    const subscriptions = [
      server.onDidServeCatalog((e) => this.onCatalog(e)),
      server.onDidRefuseRequest((e) => this.onRefused(e)),
      server.onDidStartDownload((e) => this.onStarted(e)),
      server.onDidProgressDownload((e) => this.onProgress(e)),
      server.onDidFinishDownload((e) => this.onFinished(e)),
    ];
    this.subscriptions.push(...subscriptions);
    return { dispose: () => subscriptions.forEach((s) => s.dispose()) };
  }

  list(): DeviceRecord[] {
    return [...this.devices.values()].sort((a, b) => b.lastSeen - a.lastSeen);
  }

  get(key: string): DeviceRecord | undefined {
    return this.devices.get(key);
  }

  /** Downloads under way, across devices. */
  get activeDownloads(): number {
    return this.running.size;
  }

  /** Marks downloads still running as aborted (the server stopped). */
  abortRunning(reason: string): void {
    for (const record of this.running.values()) {
      record.state = 'aborted';
      record.reason = reason;
      record.endedAt = Date.now();
    }
    this.running.clear();
    for (const device of this.devices.values()) this.changed.fire(device);
  }

  /**
   * Forgets the devices and their history. A download still under way is real and keeps its device and its record
   * (like a browser's Clear Downloads), so its progress and outcome still show and the count of downloads in flight
   * stays true.
   */
  clear(): void {
    const live = new Set(this.running.values());
    for (const [key, device] of this.devices) {
      device.downloads = device.downloads.filter((record) => live.has(record));
      device.catalogRequests = 0;
      if (device.downloads.length === 0) this.devices.delete(key);
    }
    for (const [address, key] of this.byAddress) if (!this.devices.has(key)) this.byAddress.delete(address);
    this.changed.fire(undefined);
  }

  dispose(): void {
    this.subscriptions.forEach((s) => s.dispose());
    this.changed.dispose();
  }

  private onCatalog(event: CatalogServedEvent): void {
    const device = this.deviceFor(event.request.remoteAddress, undefined, event.at);
    if (!device.family && event.audience !== 'any') device.family = event.audience;
    device.catalogRequests++;
    this.changed.fire(device);
  }

  private onRefused(event: RefusedEvent): void {
    // A browser or a scanner is not a device; only ESP update clients and known addresses are recorded.
    if (!event.device && !this.byAddress.has(event.request.remoteAddress)) return;
    const device = this.deviceFor(event.request.remoteAddress, event.device, event.at);
    this.push(device, {
      entry: event.entry ?? event.request.target,
      state: event.status === 304 ? 'not-modified' : 'refused',
      total: 0,
      sent: 0,
      startedAt: event.at,
      endedAt: event.at,
      status: event.status,
      reason: event.reason,
    });
    this.changed.fire(device);
  }

  private onStarted(event: DownloadStartedEvent): void {
    const device = this.deviceFor(event.request.remoteAddress, event.device, event.at);
    const record: DownloadRecord = {
      id: event.id,
      entry: event.entry,
      state: 'running',
      total: event.size,
      sent: 0,
      startedAt: event.at,
    };
    this.running.set(event.id, record);
    this.push(device, record);
    this.changed.fire(device);
  }

  private onProgress(event: DownloadProgressEvent): void {
    const record = this.running.get(event.id);
    if (!record) return;
    record.sent = event.sent;
    const device = this.owner(record);
    if (device) this.changed.fire(device);
  }

  private onFinished(event: DownloadFinishedEvent): void {
    const record = this.running.get(event.id);
    this.running.delete(event.id);
    if (!record) return;
    record.state = event.outcome;
    record.sent = event.sent;
    record.endedAt = event.at;
    record.reason = event.reason;
    const device = this.owner(record);
    if (device) {
      device.lastSeen = event.at;
      this.changed.fire(device);
    }
  }

  private owner(record: DownloadRecord): DeviceRecord | undefined {
    for (const device of this.devices.values()) if (device.downloads.includes(record)) return device;
    return undefined;
  }

  private push(device: DeviceRecord, record: DownloadRecord): void {
    device.downloads.unshift(record);
    if (device.downloads.length > HISTORY) device.downloads.length = HISTORY;
  }

  private deviceFor(address: string, identity: RefusedEvent['device'], at: number): DeviceRecord {
    const key = identity?.staMac ? identity.staMac : (this.byAddress.get(address) ?? `ip:${address}`);
    let device = this.devices.get(key);
    if (!device) {
      // A device first seen by its catalog request (no MAC there) is merged when its download reveals the MAC.
      const anonymous = identity?.staMac ? this.devices.get(`ip:${address}`) : undefined;
      if (anonymous) {
        this.devices.delete(anonymous.key);
        anonymous.key = key;
        device = anonymous;
      } else {
        device = { key, remoteAddress: address, firstSeen: at, lastSeen: at, catalogRequests: 0, downloads: [] };
      }
      this.devices.set(key, device);
    }
    device.remoteAddress = address;
    device.lastSeen = at;
    this.byAddress.set(address, key);
    if (identity) {
      device.mac = identity.staMac || device.mac;
      device.family = identity.family;
      device.chipSize = identity.chipSize ?? device.chipSize;
      device.freeSpace = identity.freeSpace ?? device.freeSpace;
      device.sdkVersion = identity.sdkVersion ?? device.sdkVersion;
      device.sketchMd5 = identity.sketchMd5 ?? device.sketchMd5;
      device.sketchSha256 = identity.sketchSha256 ?? device.sketchSha256;
      device.running = this.identify(device.sketchSha256) ?? this.identify(device.sketchMd5) ?? device.running;
    }
    return device;
  }
}
