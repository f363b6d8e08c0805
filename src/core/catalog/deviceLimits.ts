// What an AutoConnect device can take from a catalog (protocol.md §1.3 and §2.1).

/** StaticJsonDocument<256> per array element (AUTOCONNECT_UPDATE_CATALOG_JSONBUFFER_SIZE). */
export const ENTRY_POOL_BYTES = 256;
/** The radio element's index is a uint8_t: entry 256 selects nothing and 257 flashes entry 1. */
export const MAX_BIN_ENTRIES = 255;

/**
 * Bytes an entry takes in ArduinoJson 6's pool on ESP8266/ESP32: one 16-byte slot per member, each key copied
 * with its NUL, each string value copied with its NUL (numbers live in the slot).
 */
export function entryPoolCost(entry: Record<string, string | number>): number {
  let cost = 0;
  for (const [key, value] of Object.entries(entry)) {
    cost += 16 + Buffer.byteLength(key) + 1;
    if (typeof value === 'string') cost += Buffer.byteLength(value) + 1;
  }
  return cost;
}

/**
 * Characters a device can put in its request line and a portal page can show unescaped: the name goes raw into
 * `GET <uri>/<name> HTTP/1.0` and raw into the device's HTML (protocol.md §1.2, §2.1).
 */
const SAFE_NAME = /^[A-Za-z0-9._\-+~=,@()]+$/;

/** Why a name cannot be offered to a device, or undefined when it can. */
export function unsafeNameReason(name: string): string | undefined {
  if (SAFE_NAME.test(name)) return undefined;
  const bad = [...new Set([...name].filter((c) => !SAFE_NAME.test(c)))].map((c) =>
    c === ' '
      ? 'space'
      : /[\x00-\x1f\x7f-\uffff]/.test(c)
        ? `U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`
        : `'${c}'`,
  );
  return `name has characters a device cannot request (${bad.join(', ')})`;
}
