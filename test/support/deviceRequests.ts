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
  /** x-*-version: the currentVersion passed to update()/updateFS(); absent when undefined (AutoConnect). */
  version?: string;
}

const defaults8266: Required<Omit<DeviceHeaderValues, 'sketchSha256' | 'version'>> = {
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
    ...(v.version === undefined ? [] : [['x-ESP8266-version', v.version] as [string, string]]),
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
    ...(v.version === undefined ? [] : [['x-ESP32-version', v.version] as [string, string]]),
  ];
  return request(target, headers, omit, 'as-sent');
}

/**
 * arduino-esp32 3.x HTTPUpdate::handleUpdate (libraries/HTTPUpdate/src/HTTPUpdate.cpp @0bc90bb): HTTPClient's
 * Host, User-Agent, Connection, then Cache-Control, x-ESP32-BASE-MAC, the MACs, sizes, both sketch digests
 * (SHA-256 in upper case), chip size, SDK, mode (sketch | spiffs | fatfs | littlefs | flashfs) and the version
 * when update()/updateSpiffs() got one.
 */
export function esp32v3DownloadRequest(target: string, values: DeviceHeaderValues = {}): string {
  const v = {
    host: '192.168.1.10:8000',
    staMac: '24:0A:C4:00:00:01',
    apMac: '24:0A:C4:00:00:02',
    freeSpace: 1966080,
    sketchSize: 912384,
    sketchMd5: '00112233445566778899aabbccddeeff',
    sketchSha256: '00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF',
    chipSize: 4194304,
    sdkVersion: 'v5.5.1-255-g07e9bf4970',
    mode: 'sketch',
    ...values,
  };
  const headers: Array<[string, string]> = [
    ['Host', v.host],
    ['User-Agent', 'ESP32-http-Update'],
    ['Connection', 'close'],
    ['Cache-Control', 'no-cache'],
    ['x-ESP32-BASE-MAC', v.staMac],
    ['x-ESP32-STA-MAC', v.staMac],
    ['x-ESP32-AP-MAC', v.apMac],
    ['x-ESP32-free-space', String(v.freeSpace)],
    ['x-ESP32-sketch-size', String(v.sketchSize)],
    ['x-ESP32-sketch-md5', v.sketchMd5],
    ['x-ESP32-sketch-sha256', v.sketchSha256],
    ['x-ESP32-chip-size', String(v.chipSize)],
    ['x-ESP32-sdk-version', v.sdkVersion],
    ['x-ESP32-mode', v.mode],
    ...(v.version === undefined ? [] : [['x-ESP32-version', v.version] as [string, string]]),
  ];
  return request(target, headers, [], 'as-sent');
}

/**
 * ESP-IDF esp_https_ota over plain HTTP (esp_http_client.c): HTTP/1.1, the default User-Agent and Host set in
 * esp_http_client_init (":port" unless 80/443), then any header set later: esp_https_ota_begin adds
 * `Range: bytes=N-` for ota_resumption and `bytes=N-M` pieces for partial_http_download (after a HEAD that asks
 * for the length). No Content-Length on GET/HEAD, no Connection header (HTTP/1.1 keep-alive).
 */
export function espIdfOtaRequest(
  target: string,
  options: { method?: 'GET' | 'HEAD'; range?: string; host?: string } = {},
): string {
  const lines = [
    `${options.method ?? 'GET'} ${target} HTTP/1.1`,
    'User-Agent: ESP32 HTTP Client/1.0',
    `Host: ${options.host ?? '192.168.1.10:8000'}`,
  ];
  if (options.range !== undefined) lines.push(`Range: ${options.range}`);
  return `${lines.join('\r\n')}\r\n\r\n`;
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
