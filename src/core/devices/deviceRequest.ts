// Reads who is asking from the headers ESP8266httpUpdate / arduino-esp32 HTTPUpdate send (protocol.md §2.2), or
// recognises ESP-IDF's own OTA client (esp_https_ota over esp_http_client), which sends no device headers at all.

import type { ChipFamily } from '../firmware/imageInfo';

export type UpdateClient = 'arduino' | 'esp-idf';

export interface DeviceIdentity {
  /** `arduino`: ESP8266httpUpdate / HTTPUpdate with their x-* headers; `esp-idf`: esp_http_client, no headers. */
  client: UpdateClient;
  family: ChipFamily;
  /** Station MAC, upper case as sent; the key devices are known by. Empty for ESP-IDF clients (none is sent). */
  staMac: string;
  apMac?: string;
  chipId?: string;
  /** Bytes free for the new sketch (ESP32: size of the next OTA partition). */
  freeSpace?: number;
  sketchSize?: number;
  /** Lower-case MD5 of the running sketch, when the core sends it. */
  sketchMd5?: string;
  /** Lower-case SHA-256 of the running app (ESP32 only). */
  sketchSha256?: string;
  /** ESP8266: real flash chip size; ESP32: configured flash size. */
  chipSize?: number;
  sdkVersion?: string;
  /**
   * 'sketch' for firmware updates; 'spiffs' (ESP8266 updateFS, ESP32 updateSpiffs), 'littlefs', 'fatfs' or
   * 'flashfs' (arduino-esp32 3.x) for filesystem updates. Lower case.
   */
  mode?: string;
  /** x-*-version: the `currentVersion` the sketch passed to update(); may be anything, of any length. */
  currentVersion?: string;
  userAgent: string;
}

export type DeviceRequestCheck = { ok: true; device: DeviceIdentity } | { ok: false; reason: string };

const UPDATE_AGENT = /^(ESP8266|ESP32)-http-Update/;

// esp_http_client's default User-Agent (DEFAULT_HTTP_USER_AGENT in esp_http_client.c); esp_https_ota keeps it.
const ESP_IDF_AGENT = /^ESP32 HTTP Client\//;

// The headers updateserver.py requires too; ESP32 cores before 2.0 send no sketch-md5, only sketch-sha256.
const REQUIRED = ['sta-mac', 'ap-mac', 'free-space', 'sketch-size', 'chip-size', 'sdk-version'] as const;
const OPTIONAL = ['chip-id', 'sketch-md5', 'sketch-sha256', 'mode', 'version'] as const;
type HeaderName = (typeof REQUIRED)[number] | (typeof OPTIONAL)[number];

/** `x-esp8266-sta-mac` and the like, made once: a polling fleet asks for them many times a second. */
const HEADER_NAMES = {
  ESP8266: headerNames('esp8266'),
  ESP32: headerNames('esp32'),
};

function headerNames(prefix: string): Record<HeaderName, string> {
  return Object.fromEntries([...REQUIRED, ...OPTIONAL].map((name) => [name, `x-${prefix}-${name}`])) as Record<
    HeaderName,
    string
  >;
}

/** Checks that a download request comes from an ESP update client and extracts its identity. */
export function readDeviceRequest(headers: ReadonlyMap<string, string>): DeviceRequestCheck {
  const userAgent = headers.get('user-agent');
  if (userAgent === undefined) return { ok: false, reason: 'no User-Agent: not an ESP update client' };
  const match = UPDATE_AGENT.exec(userAgent);
  if (!match) {
    if (ESP_IDF_AGENT.test(userAgent))
      return { ok: true, device: { client: 'esp-idf', family: 'esp32', staMac: '', userAgent } };
    return { ok: false, reason: `User-Agent "${clip(userAgent)}" is not an ESP update client` };
  }
  const arch = match[1] as 'ESP8266' | 'ESP32';
  const family: ChipFamily = arch === 'ESP8266' ? 'esp8266' : 'esp32';
  const names = HEADER_NAMES[arch];
  const get = (name: HeaderName) => headers.get(names[name]);

  const missing: HeaderName[] = REQUIRED.filter((name) => get(name) === undefined);
  if (family === 'esp8266' && get('sketch-md5') === undefined) missing.push('sketch-md5');
  if (family === 'esp32' && get('sketch-md5') === undefined && get('sketch-sha256') === undefined) {
    missing.push('sketch-md5');
  }
  if (missing.length > 0)
    return { ok: false, reason: `missing header ${missing.map((n) => `x-${arch}-${n}`).join(', ')}` };

  const device: DeviceIdentity = {
    client: 'arduino',
    family,
    staMac: (get('sta-mac') ?? '').toUpperCase(),
    apMac: get('ap-mac')?.toUpperCase(),
    chipId: get('chip-id'),
    freeSpace: toInt(get('free-space')),
    sketchSize: toInt(get('sketch-size')),
    sketchMd5: hex(get('sketch-md5'), 32),
    sketchSha256: hex(get('sketch-sha256'), 64),
    chipSize: toInt(get('chip-size')),
    sdkVersion: get('sdk-version'),
    mode: get('mode')?.toLowerCase(),
    currentVersion: get('version'),
    userAgent,
  };
  return { ok: true, device };
}

/** Which family asks for a catalog: the catalog request carries only the HTTPClient User-Agent (protocol.md §1.1). */
export function catalogAudience(userAgent: string | undefined): ChipFamily | 'any' {
  if (userAgent?.startsWith('ESP8266HTTPClient')) return 'esp8266';
  if (userAgent?.startsWith('ESP32HTTPClient')) return 'esp32';
  return 'any';
}

function toInt(value: string | undefined): number | undefined {
  if (value === undefined || !/^\s*\d+\s*$/.test(value)) return undefined;
  return Number(value);
}

const HEX = { 32: /^[0-9a-f]{32}$/, 64: /^[0-9a-f]{64}$/ };

function hex(value: string | undefined, length: 32 | 64): string | undefined {
  const trimmed = value?.trim().toLowerCase();
  return trimmed && HEX[length].test(trimmed) ? trimmed : undefined;
}

function clip(text: string): string {
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
