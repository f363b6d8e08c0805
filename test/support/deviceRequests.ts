// Byte-exact requests as the ESP8266 core and arduino-esp32 send them (protocol.md §1.1, §2.2, §7).

export interface DeviceHeaderValues {
  host?: string;
  staMac?: string;
  apMac?: string;
  chipId?: string;
  freeSpace?: number;
  sketchSize?: number;
  sketchMd5?: string;
  sketchSha256?: string;
  chipSize?: number;
  sdkVersion?: string;
  mode?: string;
}

const defaults8266: Required<Omit<DeviceHeaderValues, 'sketchSha256'>> = {
  host: '192.168.1.10:8000',
  staMac: '18:FE:AA:AA:AA:AA',
  apMac: '1A:FE:AA:AA:AA:AA',
  chipId: '10066124',
  freeSpace: 671744,
  sketchSize: 373940,
  sketchMd5: 'a56f8ef78a0bebd812f62067daf1408a',
  chipSize: 4194304,
  sdkVersion: '2.2.2-dev(38a443e)',
  mode: 'sketch',
};

/** ESP8266HTTPClient catalog request (HTTP/1.1, keep-alive, Content-Length: 0), AutoConnect's default `uri`. */
export function esp8266CatalogRequest(path = '.', host = '192.168.1.10:8000'): string {
  return (
    `GET /_catalog?op=list&path=${path} HTTP/1.1\r\n` +
    `Host: ${host}\r\n` +
    'User-Agent: ESP8266HTTPClient\r\n' +
    'Accept-Encoding: identity;q=1,chunked;q=0.1,*;q=0\r\n' +
    'Connection: keep-alive\r\n' +
    'Content-Length: 0\r\n' +
    '\r\n'
  );
}

/** The old arduino-esp32 HTTPClient: other header order, Connection: close, no Content-Length. */
export function esp32CatalogRequest(path = '.', host = '192.168.1.10:8000'): string {
  return (
    `GET /_catalog?op=list&path=${path} HTTP/1.1\r\n` +
    `Host: ${host}\r\n` +
    'User-Agent: ESP32HTTPClient\r\n' +
    'Connection: close\r\n' +
    'Accept-Encoding: identity;q=1,chunked;q=0.1,*;q=0\r\n' +
    '\r\n'
  );
}

/** ESP8266httpUpdate's request (HTTP/1.0). `omit` drops headers by their suffix, e.g. 'sketch-md5'. */
export function esp8266DownloadRequest(
  target: string,
  values: DeviceHeaderValues = {},
  omit: string[] = [],
  headerCase: 'as-sent' | 'lower' | 'title' = 'as-sent',
): string {
  const v = { ...defaults8266, ...values };
  const headers: Array<[string, string]> = [
    ['Host', v.host],
    ['User-Agent', 'ESP8266-http-Update'],
    ['Connection', 'close'],
    ['x-ESP8266-Chip-ID', v.chipId],
    ['x-ESP8266-STA-MAC', v.staMac],
    ['x-ESP8266-AP-MAC', v.apMac],
    ['x-ESP8266-free-space', String(v.freeSpace)],
    ['x-ESP8266-sketch-size', String(v.sketchSize)],
    ['x-ESP8266-sketch-md5', v.sketchMd5],
    ['x-ESP8266-chip-size', String(v.chipSize)],
    ['x-ESP8266-sdk-version', v.sdkVersion],
    ['x-ESP8266-mode', v.mode],
    ['Content-Length', '0'],
  ];
  return request(target, headers, omit, headerCase);
}

/** arduino-esp32 HTTPUpdate's request (2.x core). `omit: ['sketch-md5']` gives a 1.0.x core. */
export function esp32DownloadRequest(target: string, values: DeviceHeaderValues = {}, omit: string[] = []): string {
  const v = {
    ...defaults8266,
    staMac: '24:0A:C4:00:00:01',
    apMac: '24:0A:C4:00:00:02',
    freeSpace: 1310720,
    sketchSize: 812345,
    sketchMd5: '0123456789abcdef0123456789abcdef',
    sketchSha256: '0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF',
    chipSize: 4194304,
    sdkVersion: 'v4.4.7',
    ...values,
  };
  const headers: Array<[string, string]> = [
    ['Host', v.host],
    ['User-Agent', 'ESP32-http-Update'],
    ['Connection', 'close'],
    ['Cache-Control', 'no-cache'],
    ['x-ESP32-STA-MAC', v.staMac],
    ['x-ESP32-AP-MAC', v.apMac],
    ['x-ESP32-free-space', String(v.freeSpace)],
    ['x-ESP32-sketch-size', String(v.sketchSize)],
    ['x-ESP32-sketch-md5', v.sketchMd5],
    ['x-ESP32-sketch-sha256', v.sketchSha256],
    ['x-ESP32-chip-size', String(v.chipSize)],
    ['x-ESP32-sdk-version', v.sdkVersion],
    ['x-ESP32-mode', v.mode],
  ];
  return request(target, headers, omit, 'as-sent');
}

function request(
  target: string,
  headers: Array<[string, string]>,
  omit: string[],
  headerCase: 'as-sent' | 'lower' | 'title',
): string {
  const kept = headers.filter(([name]) => !omit.some((suffix) => name.toLowerCase().endsWith(suffix.toLowerCase())));
  const cased = kept.map(([name, value]) => [
    headerCase === 'lower'
      ? name.toLowerCase()
      : headerCase === 'title'
        ? name
            .split('-')
            .map((p) => p.charAt(0).toUpperCase() + p.slice(1).toLowerCase())
            .join('-')
        : name,
    value,
  ]);
  return `GET ${target} HTTP/1.0\r\n${cased.map(([n, val]) => `${n}: ${val}\r\n`).join('')}\r\n`;
}
