// A raw-socket HTTP client for tests: sends exactly the bytes given (as a device does; `fetch` would normalise the
// path) and parses the reply by hand, so framing errors (chunking, wrong Content-Length) are visible.

import { connect, type Socket } from 'node:net';

export interface RawResponse {
  raw: Buffer;
  statusLine: string;
  status: number;
  /** Header values by lower-case name (last wins); `headerLines` keeps them as sent. */
  headers: Map<string, string>;
  headerLines: string[];
  body: Buffer;
  /** Whether the server closed the connection after this response. */
  closed: boolean;
}

export function parseResponse(
  raw: Buffer,
  closed: boolean,
  isHead = false,
): { response: RawResponse; rest: Buffer } | undefined {
  const end = raw.indexOf('\r\n\r\n');
  if (end === -1) return undefined;
  const lines = raw.subarray(0, end).toString('latin1').split('\r\n');
  const statusLine = lines.shift() ?? '';
  const headers = new Map<string, string>();
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers.set(line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim());
  }
  const status = Number(statusLine.split(' ')[1]);
  const lengthText = headers.get('content-length');
  const bodyStart = end + 4;
  let bodyEnd: number;
  if (isHead || status === 304) bodyEnd = bodyStart;
  else if (lengthText !== undefined) bodyEnd = bodyStart + Number(lengthText);
  else if (closed) bodyEnd = raw.length;
  else return undefined;
  if (raw.length < bodyEnd) return undefined;
  return {
    response: {
      raw: raw.subarray(0, bodyEnd),
      statusLine,
      status,
      headers,
      headerLines: lines,
      body: raw.subarray(bodyStart, bodyEnd),
      closed,
    },
    rest: raw.subarray(bodyEnd),
  };
}

/** Sends `request` and resolves with the reply once the server closed the socket (or `timeoutMs` passed). */
export function rawRequest(
  port: number,
  request: string | Buffer,
  options: { timeoutMs?: number; host?: string; isHead?: boolean } = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: options.host ?? '127.0.0.1' });
    const chunks: Buffer[] = [];
    let settled = false;
    const finish = (closed: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      const raw = Buffer.concat(chunks);
      const parsed = parseResponse(raw, closed, options.isHead);
      if (parsed) resolve(parsed.response);
      else
        reject(
          Object.assign(
            new Error(
              `no complete response (${raw.length} bytes, closed=${closed}): ${JSON.stringify(raw.subarray(0, 200).toString('latin1'))}`,
            ),
            { raw },
          ),
        );
    };
    const timer = setTimeout(() => finish(false), options.timeoutMs ?? 10_000);
    socket.on('data', (chunk) => {
      chunks.push(chunk);
      // A keep-alive reply is complete without the server closing: stop reading once it is all there.
      const parsed = parseResponse(Buffer.concat(chunks), false, options.isHead);
      if (parsed && /keep-alive/i.test(parsed.response.headers.get('connection') ?? '')) finish(false);
    });
    socket.on('end', () => finish(true));
    socket.on('close', () => finish(true));
    socket.on('error', (error) => {
      if (chunks.length > 0) finish(true);
      else if (!settled) {
        settled = true;
        clearTimeout(timer);
        reject(error);
      }
    });
    socket.write(request);
  });
}

/** Sends several requests on one connection, one after the other, and returns each reply. */
export async function rawConversation(
  port: number,
  requests: Array<string | Buffer>,
  timeoutMs = 10_000,
): Promise<RawResponse[]> {
  const socket = connect({ port, host: '127.0.0.1' });
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  let buffer: Buffer = Buffer.alloc(0);
  let closed = false;
  const waiters: Array<() => void> = [];
  socket.on('data', (chunk) => {
    buffer = Buffer.concat([buffer, chunk]);
    waiters.splice(0).forEach((w) => w());
  });
  socket.on('close', () => {
    closed = true;
    waiters.splice(0).forEach((w) => w());
  });
  socket.on('error', () => undefined);
  const responses: RawResponse[] = [];
  try {
    for (const sent of requests) {
      const request = Buffer.isBuffer(sent) ? sent : Buffer.from(sent, 'latin1');
      socket.write(request);
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const parsed = parseResponse(buffer, closed, request.subarray(0, 5).toString('latin1') === 'HEAD ');
        if (parsed) {
          buffer = parsed.rest;
          responses.push(parsed.response);
          break;
        }
        if (closed || Date.now() > deadline) throw new Error(`no response to request ${responses.length + 1}`);
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 200);
        });
      }
    }
  } finally {
    socket.destroy();
  }
  return responses;
}

/**
 * A client that reads its reply at `bytesPerSecond`, like an ESP8266 writing flash over Wi-Fi; `release()` lets it
 * read the rest at full speed. Loopback buffers take megabytes, so a test that needs the server to be blocked on
 * this reader must use an image larger than that (about 12 MB is safe here).
 */
export function slowReader(
  port: number,
  request: string | Buffer,
  bytesPerSecond: number,
): {
  socket: Socket;
  done: Promise<RawResponse>;
  received: () => number;
  release: () => void;
} {
  let fullSpeed = false;
  const socket = connect({ port, host: '127.0.0.1' });
  // a small receive window so the server really feels the slow reader
  socket.setNoDelay(true);
  const chunks: Buffer[] = [];
  let count = 0;
  const done = new Promise<RawResponse>((resolve, reject) => {
    const tick = 50;
    const budgetPerTick = Math.round((bytesPerSecond * tick) / 1000);
    socket.pause();
    const interval = setInterval(() => {
      let budget = fullSpeed ? Number.MAX_SAFE_INTEGER : budgetPerTick;
      let chunk: Buffer | null;
      while (
        budget > 0 &&
        socket.readableLength >= 0 &&
        (chunk = socket.read(Math.min(budget, socket.readableLength || Math.min(budget, 65536))) as Buffer | null)
      ) {
        chunks.push(chunk);
        count += chunk.length;
        budget -= chunk.length;
      }
    }, tick);
    const end = () => {
      clearInterval(interval);
      const rest = socket.read() as Buffer | null;
      if (rest) chunks.push(rest);
      const parsed = parseResponse(Buffer.concat(chunks), true);
      if (parsed) resolve(parsed.response);
      else reject(new Error('incomplete response'));
    };
    socket.on('end', end);
    socket.on('error', (error) => {
      clearInterval(interval);
      reject(error);
    });
    // destroy() by the test ends neither with 'end' nor 'error'
    socket.on('close', () => {
      clearInterval(interval);
      reject(new Error('connection closed before the response ended'));
    });
  });
  socket.write(request);
  return { socket, done, received: () => count, release: () => (fullSpeed = true) };
}

/** Whether nothing accepts connections on 127.0.0.1:port any more. */
export function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = connect({ port, host: '127.0.0.1' });
    probe.on('connect', () => {
      probe.destroy();
      resolve(false);
    });
    probe.on('error', () => resolve(true));
  });
}
