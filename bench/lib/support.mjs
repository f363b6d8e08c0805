// Access to the project's compiled test support (out/test/support, `npm run build:test`): byte-exact device
// requests and realistic firmware images, the same ones the conformance tests use.

import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const require = createRequire(import.meta.url);

export const images = () => require(join(ROOT, 'out/test/support/images.js'));
export const deviceRequests = () => require(join(ROOT, 'out/test/support/deviceRequests.js'));
export const core = () => require(join(ROOT, 'out/src/core/updateServer.js'));

/** Free space the simulated devices announce: far above any image here, so the size check never refuses. */
export const FREE_SPACE = 16 * 1024 * 1024;

/** ESP8266httpUpdate's exact download request (protocol.md §2.2), for our server. */
export function deviceDownload(target, port) {
  return deviceRequests().esp8266DownloadRequest(target, { host: `127.0.0.1:${port}`, freeSpace: FREE_SPACE });
}

/** ESP8266HTTPClient's exact catalog request (protocol.md §1.1). */
export function deviceCatalog(port) {
  return deviceRequests().esp8266CatalogRequest('.', `127.0.0.1:${port}`);
}

/** What nginx gets: a plain GET, same protocol version as the device's request it stands in for. */
export function plainGet(target, port, version = '1.0') {
  return `GET ${target} HTTP/${version}\r\nHost: 127.0.0.1:${port}\r\n${version === '1.1' ? 'Connection: keep-alive\r\n' : ''}\r\n`;
}

/** An ESP8266 Arduino application image of about `size` bytes; `seed` makes distinct builds. */
export function esp8266Image(size, seed) {
  return images().esp8266ArduinoApp({ payloadSize: size, seed });
}
