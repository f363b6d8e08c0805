// Composition of the core: a tolerant HTTP front on a real socket, the catalog index, the device policy and the
// events the editor and the CLI show. No settings, no UI: plain options in, events and errors out.

import { createServer, type Server, type Socket } from 'node:net';
import { CatalogError } from './catalog/catalogStore';
import { Catalog } from './catalog/catalog';
import { Emitter, type Event } from './events';
import { chipDisplayName } from './firmware/chips';
import { Connection, defaultTimeouts, type ConnectionTimeouts, type HttpRequest, type Reply } from './http/connection';
import { isTargetRefusal, parseTarget } from './http/requestTarget';
import { SendScheduler } from './http/sendScheduler';
import { serializeHead, textResponse } from './http/response';
import { silentLogger, type Logger } from './log';
import { formatBytes, formatDuration, formatRateOf } from './units';
import { ClientFilter } from './net/addresses';
import { KeyGate } from './access/keyGate';
import type { MissLimiterOptions } from './access/missLimiter';
import { answerCatalog } from './routes/catalogRoute';
import { answerDownload, type DownloadAnswer } from './routes/downloadRoute';
import { readDeviceRequest, type DeviceIdentity } from './devices/deviceRequest';
import type {
  CatalogServedEvent,
  DownloadFinishedEvent,
  DownloadProgressEvent,
  DownloadStartedEvent,
  RefusedEvent,
  RequestSummary,
} from './serverEvents';
import type { CatalogChange } from './catalog/catalogStore';
import { KnownImages } from './devices/knownImages';
import { DownloadsAwaitingClose } from './devices/awaitingClose';
import type { Disposable } from './events';

export interface UpdateServerOptions {
  catalogDir: string;
  /**
   * The catalog to serve (its folder is `catalogDir`), kept by whoever made it: it stays open and watched after
   * stop(). Without one, the server makes its own of `catalogDir` and closes it on stop().
   */
  catalog?: Catalog;
  /** 8000, AutoConnectUpdate's default. 0 picks a free port (tests). */
  port?: number;
  /** Address to bind; all IPv4 interfaces by default. */
  host?: string;
  /** CIDR ranges admitted besides loopback, private, link-local and unique-local addresses. */
  allow?: readonly string[];
  /** Answer 304 when a device already runs the image it asks for (default on). */
  answerNotModified?: boolean;
  logger?: Logger;
  /** Follow the catalog folder with a file watcher (default on). */
  watchCatalog?: boolean;
  timeouts?: Partial<ConnectionTimeouts>;
  /** Bytes of application images kept in memory for serving. */
  cacheBytes?: number;
  /** Least time between two progress events of one download. */
  progressIntervalMs?: number;
  /** What devices may be running, learnt from the catalog; pass one to keep it across servers. */
  knownImages?: KnownImages;
  /** Serve the catalog only below the folder `/<catalogKey>/` (see access/catalogKey.ts); everything else is 404. */
  catalogKey?: string;
  /** Rate limit of requests outside the key folder (tests). */
  keyMissLimits?: Partial<MissLimiterOptions>;
  /** Boards whose updates are held (by the record their MAC and hardware lead to): every image is answered 304. */
  isHeld?: (device: DeviceIdentity) => boolean;
}

export type ServerErrorCode = 'EADDRINUSE' | 'EACCES' | 'EADDRNOTAVAIL' | 'CATALOG' | 'BADOPTION' | 'OTHER';

/** Why the server could not start, in words a person can act on. */
export class ServerStartError extends Error {
  constructor(
    message: string,
    readonly code: ServerErrorCode,
    readonly port?: number,
  ) {
    super(message);
  }
}

export class UpdateServer {
  readonly catalog: Catalog;
  /** What devices may be running, fed by the catalog's analyses. */
  readonly knownImages: KnownImages;
  /** Whether the catalog is this server's own (made from catalogDir, closed on stop). */
  private readonly ownsCatalog: boolean;
  private readonly learning: Disposable | undefined;
  private readonly server: Server;
  private readonly connections = new Set<Connection>();
  /** Every response's socket writes, bounded per loop turn across all connections. */
  private readonly sends = new SendScheduler();
  private nextDownloadId = 1;
  /** When each (client, note) was last logged: an ESP-IDF partial download asks for many pieces, one note does. */
  private readonly notedAt = new Map<string, number>();
  private readonly active = new Map<number, DownloadStartedEvent>();
  /** Downloads the kernel has whole, waiting for the device's close: its next request may settle them. */
  private readonly awaitingClose: DownloadsAwaitingClose;
  private boundPort = 0;
  private stopping: Promise<void> | undefined;
  private ready: Promise<void> = Promise.resolve();

  private readonly catalogServed = new Emitter<CatalogServedEvent>('catalog served', () => this.logger);
  private readonly refused = new Emitter<RefusedEvent>('request refused', () => this.logger);
  private readonly started = new Emitter<DownloadStartedEvent>('download started', () => this.logger);
  private readonly progressed = new Emitter<DownloadProgressEvent>('download progressed', () => this.logger);
  private readonly finished = new Emitter<DownloadFinishedEvent>('download finished', () => this.logger);
  readonly onDidServeCatalog: Event<CatalogServedEvent> = this.catalogServed.event;
  readonly onDidRefuseRequest: Event<RefusedEvent> = this.refused.event;
  readonly onDidStartDownload: Event<DownloadStartedEvent> = this.started.event;
  readonly onDidProgressDownload: Event<DownloadProgressEvent> = this.progressed.event;
  readonly onDidFinishDownload: Event<DownloadFinishedEvent> = this.finished.event;
  readonly onDidChangeCatalog: Event<CatalogChange>;

  private readonly logger: Logger;
  private readonly filter: ClientFilter;
  private readonly timeouts: ConnectionTimeouts;
  /** Present when the catalog is served below a key folder. */
  private readonly gate: KeyGate | undefined;

  private constructor(private readonly options: UpdateServerOptions) {
    this.logger = options.logger ?? silentLogger;
    try {
      this.filter = new ClientFilter(options.allow ?? []);
      this.gate = options.catalogKey ? new KeyGate(options.catalogKey, options.keyMissLimits) : undefined;
    } catch (error) {
      throw new ServerStartError((error as Error).message, 'BADOPTION');
    }
    this.timeouts = { ...defaultTimeouts, ...options.timeouts };
    this.ownsCatalog = !options.catalog;
    this.catalog =
      options.catalog ??
      new Catalog({
        root: options.catalogDir,
        logger: this.logger,
        watch: options.watchCatalog,
        cacheBytes: options.cacheBytes,
      });
    this.onDidChangeCatalog = this.catalog.onDidChange;
    this.knownImages = options.knownImages ?? new KnownImages();
    this.awaitingClose = new DownloadsAwaitingClose(this.knownImages);
    // A catalog handed in is followed by whoever made it (it analyses while no server runs, too).
    this.learning = this.ownsCatalog
      ? this.catalog.onDidAnalyzeImage((analysis) => this.knownImages.learn(analysis))
      : undefined;
    // allowHalfOpen: a client may shut its sending side after the request and still read the whole response.
    this.server = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => this.accept(socket));
  }

  /** Indexes the catalog and listens. Rejects with a ServerStartError. */
  static async start(options: UpdateServerOptions): Promise<UpdateServer> {
    const server = new UpdateServer(options);
    // Listen first: a port in use is the commonest failure and should not wait for the catalog scan.
    // Requests that arrive meanwhile wait for the index (route() awaits `ready`).
    await server.listen();
    server.ready = server.catalog.require();
    try {
      await server.ready;
    } catch (error) {
      await server.stop();
      if (error instanceof CatalogError) throw new ServerStartError(error.message, 'CATALOG');
      throw error;
    }
    return server;
  }

  get port(): number {
    return this.boundPort;
  }

  get host(): string {
    return this.options.host ?? '0.0.0.0';
  }

  /** Whether the catalog is served only below a key folder. */
  get keyed(): boolean {
    return this.gate !== undefined;
  }

  /** Client addresses whose key misses are remembered (bounded; 0 without a key). */
  get keyMissClients(): number {
    return this.gate?.rememberedClients ?? 0;
  }

  /** Downloads under way right now. */
  get activeDownloads(): readonly DownloadStartedEvent[] {
    return [...this.active.values()];
  }

  /** Stops listening, ends every connection (aborting downloads in flight), and closes the catalog if it is the server's own. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
      // A device that has the whole body is closing its side right now: a moment to hear it, so its download is
      // recorded as downloaded, not aborted by the stop.
      const deadline = Date.now() + 500;
      while ([...this.connections].some((c) => c.delivering) && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 10));
      for (const connection of this.connections) connection.destroy('the server stopped');
      this.sends.dispose();
      await closed;
      if (this.ownsCatalog) await this.catalog.dispose();
      this.learning?.dispose();
      for (const emitter of [this.catalogServed, this.refused, this.started, this.progressed, this.finished])
        emitter.dispose();
    })();
    return this.stopping;
  }

  private listen(): Promise<void> {
    const port = this.options.port ?? 8000;
    const host = this.host;
    return new Promise<void>((resolve, reject) => {
      const onError = (error: NodeJS.ErrnoException) => {
        this.server.off('listening', onListening);
        reject(listenError(error, host, port));
      };
      const onListening = () => {
        this.server.off('error', onError);
        const address = this.server.address();
        this.boundPort = typeof address === 'object' && address ? address.port : port;
        this.server.on('error', (error) => this.logger.error(`server socket: ${error.message}`));
        resolve();
      };
      this.server.once('error', onError);
      this.server.once('listening', onListening);
      this.server.listen({ port, host, exclusive: true });
    });
  }

  private accept(socket: Socket): void {
    const remote = socket.remoteAddress ?? '';
    if (this.stopping) {
      socket.destroy();
      return;
    }
    if (!this.filter.allows(remote)) {
      this.logger.warn(`refused ${remote}: not a local network address (admit it with --allow / the allow setting)`);
      const { head, body } = textResponse(403, 'clients outside the local network are not served');
      socket.on('error', () => socket.destroy());
      socket.end(Buffer.concat([serializeHead('1.0', head, false), body]));
      socket.setTimeout(2000, () => socket.destroy());
      return;
    }
    const connection = new Connection(socket, (request) => this.route(request), {
      timeouts: this.timeouts,
      scheduler: this.sends,
      onBadRequest: (address, status, reason) => this.logger.warn(`${address}: ${status} ${reason}`),
    });
    this.connections.add(connection);
    socket.on('close', () => this.connections.delete(connection));
  }

  private async route(request: HttpRequest): Promise<Reply> {
    await this.ready;
    const { head } = request;
    const shown = this.gate ? this.gate.redact(head.target) : head.target;
    const summary: RequestSummary = {
      remoteAddress: request.remoteAddress,
      method: head.method,
      target: shown.length > 200 ? `${shown.slice(0, 200)}...` : shown,
      userAgent: head.headers.get('user-agent'),
    };
    let target = parseTarget(head.target);
    if (this.gate) {
      // Before anything else: outside the key folder no method, path or header earns another answer than 404.
      const decision = this.gate.pass(summary.remoteAddress, target, `${summary.method} ${summary.target}`);
      if (decision.log) this.logger.warn(decision.log);
      if (!decision.target) return this.outsideKeyFolder(summary, head.headers, decision.log !== undefined);
      target = decision.target;
    }
    if (head.method !== 'GET' && head.method !== 'HEAD') {
      return this.refuse(summary, 405, `method ${head.method} not allowed`, [['Allow', 'GET, HEAD']]);
    }
    if (isTargetRefusal(target)) return this.refuse(summary, target.status, target.reason);
    if (target.segments.length === 1 && target.segments[0] === '_catalog') {
      const answer = await answerCatalog(this.catalog, target.query, summary.userAgent);
      if (!answer.ok) return this.refuse(summary, answer.status, answer.reason);
      const offered = answer.listing.entries.filter((e) => e.type === 'bin').map((e) => e.name);
      this.logger.info(
        `${summary.remoteAddress} ${summary.method} ${summary.target} 200: ${offered.length} image(s) for ${answer.listing.audience === 'any' ? 'any chip' : chipDisplayName(answer.listing.audience)}`,
      );
      this.catalogServed.fire({
        request: summary,
        path: answer.path,
        audience: answer.listing.audience,
        offered,
        at: Date.now(),
      });
      return { head: answer.head, body: answer.body };
    }

    const answer = await answerDownload(this.catalog, this.knownImages, target.segments, head.headers, {
      answerNotModified: this.options.answerNotModified ?? true,
      isHeld: this.options.isHeld,
    });
    // Before this request is told: a download it shows to be over ends first, so the order of events is the board's.
    if (answer.device) this.awaitingClose.settleFor(answer.device);
    if (answer.kind === 'refuse') {
      return this.refuse(
        summary,
        answer.status,
        answer.reason,
        answer.extraHeaders,
        answer.device,
        answer.entry,
        answer.head,
      );
    }
    for (const note of answer.notes) this.note(`${who(summary, answer.device.staMac)} ${note}`);
    if (head.method === 'HEAD') {
      this.logger.info(`${who(summary, answer.device.staMac)} HEAD ${answer.entry} ${answer.head.status}`);
      return { head: answer.head };
    }
    return this.download(summary, answer);
  }

  private download(summary: RequestSummary, answer: Extract<DownloadAnswer, { kind: 'serve' }>): Reply {
    const { device, entry, md5, head, body, range } = answer;
    const id = this.nextDownloadId++;
    const startedAt = Date.now();
    const start: DownloadStartedEvent = {
      id,
      request: summary,
      device,
      entry,
      size: body.length,
      md5,
      range,
      at: startedAt,
    };
    this.active.set(id, start);
    const part = range ? `bytes ${range.start}-${range.end} of ${range.total} (206)` : `${body.length} bytes`;
    this.logger.info(`download #${id} ${entry} to ${who(summary, device.staMac)} started: ${part}, md5 ${md5}`);
    this.started.fire(start);
    const interval = this.options.progressIntervalMs ?? 250;
    let lastProgress = 0;
    let handedOverAt: number | undefined;
    return {
      head,
      body,
      onProgress: (sent) => {
        const now = Date.now();
        if (now - lastProgress < interval && sent < body.length) return;
        lastProgress = now;
        this.progressed.fire({ id, sent, total: body.length });
      },
      onDone: (result) => {
        // The kernel has the body (or the connection failed); the verdict waits for the device, in onDelivered.
        handedOverAt = Date.now();
        if (!result.complete) handedOverAt = undefined;
      },
      onAwaitingDelivery: (conclude) => this.awaitingClose.add(id, device, md5, conclude),
      onDelivered: (result) => {
        this.active.delete(id);
        this.awaitingClose.remove(id, device.staMac);
        const now = Date.now();
        const durationMs = now - startedAt;
        const to = `download #${id} ${entry} to ${who(summary, device.staMac)}`;
        if (result.delivered) {
          const waited = handedOverAt !== undefined ? now - handedOverAt : 0;
          this.logger.info(
            `${to} downloaded: ${formatBytes(body.length)} in ${formatDuration(durationMs)} (${formatRateOf(body.length, durationMs) || 'instant'})` +
              (result.how
                ? `; ${result.how}`
                : waited >= 1000
                  ? `; the device read the last ${formatDuration(waited)} after the kernel took it`
                  : ''),
          );
        } else {
          this.logger.warn(
            `${to} aborted after ${formatBytes(result.sent)} of ${formatBytes(body.length)}: ${result.error ?? 'connection lost'}`,
          );
        }
        this.finished.fire({
          id,
          device,
          entry,
          outcome: result.delivered ? 'downloaded' : 'aborted',
          sent: result.sent,
          total: body.length,
          durationMs,
          reason: result.delivered ? undefined : (result.error ?? 'connection lost'),
          at: now,
        });
      },
    };
  }

  /**
   * 404 with a body that says nothing about keys. Logged by the gate (once per client, bounded); a device is told
   * to the views only along with such a line, so a scan cannot flood them either.
   */
  private outsideKeyFolder(summary: RequestSummary, headers: ReadonlyMap<string, string>, logged: boolean): Reply {
    if (logged) {
      const device = readDeviceRequest(headers);
      this.refused.fire({
        request: summary,
        device: device.ok ? device.device : undefined,
        status: 404,
        reason: 'outside the catalog key folder (a missing or wrong key)',
        at: Date.now(),
      });
    }
    return textResponse(404, 'not found');
  }

  /** Logs a fact about a client once per ten minutes, however many requests it makes. */
  private note(line: string): void {
    const now = Date.now();
    const last = this.notedAt.get(line);
    if (last !== undefined && now - last < NOTE_INTERVAL_MS) return;
    this.notedAt.delete(line);
    this.notedAt.set(line, now);
    if (this.notedAt.size > 1000) this.notedAt.delete(this.notedAt.keys().next().value as string);
    this.logger.info(line);
  }

  private refuse(
    summary: RequestSummary,
    status: number,
    reason: string,
    extra: Array<[string, string | number]> = [],
    device?: RefusedEvent['device'],
    entry?: string,
    head?: Reply['head'],
  ): Reply {
    const line = `${who(summary, device?.staMac)} ${summary.method} ${summary.target} ${status}: ${reason}`;
    if (status === 304) this.logger.info(line);
    else this.logger.warn(line);
    this.refused.fire({ request: summary, device, status, reason, entry, at: Date.now() });
    if (head) return { head };
    return textResponse(status, reason, extra);
  }
}

const NOTE_INTERVAL_MS = 10 * 60_000;

function who(summary: RequestSummary, mac: string | undefined): string {
  return mac ? `${mac} (${summary.remoteAddress})` : summary.remoteAddress;
}

function listenError(error: NodeJS.ErrnoException, host: string, port: number): ServerStartError {
  switch (error.code) {
    case 'EADDRINUSE':
      return new ServerStartError(
        `port ${port} is already in use on ${host}; stop the other server or choose another port`,
        'EADDRINUSE',
        port,
      );
    case 'EACCES':
      return new ServerStartError(
        `no permission to listen on port ${port} (ports below 1024 need privileges)`,
        'EACCES',
        port,
      );
    case 'EADDRNOTAVAIL':
      return new ServerStartError(
        `address ${host} does not belong to this machine; choose another bind address`,
        'EADDRNOTAVAIL',
        port,
      );
    default:
      return new ServerStartError(`cannot listen on ${host}:${port}: ${error.message}`, 'OTHER', port);
  }
}
