// Serialises response heads. Every response carries Content-Length: devices never get a chunked body.

const reasons: Record<number, string> = {
  200: 'OK',
  206: 'Partial Content',
  304: 'Not Modified',
  400: 'Bad Request',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  413: 'Content Too Large',
  414: 'URI Too Long',
  416: 'Range Not Satisfiable',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
  505: 'HTTP Version Not Supported',
};

export const SERVER_NAME = 'AutoConnectUpdateServer';

export function statusText(status: number): string {
  return reasons[status] ?? 'Unknown';
}

export interface ResponseHead {
  status: number;
  /** Header name → value; Content-Length must be given by the caller for bodies. */
  headers: Array<[string, string | number]>;
}

export function serializeHead(version: '1.0' | '1.1', head: ResponseHead, keepAlive: boolean): Buffer {
  const lines = [`HTTP/${version} ${head.status} ${statusText(head.status)}`];
  lines.push(`Server: ${SERVER_NAME}`);
  lines.push(`Date: ${new Date().toUTCString()}`);
  for (const [name, value] of head.headers) lines.push(`${name}: ${value}`);
  lines.push(`Connection: ${keepAlive ? 'keep-alive' : 'close'}`);
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
}

/** A short text/plain error response; the body is for people with curl, the device only reads the status. */
export function textResponse(status: number, reason: string, extra: Array<[string, string | number]> = []) {
  const body = Buffer.from(`${status} ${statusText(status)}: ${reason}\n`, 'utf8');
  const headers: Array<[string, string | number]> = [
    ['Content-Type', 'text/plain; charset=utf-8'],
    ['Content-Length', body.length],
    ...extra,
  ];
  return { head: { status, headers }, body };
}
