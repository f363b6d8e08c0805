// A raw-socket HTTP client that behaves like a device: it sends exactly the request bytes it is given (HTTP/1.0 with
// the ESP8266 headers for downloads), reads the reply off the socket itself, and can pace its READS like a slow
// Wi-Fi device. Pacing happens at the reader: the socket is paused whenever the device is ahead of its byte budget,
// so the kernel stops accepting data once the receive window is full and the server sees real backpressure
// (loopback buffers still absorb a few hundred KB; see bench/README.md).
//
// Reads go through `onread` into a caller-supplied buffer: no per-chunk allocation, so a full-speed client costs
// little CPU and the comparison with nginx is not a benchmark of the client.

import { connect } from 'node:net';
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';

const CRLF2 = Buffer.from('\r\n\r\n');

function parseHead(buf) {
  const lines = buf.toString('latin1').split('\r\n');
  const statusLine = lines.shift() ?? '';
  const headers = new Map();
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return { status: Number(statusLine.split(' ')[1]) || 0, headers };
}

/**
 * One request on a new connection. Options:
 *   port, host            server address (127.0.0.1)
 *   request               bytes to send
 *   rate                  body bytes per second the device reads at (0 = as fast as possible)
 *   buffer / readSize     read buffer (shared buffers are fine: chunks are consumed synchronously)
 *   hash                  MD5 of the body (to compare with x-MD5)
 *   keepBody              keep the body bytes (catalog bodies)
 *   headOnly              stop as soon as the response head is in
 *   timeoutMs             hard limit for the whole exchange
 *   deadline              performance.now() value at which to stop (throughput runs); counts as a cut, not an error
 *   onBytes(n)            called with each body chunk's size
 * Resolves (never rejects) with { ok, status, headers, contentLength, bodyBytes, md5, body, tStart, tHead, tEnd, error }.
 */
export function httpExchange(opts) {
  const { port, host = '127.0.0.1', request, rate = 0, hash = false, keepBody = false, headOnly = false } = opts;
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const buffer = opts.buffer ?? Buffer.allocUnsafe(opts.readSize ?? 16 * 1024);
  return new Promise((resolve) => {
    const tStart = performance.now();
    let tHead = NaN;
    let headBuf = null;
    let head = null;
    let bodyBytes = 0;
    let contentLength = -1;
    let md5 = hash ? createHash('md5') : null;
    const bodyParts = [];
    let done = false;
    let resumeTimer = null;
    let socket = null;

    const finish = (error, cut = false) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      clearTimeout(resumeTimer);
      const tEnd = performance.now();
      socket?.destroy();
      const complete = head !== null && contentLength >= 0 && bodyBytes === contentLength;
      resolve({
        ok: !error && (headOnly ? head !== null : complete),
        cut,
        status: head?.status ?? 0,
        headers: head?.headers ?? new Map(),
        contentLength,
        bodyBytes,
        md5: md5 && complete ? md5.digest('hex') : undefined,
        body: keepBody ? Buffer.concat(bodyParts) : undefined,
        tStart,
        tHead,
        tEnd,
        error,
      });
    };
    const timer = setTimeout(() => finish(`timeout after ${timeoutMs} ms (${bodyBytes} body bytes)`), timeoutMs);

    const onBody = (chunk) => {
      bodyBytes += chunk.length;
      if (md5) md5.update(chunk);
      if (keepBody) bodyParts.push(Buffer.from(chunk));
      opts.onBytes?.(chunk.length);
    };

    const onread = (n, buf) => {
      if (done) return false;
      let chunk = buf.subarray(0, n);
      if (head === null) {
        headBuf = headBuf ? Buffer.concat([headBuf, chunk]) : Buffer.from(chunk);
        const end = headBuf.indexOf(CRLF2);
        if (end === -1) {
          if (headBuf.length > 64 * 1024) finish('response head too large');
          return true;
        }
        tHead = performance.now();
        head = parseHead(headBuf.subarray(0, end));
        const cl = head.headers.get('content-length');
        contentLength = cl === undefined ? -1 : Number(cl);
        chunk = headBuf.subarray(end + 4);
        headBuf = null;
        if (headOnly) {
          finish(undefined);
          return false;
        }
      }
      if (chunk.length) onBody(chunk);
      if (contentLength >= 0 && bodyBytes >= contentLength) {
        finish(
          bodyBytes > contentLength ? `body longer than Content-Length (${bodyBytes} > ${contentLength})` : undefined,
        );
        return false;
      }
      if (opts.deadline !== undefined && performance.now() >= opts.deadline) {
        finish(undefined, true);
        return false;
      }
      if (rate > 0) {
        // The device has read `bodyBytes` since the head arrived; it may not be ahead of rate × elapsed.
        const due = tHead + (bodyBytes / rate) * 1000;
        const wait = due - performance.now();
        if (wait > 1) {
          resumeTimer = setTimeout(() => {
            resumeTimer = null;
            if (!done) socket.resume();
          }, wait);
          return false; // pauses the socket: nothing more is read from the kernel until resume()
        }
      }
      return true;
    };

    socket = connect({ port, host, onread: { buffer, callback: onread } });
    socket.setNoDelay(true);
    socket.on('connect', () => socket.write(request));
    socket.on('error', (error) => finish(error.code ?? error.message));
    socket.on('end', () => {
      if (head === null) finish('connection closed before a response head');
      else if (contentLength < 0) {
        contentLength = bodyBytes; // close-delimited body
        finish(undefined);
      } else
        finish(
          bodyBytes < contentLength ? `connection closed after ${bodyBytes} of ${contentLength} body bytes` : undefined,
        );
    });
    socket.on('close', () =>
      finish(
        head === null
          ? 'connection closed before a response head'
          : bodyBytes < contentLength
            ? 'connection closed early'
            : undefined,
      ),
    );
  });
}
