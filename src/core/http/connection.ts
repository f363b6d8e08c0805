// One client socket: reads request heads, hands them to the router, writes replies with backpressure, and enforces
// the timeouts that free the socket of a dead or hostile client. Requests on one connection are answered in order.

import type { Socket } from 'node:net';
import { defaultHeadLimits, findHeadEnd, isHeadError, parseHead, type RequestHead } from './requestHead';
import { serializeHead, textResponse, type ResponseHead } from './response';
import { normalizeAddress } from '../net/addresses';
import type { SendScheduler, Sender } from './sendScheduler';
import { yieldIfBusy } from '../work/loopTurn';

export interface HttpRequest {
  head: RequestHead;
  remoteAddress: string;
}

export interface BodyResult {
  /** Bytes of the body handed to the kernel. */
  sent: number;
  complete: boolean;
  /** Why the body was cut short, when it was. */
  error?: string;
}

export interface Reply {
  head: ResponseHead;
  /** The body; for HEAD requests only its length is announced. Shared buffers are fine: they are never modified. */
  body?: Buffer;
  /** Called while the body is being sent (not throttled). */
  onProgress?: (sent: number) => void;
  /** Called once when the body has been handed to the kernel or the connection failed. */
  onDone?: (result: BodyResult) => void;
  /**
   * Called once when it is known whether the client has the whole response: it closed its side after the body (or,
   * on a kept-alive connection, sent its next request). Bytes with the kernel are not bytes with the device: a slow
   * ESP8266 may still be reading hundreds of KB that loopback or Wi-Fi buffers took at once.
   */
  onDelivered?: (result: DeliveryResult) => void;
  /**
   * Called when the body is with the kernel and the verdict waits for the client, with a way to settle it as
   * delivered without the close: the router saw the device's next request, which shows it has the whole body.
   */
  onAwaitingDelivery?: (conclude: (how: string) => void) => void;
}

export interface DeliveryResult {
  delivered: boolean;
  /** Bytes of the body handed to the kernel. */
  sent: number;
  /** Why the client is not known to have the whole body. */
  error?: string;
  /** How delivery was known when it was not by the client's close (or its next request on this connection). */
  how?: string;
}

export type RequestHandler = (request: HttpRequest) => Promise<Reply>;

export interface ConnectionTimeouts {
  /** A fresh or keep-alive connection with no request bytes is closed after this. */
  idleMs: number;
  /** A request head must be complete this long after its first byte (slowloris). */
  headersMs: number;
  /** A response whose bytes the client stops reading is aborted after this (ESP8266 gives up after 60 s). */
  writeStallMs: number;
}

export const defaultTimeouts: ConnectionTimeouts = { idleMs: 5_000, headersMs: 10_000, writeStallMs: 60_000 };

/**
 * Body slices adapt to the client: a fast reader drains a slice at once and gets bigger ones (fewer wake-ups), a slow
 * device (an ESP8266 writes flash at tens of KB/s) gets small ones, so its progress is reported several times a second.
 * The first slice is what a slow device takes in at once (a few of its TCP windows), so that many downloads starting
 * together cost the loop little; the scheduler's turn budget bounds every later one.
 */
const MIN_SLICE = 8 * 1024;
const MAX_SLICE = 1024 * 1024;
const FIRST_SLICE = 16 * 1024;

export interface ConnectionOptions {
  timeouts: ConnectionTimeouts;
  /** Shares write turns among all connections of the server. */
  scheduler: SendScheduler;
  onBadRequest?: (remoteAddress: string, status: number, reason: string) => void;
}

export class Connection {
  private buffer: Buffer = Buffer.alloc(0);
  private busy = false;
  /** A head waits for the next loop turn to be parsed (see onData). */
  private deferred = false;
  private clientEnded = false;
  private closed = false;
  private headersTimer: NodeJS.Timeout | undefined;
  private readonly remoteAddress: string;
  /** The socket error that ended the connection, in words (e.g. a reset by the client). */
  private socketError: string | undefined;
  /** A delivered-or-not verdict waiting for the client's close or its next request. */
  private awaitingDelivery: ((ended: boolean, error?: string, how?: string) => void) | undefined;

  constructor(
    private readonly socket: Socket,
    private readonly handler: RequestHandler,
    private readonly options: ConnectionOptions,
  ) {
    this.remoteAddress = normalizeAddress(socket.remoteAddress ?? '');
    socket.setNoDelay(true);
    socket.setTimeout(options.timeouts.idleMs);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('end', () => {
      this.clientEnded = true;
      if (!this.busy && !this.deferred) this.close();
    });
    socket.on('timeout', () => this.onTimeout());
    socket.on('error', (error: NodeJS.ErrnoException) => {
      this.socketError ??= describeSocketError(error);
      this.destroy();
    });
    socket.on('close', () => this.onClosed());
  }

  /** Whether a body has been handed over and the verdict waits for the client's close (or its next request). */
  get delivering(): boolean {
    return this.awaitingDelivery !== undefined;
  }

  /** Ends the connection now (server shutdown). */
  destroy(reason?: string): void {
    if (reason) this.socketError ??= reason;
    if (!this.socket.destroyed) this.socket.destroy();
    this.onClosed();
  }

  private onClosed(): void {
    this.closed = true;
    this.clearHeadersTimer();
    this.settleDelivery(this.clientEnded && !this.socketError, this.socketError);
  }

  private settleDelivery(delivered: boolean, error?: string, how?: string): void {
    const settle = this.awaitingDelivery;
    this.awaitingDelivery = undefined;
    settle?.(delivered, error, how);
  }

  private onData(chunk: Buffer): void {
    if (this.closed) return;
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    if (this.busy || this.deferred) {
      if (this.buffer.length > defaultHeadLimits.maxHeaderBytes * 2) this.socket.pause(); // pipelined flood
      return;
    }
    // 300 devices' requests arrive in one poll of the loop: once the turn is spent, a head waits for the next turn
    // to be parsed (parsing them all at once held the loop for 10-20 ms).
    const wait = yieldIfBusy();
    if (!wait) return this.processBuffer();
    this.deferred = true;
    void wait.then(() => {
      this.deferred = false;
      this.processBuffer();
    });
  }

  private processBuffer(): void {
    if (this.busy || this.deferred || this.closed) return;
    if (this.buffer.length === 0) {
      if (this.clientEnded) this.close();
      return;
    }
    // The client sent its next request: it has read the previous response.
    this.settleDelivery(true);
    const end = findHeadEnd(this.buffer, defaultHeadLimits);
    if (isHeadError(end)) return this.failAndClose(end.status, end.reason);
    if (end === -1) {
      if (this.clientEnded) return this.failAndClose(400, 'connection ended inside a request head');
      // A head that came whole (a device sends it in one packet) needs no deadline; one that trickles in does.
      this.headersTimer ??= setTimeout(
        () => this.failAndClose(408, 'request head not received in time'),
        this.options.timeouts.headersMs,
      );
      return;
    }
    this.clearHeadersTimer();
    const headBytes = this.buffer.subarray(0, end);
    this.buffer = this.buffer.subarray(end);
    const head = parseHead(headBytes, defaultHeadLimits);
    if (isHeadError(head)) return this.failAndClose(head.status, head.reason);
    void this.handle(head);
  }

  private async handle(head: RequestHead): Promise<void> {
    this.busy = true;
    this.socket.pause();
    let reply: Reply;
    try {
      // Many devices at once (a fleet after a reboot): their requests are handled a few per loop turn.
      await yieldIfBusy();
      reply = await this.handler({ head, remoteAddress: this.remoteAddress });
    } catch (error) {
      reply = textResponse(500, 'internal error');
      this.options.onBadRequest?.(this.remoteAddress, 500, `internal error: ${String(error)}`);
    }
    // HTTP/1.0 closes after each response; so does any request whose body we did not read.
    const keepAlive =
      head.version === '1.1' &&
      !head.hasBody &&
      !this.clientEnded &&
      !/(^|,)\s*close\s*(,|$)/i.test(head.headers.get('connection') ?? '');
    const body = head.method === 'HEAD' ? undefined : reply.body;
    const result = await this.write(serializeHead(head.version, reply.head, keepAlive), body, reply.onProgress);
    reply.onDone?.(result);
    if (reply.onDelivered) this.followDelivery(result, reply.onDelivered, reply.onAwaitingDelivery);
    this.busy = false;
    if (this.closed)
      return this.settleDelivery(result.complete && this.clientEnded && !this.socketError, this.socketError);
    if (!result.complete || !keepAlive) return this.close();
    this.socket.setTimeout(this.options.timeouts.idleMs);
    this.socket.resume();
    this.processBuffer();
  }

  private followDelivery(
    result: BodyResult,
    onDelivered: (result: DeliveryResult) => void,
    onAwaiting: Reply['onAwaitingDelivery'],
  ): void {
    if (!result.complete) {
      onDelivered({ delivered: false, sent: result.sent, error: result.error ?? this.socketError });
      return;
    }
    const awaiting = (delivered: boolean, error?: string, how?: string) =>
      onDelivered(
        delivered
          ? { delivered: true, sent: result.sent, how }
          : {
              delivered: false,
              sent: result.sent,
              error: error ?? 'the device did not close the connection after the last byte',
            },
      );
    this.awaitingDelivery = awaiting;
    onAwaiting?.((how) => {
      if (this.awaitingDelivery !== awaiting) return; // settled already
      this.settleDelivery(true, undefined, how);
      // The device has moved on: what is left of this connection is a socket nobody reads.
      this.destroy();
    });
  }

  /**
   * Writes head and body respecting backpressure, each write in a turn given by the server's send scheduler;
   * resolves when all of it is with the kernel or the socket died.
   */
  private write(head: Buffer, body: Buffer | undefined, onProgress?: (sent: number) => void): Promise<BodyResult> {
    // A head alone (a 304 to a polling board, a refusal without a body) is one small write: no turn to wait for,
    // and the idle timeout is deadline enough.
    if (!body || body.length === 0) return this.writeHeadOnly(head);
    const socket = this.socket;
    const scheduler = this.options.scheduler;
    socket.setTimeout(this.options.timeouts.writeStallMs);
    return new Promise<BodyResult>((resolve) => {
      let offset = 0;
      let headSent = false;
      let settled = false;
      const total = body?.length ?? 0;
      // Bytes still queued in the socket count as not sent (this may undercount by the head's few bytes).
      const sentSoFar = () => Math.max(0, Math.min(total, offset - socket.writableLength));
      const finish = (result: BodyResult) => {
        if (settled) return;
        settled = true;
        scheduler.cancel(sender);
        socket.off('drain', onDrain);
        socket.off('close', onClose);
        resolve(result);
      };
      const onClose = () => finish({ sent: sentSoFar(), complete: false, error: 'connection closed by the client' });
      const onLastWritten = (error: Error | null | undefined) => {
        if (error) finish({ sent: sentSoFar(), complete: false, error: error.message });
        else {
          if (total > 0) onProgress?.(total);
          finish({ sent: total, complete: true });
        }
      };
      let sliceSize = FIRST_SLICE;
      let wroteAt = 0;
      const onDrain = () => {
        if (settled) return;
        // The time the socket took to take the last slice tells a fast reader from a slow device.
        const took = performance.now() - wroteAt;
        if (took < 20) sliceSize = Math.min(MAX_SLICE, sliceSize * 2);
        else if (took > 200) sliceSize = Math.max(MIN_SLICE, sliceSize / 2);
        onProgress?.(sentSoFar());
        scheduler.request(sender);
      };
      const sender: Sender = {
        send: (max) => {
          if (settled) return { written: 0, more: false };
          if (socket.destroyed) {
            onClose();
            return { written: 0, more: false };
          }
          const n = Math.min(sliceSize, max, total - offset);
          const slice = body ? body.subarray(offset, offset + n) : Buffer.alloc(0);
          offset += n;
          const last = offset === total;
          // The head goes out with the first slice: one write, one packet for a small reply.
          const chunk = headSent ? slice : Buffer.concat([head, slice]);
          headSent = true;
          wroteAt = performance.now();
          const more = socket.write(chunk, last ? onLastWritten : undefined);
          if (last) return { written: chunk.length, more: false };
          // Taken without backpressure: the reader keeps up, so the next slice may be bigger.
          if (more) sliceSize = Math.min(MAX_SLICE, sliceSize * 2);
          else onProgress?.(sentSoFar()); // 'drain' asks for the next turn
          return { written: chunk.length, more };
        },
      };
      socket.on('close', onClose);
      socket.on('drain', onDrain);
      if (socket.destroyed) return onClose();
      scheduler.request(sender);
    });
  }

  private writeHeadOnly(head: Buffer): Promise<BodyResult> {
    return new Promise<BodyResult>((resolve) => {
      if (this.socket.destroyed) return resolve({ sent: 0, complete: false, error: 'connection closed by the client' });
      this.socket.write(head, (error) =>
        resolve(error ? { sent: 0, complete: false, error: error.message } : { sent: 0, complete: true }),
      );
    });
  }

  private onTimeout(): void {
    if (this.busy || this.closed) {
      // While writing: the client stopped reading. After our end: the client never closed its side.
      this.destroy();
      return;
    }
    if (this.buffer.length > 0) this.failAndClose(408, 'request head not received in time');
    else this.close();
  }

  private failAndClose(status: number, reason: string): void {
    this.clearHeadersTimer();
    if (this.closed) return;
    this.options.onBadRequest?.(this.remoteAddress, status, reason);
    const { head, body } = textResponse(status, reason);
    this.busy = true;
    this.socket.pause();
    this.buffer = Buffer.alloc(0);
    this.socket.end(Buffer.concat([serializeHead('1.1', head, false), body]));
    this.socket.setTimeout(this.options.timeouts.idleMs);
    this.closed = true;
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    this.clearHeadersTimer();
    this.socket.end();
    // A client that never closes its side must not keep the socket. One that has just received a body is given
    // longer: an ESP32 verifies the new image in flash before it closes.
    const linger = this.awaitingDelivery
      ? Math.max(this.options.timeouts.idleMs, 30_000)
      : this.options.timeouts.idleMs;
    this.socket.setTimeout(linger); // onTimeout destroys it
  }

  private clearHeadersTimer(): void {
    if (this.headersTimer) clearTimeout(this.headersTimer);
    this.headersTimer = undefined;
  }
}

function describeSocketError(error: NodeJS.ErrnoException): string {
  switch (error.code) {
    case 'ECONNRESET':
      return 'connection reset by the device';
    case 'EPIPE':
      return 'the device closed the connection';
    case 'ETIMEDOUT':
      return 'the connection timed out';
    default:
      return error.message;
  }
}
