// Every board that sent an update request (by STA MAC), what it runs and what happened to each of its updates, folded
// from the server's events. The update lifecycle lives here:
//   refused · not-modified (304) · downloading (percent, rate over the last seconds, ETA) · downloaded (the device
//   closed its side after the last byte) · aborted (one reason, the server's) · then, at the device's next update
//   request, confirmed (it reports the new image) or rolled-back (it does not).
// No I/O: the inventory persists `toState()` and restores it.

import { Emitter, type Disposable, type Event } from '../events';
import type { ChipFamily } from '../firmware/imageInfo';
import type { Logger } from '../log';
import { silentLogger } from '../log';
import type { DeviceIdentity } from './deviceRequest';
import { requestedKind } from './updatePolicy';
import { yieldIfBusy } from '../work/loopTurn';
import {
  MAX_DEVICES,
  MAX_TWINS,
  MAX_UPDATES,
  deviceKey,
  isoMs,
  isoSeconds,
  type StoredDevice,
  type StoredRunning,
  type UpdateOutcome,
} from './deviceState';
import type {
  CatalogServedEvent,
  DownloadFinishedEvent,
  DownloadProgressEvent,
  DownloadStartedEvent,
  RefusedEvent,
} from '../serverEvents';

export type { UpdateOutcome } from './deviceState';

export interface UpdateRecord {
  /** Server download id, while the server knows it. */
  id?: number;
  /** Catalog-relative entry asked for. */
  image: string;
  /** MD5 of the image served (for a 304: of what the device runs). */
  md5?: string;
  /** When the device asked (ms since the epoch); for folded repeats, the latest time. */
  at: number;
  /** When the outcome was reached. */
  endedAt?: number;
  outcome: UpdateOutcome;
  reason?: string;
  status?: number;
  /** MD5 the device ran when it asked: what a rollback returns to. */
  from?: string;
  /** Identical answers in a row folded into this record (a polling device). */
  count?: number;
  /** A filesystem update: downloaded is as far as it goes (the board does not report its filesystem). */
  filesystem?: true;
  /** Image size, for downloads. */
  size?: number;
  /** Bytes handed to the device's connection so far. */
  sent?: number;
  /** While downloading: bytes per second over the last few seconds, and the time left at that rate. */
  rate?: number;
  etaMs?: number;
}

export interface DeviceRecord {
  /**
   * STA MAC; `<MAC>#2` (3, ...) for another board that sent this MAC with another hardware identity; or
   * `ip:<address>` for a visitor seen only through catalog requests (they carry no MAC).
   */
  key: string;
  mac?: string;
  /** Hardware identity the board sent: x-*-AP-MAC, x-ESP8266-Chip-ID. */
  apMac?: string;
  chipId?: string;
  /** This record holds a board that sent the MAC of another one (see `key`). */
  twin?: number;
  name?: string;
  family?: ChipFamily;
  /** Chip of the build it runs when known (esp32s3, ...), else its family. */
  chip?: string;
  address: string;
  firstSeen: number;
  lastSeen: number;
  chipSize?: number;
  freeSpace?: number;
  sdkVersion?: string;
  /** What it reported running at its last update request, named by the build when the build is known. */
  running?: StoredRunning;
  /** Updates held: every image is answered 304. */
  held: boolean;
  catalogRequests: number;
  /** Newest first, at most MAX_UPDATES. */
  updates: UpdateRecord[];
}

export interface ServerEventSource {
  onDidServeCatalog: Event<CatalogServedEvent>;
  onDidRefuseRequest: Event<RefusedEvent>;
  onDidStartDownload: Event<DownloadStartedEvent>;
  onDidProgressDownload: Event<DownloadProgressEvent>;
  onDidFinishDownload: Event<DownloadFinishedEvent>;
}

/** What a request says of the hardware behind it (none of it changes on a real board). */
type BoardIdentity = Pick<DeviceIdentity, 'family' | 'apMac' | 'chipId' | 'chipSize'>;

/** Names what a device reports running: the build with that MD5 / SHA-256, when one is known. */
export type RunningResolver = (md5: string | undefined, sha256: string | undefined) => StoredRunning | undefined;

/** How soon a change should reach the state file: at once (an outcome, a name) or with the next batch (last seen). */
export type Urgency = 'now' | 'later';

const MAX_VISITORS = 200;
/** The window the current download rate is measured over. */
const RATE_WINDOW_MS = 3000;
/**
 * How often a running download's rate is measured again without progress: a board that stopped reading sends no
 * progress event, and a rate kept from its last burst (the kernel's buffers filling at GB/s) would be a lie.
 */
const RATE_TICK_MS = 1000;

export class DeviceRegistry implements Disposable {
  private readonly devices = new Map<string, DeviceRecord>();
  private readonly visitors = new Map<string, DeviceRecord>(); // ip:<address> → catalog-only visitor
  private readonly byAddress = new Map<string, string>(); // remote address → MAC
  /** How many of `running` each board has: a merge keeps the record of a board with a download under way. */
  private runningOf = new WeakMap<DeviceRecord, number>();
  private readonly running = new Map<
    number,
    {
      device: DeviceRecord;
      record: UpdateRecord;
      samples: number[][];
      total: number;
      /** The request that started it (see `reports`). */
      seq: number;
    }
  >();
  /**
   * What each board reported at its latest update request, numbered: a download that ends after the board's next
   * request (its close came late, or never) is settled with what that request reported. In memory only.
   */
  private readonly reports = new WeakMap<DeviceRecord, { seq: number; md5?: string; sha256?: string }>();
  private requestSeq = 0;
  /** Boards this process saw or edited, and forgot, since the state file last held what this registry holds. */
  private readonly touchedKeys = new Set<string>();
  private readonly forgottenKeys = new Set<string>();
  private readonly subscriptions: Disposable[] = [];
  private rateTicker: NodeJS.Timeout | undefined;
  private readonly changed = new Emitter<DeviceRecord | undefined>('device changed', () => this.logger);
  private readonly recordsChanged = new Emitter<Urgency>('device records changed', () => this.logger);
  /** Fires with the device whose record changed (undefined: many or all). */
  readonly onDidChange: Event<DeviceRecord | undefined> = this.changed.event;
  /** Fires when something worth saving changed. */
  readonly onDidChangeRecords: Event<Urgency> = this.recordsChanged.event;
  private readonly logger: Logger;
  /** A confirmation or rollback happened while handling the current request (it must be saved soon). */
  private settledNow = false;

  constructor(
    private readonly resolve: RunningResolver = () => undefined,
    logger?: Logger,
  ) {
    this.logger = logger ?? silentLogger;
  }

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

  /** Boards known by their MAC, most recently seen first. */
  list(): DeviceRecord[] {
    return [...this.devices.values()].sort((a, b) => b.lastSeen - a.lastSeen);
  }

  /** Addresses seen only through catalog requests, most recent first. */
  listVisitors(): DeviceRecord[] {
    return [...this.visitors.values()].sort((a, b) => b.lastSeen - a.lastSeen);
  }

  get(key: string): DeviceRecord | undefined {
    return this.devices.get(key.toUpperCase()) ?? this.visitors.get(key);
  }

  /** Downloads under way, across devices. */
  get activeDownloads(): number {
    return this.running.size;
  }

  /**
   * Whether the updates of the board behind a request are held: the record its MAC and hardware identity lead to (a
   * board that sends another's MAC has a `<MAC>#2` record of its own, with a hold of its own).
   */
  isHeld(identity: Pick<DeviceIdentity, 'staMac' | 'family' | 'apMac' | 'chipId' | 'chipSize'>): boolean {
    if (!identity.staMac) return false;
    return this.findBoard(identity.staMac.toUpperCase(), identity)?.held ?? false;
  }

  /** Names a board (stored by MAC); an empty name removes it. */
  rename(mac: string, name: string | undefined): boolean {
    const device = this.devices.get(mac.toUpperCase());
    if (!device) return false;
    const clean =
      name
        // eslint-disable-next-line no-control-regex -- control characters are what is removed
        ?.replace(/[\u0000-\u001f\u007f]/g, ' ')
        .trim()
        .slice(0, 80) || undefined;
    if (device.name === clean) return true;
    device.name = clean;
    this.touched(device, 'now');
    return true;
  }

  /** Holds (every image answered 304) or releases a board's updates. */
  setHeld(mac: string, held: boolean): boolean {
    const device = this.devices.get(mac.toUpperCase());
    if (!device) return false;
    if (device.held === held) return true;
    device.held = held;
    this.logger.info(`${label(device)}: updates ${held ? 'held (every image is answered 304)' : 'released'}`);
    this.touched(device, 'now');
    return true;
  }

  /** Forgets a board and its history. */
  forget(mac: string): boolean {
    const device = this.devices.get(mac.toUpperCase());
    if (!device) return false;
    this.drop(device.key);
    this.forgottenKeys.add(device.key);
    this.touchedKeys.delete(device.key);
    this.changed.fire(undefined);
    this.recordsChanged.fire('now');
    return true;
  }

  /** Re-names what each board runs (after new builds became known, e.g. the catalog was indexed). */
  refreshRunning(): void {
    let any = false;
    for (const device of this.devices.values()) {
      const running = device.running;
      if (!running) continue;
      const next = this.describeRunning(running.md5, running.sha256);
      if (next && JSON.stringify(next) !== JSON.stringify(running)) {
        device.running = next;
        device.chip = next.chip ?? device.chip;
        any = true;
      }
    }
    if (any) {
      this.changed.fire(undefined);
      this.recordsChanged.fire('later');
    }
  }

  /** Marks downloads still running as aborted (the server stopped). */
  abortRunning(reason: string): void {
    for (const { device, record } of this.running.values()) {
      record.outcome = 'aborted';
      record.reason = reason;
      record.endedAt = Date.now();
      delete record.rate;
      delete record.etaMs;
      delete record.from;
      this.changed.fire(device);
    }
    if (this.running.size > 0) this.recordsChanged.fire('now');
    this.running.clear();
    this.runningOf = new WeakMap();
  }

  /**
   * Forgets the boards, visitors and their history. A download still under way is real and keeps its board and its
   * record (like a browser's Clear Downloads), so its progress and outcome still show and the count of downloads in
   * flight stays true.
   */
  clear(): void {
    const live = new Set([...this.running.values()].map((r) => r.record));
    for (const [key, device] of this.devices) {
      device.updates = device.updates.filter((record) => live.has(record));
      device.catalogRequests = 0;
      if (device.updates.length === 0) {
        this.devices.delete(key);
        this.forgottenKeys.add(key);
      } else this.touchedKeys.add(key);
    }
    for (const [key, visitor] of this.visitors) {
      visitor.updates = visitor.updates.filter((record) => live.has(record));
      if (visitor.updates.length === 0) this.visitors.delete(key);
    }
    for (const [address, key] of this.byAddress) if (!this.devices.has(key)) this.byAddress.delete(address);
    this.changed.fire(undefined);
    this.recordsChanged.fire('now');
  }

  /** Empties the registry without telling anyone (before restoring another state file). */
  clearSilently(): void {
    this.devices.clear();
    this.visitors.clear();
    this.byAddress.clear();
    this.running.clear();
    this.runningOf = new WeakMap();
  }

  /** The boards as the state file holds them. */
  toState(): StoredDevice[] {
    return this.list().map(storedOf);
  }

  /**
   * The same, a few boards per turn of the loop (1000 boards with 20 updates each are 20,000 records). Each board is
   * taken as it is when its turn comes; what changes meanwhile is touched, so it is in the next write.
   */
  async toStateInSlices(): Promise<StoredDevice[]> {
    const stored: StoredDevice[] = [];
    for (const device of this.list()) {
      await yieldIfBusy();
      stored.push(storedOf(device));
    }
    return stored;
  }

  /** Restores boards from the state file (before following a server). */
  restore(devices: readonly StoredDevice[]): void {
    for (const stored of devices) this.put(fromStored(stored));
    this.bound();
    this.changed.fire(undefined);
  }

  /**
   * Takes in what another process wrote to the state file since this one last read or wrote it (a second editor
   * window, or the CLI, on the same catalog): its records replace ours, except for the boards this process saw or
   * edited since (ours are newer) and those it forgot; boards it no longer holds, and we did not touch, go.
   */
  merge(devices: readonly StoredDevice[]): void {
    const onDisk = new Set<string>();
    for (const stored of devices) {
      const key = deviceKey(stored);
      onDisk.add(key);
      if (this.touchedKeys.has(key) || this.forgottenKeys.has(key)) continue;
      this.put(fromStored(stored));
    }
    for (const key of [...this.devices.keys()]) {
      if (!onDisk.has(key) && !this.touchedKeys.has(key)) this.drop(key);
    }
    this.bound();
    this.changed.fire(undefined);
  }

  /** The state file now holds what this registry holds: changes are counted from here. */
  markSynced(): void {
    this.touchedKeys.clear();
    this.forgottenKeys.clear();
  }

  private put(device: DeviceRecord): void {
    const old = this.devices.get(device.key);
    if (old && this.runningOf.get(old)) return; // a download under way is ours
    this.devices.set(device.key, device);
    if (device.address) this.byAddress.set(device.address, device.key);
  }

  private drop(key: string): void {
    this.devices.delete(key);
    for (const [address, owner] of this.byAddress) if (owner === key) this.byAddress.delete(address);
  }

  dispose(): void {
    clearInterval(this.rateTicker);
    this.rateTicker = undefined;
    this.subscriptions.forEach((s) => s.dispose());
    this.changed.dispose();
    this.recordsChanged.dispose();
  }

  private onCatalog(event: CatalogServedEvent): void {
    const address = event.request.remoteAddress;
    const mac = this.byAddress.get(address);
    const known = mac ? this.devices.get(mac) : undefined;
    if (known) {
      known.catalogRequests++;
      known.lastSeen = event.at;
      this.touched(known, 'later');
      return;
    }
    const visitor = this.visitorFor(address, event.audience === 'any' ? undefined : event.audience, event.at);
    visitor.catalogRequests++;
    this.changed.fire(visitor);
  }

  /** An address known without a MAC (catalog requests, ESP-IDF's OTA client): kept apart, in memory only. */
  private visitorFor(address: string, family: ChipFamily | undefined, at: number): DeviceRecord {
    const key = `ip:${address}`;
    let visitor = this.visitors.get(key);
    if (!visitor) {
      visitor = { key, address, firstSeen: at, lastSeen: at, held: false, catalogRequests: 0, updates: [] };
      this.visitors.set(key, visitor);
      if (this.visitors.size > MAX_VISITORS) this.visitors.delete(this.listVisitors().pop()!.key);
    }
    if (family) visitor.family = family;
    visitor.lastSeen = Math.max(visitor.lastSeen, at);
    return visitor;
  }

  private onRefused(event: RefusedEvent): void {
    // Browsers and scanners are not boards: only requests from an ESP update client are recorded.
    if (!event.device) return;
    const device = this.deviceFor(event.request.remoteAddress, event.device, event.at);
    const image = event.entry ?? event.request.target;
    const added =
      event.status === 304
        ? this.fold(device, {
            image,
            md5: event.device.sketchMd5,
            at: event.at,
            outcome: 'not-modified',
            reason: event.reason,
          })
        : this.fold(device, { image, at: event.at, outcome: 'refused', status: event.status, reason: event.reason });
    // A poll answered as the one before only moves times and a count: saved with the next batch.
    this.touched(device, added || this.settledNow ? 'now' : 'later');
    this.settledNow = false;
  }

  private onStarted(event: DownloadStartedEvent): void {
    const device = this.deviceFor(event.request.remoteAddress, event.device, event.at);
    const record: UpdateRecord = {
      id: event.id,
      image: event.entry,
      md5: event.md5,
      at: event.at,
      outcome: 'downloading',
      from: event.device.sketchMd5,
      size: event.size,
      sent: 0,
    };
    if (requestedKind(event.device) === 'filesystem') {
      // The sketch the board runs does not change: its next request must not read as a rollback.
      record.filesystem = true;
      delete record.from;
    }
    const seq = this.reports.get(device)?.seq ?? 0;
    this.running.set(event.id, { device, record, samples: [[event.at, 0]], total: event.size, seq });
    this.runningOf.set(device, (this.runningOf.get(device) ?? 0) + 1);
    this.rateTicker ??= setInterval(() => this.remeasure(), RATE_TICK_MS).unref();
    this.push(device, record);
    this.settledNow = false;
    this.touched(device, 'now');
  }

  private onProgress(event: DownloadProgressEvent): void {
    const live = this.running.get(event.id);
    if (!live) return;
    live.record.sent = event.sent;
    live.total = event.total;
    measureRate(live.record, live.samples, live.total, Date.now());
    this.changed.fire(live.device);
  }

  /** Measures every running download again at the current time, so a stalled board's rate falls to 0. */
  private remeasure(): void {
    if (this.running.size === 0) {
      clearInterval(this.rateTicker);
      this.rateTicker = undefined;
      return;
    }
    const now = Date.now();
    for (const live of this.running.values()) {
      const before = live.record.rate;
      measureRate(live.record, live.samples, live.total, now);
      if (live.record.rate !== before) this.changed.fire(live.device);
    }
  }

  private onFinished(event: DownloadFinishedEvent): void {
    const live = this.running.get(event.id);
    if (!live) return;
    this.stopRunning(event.id, live.device);
    const { device, record } = live;
    record.outcome = event.outcome;
    record.sent = event.sent;
    record.endedAt = event.at;
    delete record.rate;
    delete record.etaMs;
    if (event.outcome === 'aborted') {
      record.reason = event.reason;
      delete record.from;
    }
    device.lastSeen = Math.max(device.lastSeen, event.at);
    // The board asked again before this download's end was seen: what it reported then settles it now.
    const report = this.reports.get(device);
    if (record.outcome === 'downloaded' && !record.filesystem && report && report.seq > live.seq) {
      this.settleRecord(device, record, report.md5, report.sha256, event.at);
    }
    this.touched(device, 'now');
  }

  /**
   * A repeated answer (the same 304 or refusal to a polling board) updates the newest record instead of adding one.
   * Returns whether a record was added.
   */
  private fold(device: DeviceRecord, record: UpdateRecord): boolean {
    const newest = device.updates[0];
    if (
      newest &&
      newest.outcome === record.outcome &&
      newest.image === record.image &&
      newest.md5 === record.md5 &&
      newest.status === record.status &&
      newest.reason === record.reason
    ) {
      newest.count = (newest.count ?? 1) + 1;
      newest.at = record.at;
      return false;
    }
    this.push(device, record);
    return true;
  }

  private push(device: DeviceRecord, record: UpdateRecord): void {
    device.updates.unshift(record);
    if (device.updates.length > MAX_UPDATES) device.updates.length = MAX_UPDATES;
  }

  /** The record of the board behind a request, updated with what its headers say (and only its record). */
  private deviceFor(address: string, identity: DeviceIdentity, at: number): DeviceRecord {
    if (!identity.staMac) return this.visitorFor(address, identity.family, at); // ESP-IDF's client sends no MAC
    const device = this.recordFor(identity.staMac.toUpperCase(), identity, address, at);
    device.address = address;
    device.lastSeen = Math.max(device.lastSeen, at);
    this.byAddress.set(address, device.key);
    device.family = identity.family;
    device.apMac ??= identity.apMac;
    device.chipId ??= identity.chipId;
    device.chipSize = identity.chipSize ?? device.chipSize;
    device.freeSpace = identity.freeSpace ?? device.freeSpace;
    device.sdkVersion = identity.sdkVersion ?? device.sdkVersion;
    this.reports.set(device, { seq: ++this.requestSeq, md5: identity.sketchMd5, sha256: identity.sketchSha256 });
    this.settle(device, identity, at);
    // A polling board reports what it reported before: named already (refreshRunning renames it when builds change).
    const same =
      device.running !== undefined &&
      device.running.md5 === identity.sketchMd5 &&
      device.running.sha256 === identity.sketchSha256;
    const running = same ? device.running : this.describeRunning(identity.sketchMd5, identity.sketchSha256);
    device.running = running;
    device.chip =
      running?.chip ?? (device.chip && device.chip.startsWith(identity.family) ? device.chip : identity.family);
    return device;
  }

  /**
   * The record under this MAC whose hardware identity is the request's. A request that sends a known MAC with
   * another identity (another family, AP MAC, chip id or ESP8266 flash size: none of them change on a real board)
   * is another board, or one that lies: it gets a record of its own (`<MAC>#2`, ...), so it never renames, confirms,
   * rolls back or re-labels the board that has the MAC. At most MAX_TWINS records per MAC; beyond, the one seen least
   * recently is replaced.
   */
  private recordFor(mac: string, identity: DeviceIdentity, address: string, at: number): DeviceRecord {
    const found = this.findBoard(mac, identity);
    if (found) return found;
    let free: number | undefined;
    let stalest: DeviceRecord | undefined;
    for (let twin = 1; twin <= MAX_TWINS; twin++) {
      const record = this.devices.get(twin === 1 ? mac : `${mac}#${twin}`);
      if (!record) {
        free ??= twin;
        continue;
      }
      if (twin > 1 && (!stalest || record.lastSeen < stalest.lastSeen)) stalest = record;
    }
    const twin = free ?? stalest?.twin ?? MAX_TWINS;
    const key = twin === 1 ? mac : `${mac}#${twin}`;
    const device: DeviceRecord = {
      key,
      mac,
      address,
      firstSeen: at,
      lastSeen: at,
      held: false,
      catalogRequests: 0,
      updates: [],
    };
    if (twin > 1) device.twin = twin;
    const owner = this.devices.get(mac);
    if (owner) {
      this.logger.warn(
        `${mac} (${address}) sent the MAC of ${label(owner)} with another identity (${identityOf(identity)}; the board has ${identityOf(owner)}): recorded apart as ${key}`,
      );
    } else {
      // The board was seen first by its catalog requests (no MAC there): they were its own.
      const visitor = this.visitors.get(`ip:${address}`);
      if (visitor) {
        this.visitors.delete(visitor.key);
        device.catalogRequests = visitor.catalogRequests;
        device.firstSeen = visitor.firstSeen;
      }
    }
    this.devices.set(key, device);
    this.bound();
    return device;
  }

  /** The record under this MAC (upper case) whose hardware identity can be the request's, if there is one. */
  private findBoard(mac: string, identity: BoardIdentity): DeviceRecord | undefined {
    for (let twin = 1; twin <= MAX_TWINS; twin++) {
      const record = this.devices.get(twin === 1 ? mac : `${mac}#${twin}`);
      if (record && sameBoard(record, identity)) return record;
    }
    return undefined;
  }

  /** At the next request after a download: does the board run the new image (confirmed) or not (rolled-back)? */
  private settle(device: DeviceRecord, identity: DeviceIdentity, at: number): void {
    // A download whose end the server has not seen yet is not settled here: the server ends it first when this
    // request shows the board has it (it reports the new image), so it is 'downloaded' by now and settled below;
    // with any other report it waits for its own end (onFinished settles it then with this report, or it is
    // aborted with the connection's reason). One verdict, the server's, for the log and the view.
    for (const update of device.updates) {
      if (update.outcome !== 'downloaded' || update.filesystem) continue;
      this.settleRecord(device, update, identity.sketchMd5, identity.sketchSha256, at);
    }
  }

  private stopRunning(id: number, device: DeviceRecord): void {
    this.running.delete(id);
    const left = (this.runningOf.get(device) ?? 1) - 1;
    if (left > 0) this.runningOf.set(device, left);
    else this.runningOf.delete(device);
  }

  /** Whether a board that reports these hashes runs the build with this MD5. */
  private runs(md5: string | undefined, reported: { sketchMd5?: string; sketchSha256?: string }): boolean {
    if (md5 === undefined) return false;
    return reported.sketchMd5 === md5 || this.resolve(reported.sketchMd5, reported.sketchSha256)?.md5 === md5;
  }

  private settleRecord(
    device: DeviceRecord,
    update: UpdateRecord,
    reported: string | undefined,
    sha256: string | undefined,
    at: number,
  ): void {
    update.endedAt = at;
    this.settledNow = true;
    if (this.runs(update.md5, { sketchMd5: reported, sketchSha256: sha256 })) {
      update.outcome = 'confirmed';
      delete update.reason;
      this.logger.info(`${label(device)} confirmed ${update.image}: it now runs md5 ${update.md5}`);
    } else {
      update.outcome = 'rolled-back';
      update.reason =
        reported !== undefined && reported === update.from
          ? 'the device still runs the build it had before the update'
          : `the device runs another build (md5 ${reported ?? 'not reported'}), not the one it downloaded`;
      this.logger.warn(`${label(device)} rolled back after ${update.image}: ${update.reason}`);
    }
    delete update.from;
  }

  private describeRunning(md5: string | undefined, sha256: string | undefined): StoredRunning | undefined {
    if (!md5 && !sha256) return undefined;
    const known = this.resolve(md5, sha256);
    const running: StoredRunning = { ...known };
    if (md5) running.md5 = md5;
    else delete running.md5;
    if (sha256) running.sha256 = sha256;
    else delete running.sha256;
    // The build's own MD5 when the board reports another (an ESP8266 reports its flash, mode byte rewritten).
    if (known?.md5 && known.md5 !== md5) running.build = known.md5;
    return running;
  }

  private touched(device: DeviceRecord, urgency: Urgency): void {
    this.touchedKeys.add(device.key);
    this.changed.fire(device);
    this.recordsChanged.fire(urgency);
  }

  /** Oldest boards go first beyond the bound. */
  private bound(): void {
    if (this.devices.size <= MAX_DEVICES) return;
    for (const device of this.list().slice(MAX_DEVICES)) this.devices.delete(device.key);
  }
}

/** Whether a request's hardware identity can be this record's board (what the record does not know yet is no conflict). */
function sameBoard(record: DeviceRecord, identity: BoardIdentity): boolean {
  if (record.family && record.family !== identity.family) return false;
  if (record.apMac && identity.apMac && record.apMac !== identity.apMac) return false;
  if (record.chipId && identity.chipId && record.chipId !== identity.chipId) return false;
  // ESP8266: the real flash chip's size; ESP32 sends the size the build configured, which may change.
  if (identity.family === 'esp8266' && record.chipSize !== undefined && identity.chipSize !== undefined)
    return record.chipSize === identity.chipSize;
  return true;
}

function identityOf(who: Pick<DeviceRecord, 'family' | 'apMac' | 'chipId' | 'chipSize'>): string {
  const parts = [who.family ?? 'unknown family'];
  if (who.apMac) parts.push(`AP MAC ${who.apMac}`);
  if (who.chipId) parts.push(`chip id ${who.chipId}`);
  if (who.family === 'esp8266' && who.chipSize !== undefined) parts.push(`flash ${who.chipSize}`);
  return parts.join(', ');
}

function label(device: DeviceRecord): string {
  return device.name ? `${device.name} (${device.key})` : device.key;
}

/**
 * The rate over the last RATE_WINDOW_MS, sampled now with the bytes sent so far (a sample without progress counts:
 * it is what lowers the rate of a board that stopped reading), and the time left at that rate (none at rate 0).
 */
function measureRate(record: UpdateRecord, samples: number[][], total: number, now: number): void {
  const sent = record.sent ?? 0;
  samples.push([now, sent]);
  while (samples.length > 2 && now - samples[1]![0]! >= RATE_WINDOW_MS) samples.shift();
  const [t0, s0] = samples[0]!;
  const elapsed = now - t0!;
  if (elapsed <= 0) return;
  record.rate = ((sent - s0!) * 1000) / elapsed;
  record.etaMs = record.rate > 0 && total > sent ? ((total - sent) * 1000) / record.rate : undefined;
}

/** A board of the registry as the state file stores it. */
function storedOf(device: DeviceRecord): StoredDevice {
  const stored: StoredDevice = {
    mac: device.mac ?? device.key,
    lastSeen: isoSeconds(device.lastSeen),
    updates: [],
  };
  if (device.twin) stored.twin = device.twin;
  if (device.apMac) stored.apMac = device.apMac;
  if (device.chipId) stored.chipId = device.chipId;
  if (device.name) stored.name = device.name;
  if (device.family) stored.family = device.family;
  if (device.chip) stored.chip = device.chip;
  stored.address = device.address;
  stored.firstSeen = isoSeconds(device.firstSeen);
  if (device.chipSize !== undefined) stored.chipSize = device.chipSize;
  if (device.freeSpace !== undefined) stored.freeSpace = device.freeSpace;
  if (device.sdkVersion) stored.sdkVersion = device.sdkVersion;
  if (device.held) stored.held = true;
  if (device.running) stored.running = device.running;
  stored.updates = device.updates.map((u) => {
    const update: StoredDevice['updates'][number] = { image: u.image, at: isoSeconds(u.at), outcome: u.outcome };
    if (u.md5) update.md5 = u.md5;
    if (u.reason) update.reason = u.reason;
    if (u.status !== undefined && u.outcome === 'refused') update.status = u.status;
    if (u.from && (u.outcome === 'downloading' || u.outcome === 'downloaded')) update.from = u.from;
    if (u.count && u.count > 1) update.count = u.count;
    if (u.filesystem) update.filesystem = true;
    return update;
  });
  return stored;
}

/** A board as the state file stores it, back in memory. */
function fromStored(stored: StoredDevice): DeviceRecord {
  const lastSeen = isoMs(stored.lastSeen);
  const device: DeviceRecord = {
    key: deviceKey(stored),
    mac: stored.mac,
    apMac: stored.apMac,
    chipId: stored.chipId,
    twin: stored.twin,
    name: stored.name,
    family: stored.family,
    chip: stored.chip,
    address: stored.address ?? '',
    firstSeen: stored.firstSeen ? isoMs(stored.firstSeen) : lastSeen,
    lastSeen,
    chipSize: stored.chipSize,
    freeSpace: stored.freeSpace,
    sdkVersion: stored.sdkVersion,
    running: stored.running,
    held: stored.held ?? false,
    catalogRequests: 0,
    updates: stored.updates.map((u) => {
      const record: UpdateRecord = {
        image: u.image,
        md5: u.md5,
        at: isoMs(u.at),
        outcome: u.outcome,
        reason: u.reason,
        status: u.status,
        from: u.from,
        count: u.count,
      };
      if (u.filesystem) record.filesystem = true;
      if (record.outcome === 'downloading') {
        // The server went away in the middle (a crash; a clean stop records it as aborted itself).
        record.outcome = 'aborted';
        record.reason = 'the server stopped during the download';
        delete record.from;
      }
      return record;
    }),
  };
  return device;
}
