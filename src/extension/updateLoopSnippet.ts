// The sketch code that makes a board fetch each new build by itself: ESP8266httpUpdate / arduino-esp32 HTTPUpdate
// called from loop() every few seconds; the server answers 304 (no file read) until a new build is published.
// Plain text, no vscode import, so it is unit-testable.

export interface UpdateLoopTarget {
  /** Catalog-relative entry; a dated copy is mapped to the stable latest name its builds are published under. */
  entry: string;
  family: 'esp8266' | 'esp32';
  /** host:port devices reach the server at. */
  address: string;
  /** Seconds between two polls. */
  pollSeconds?: number;
}

/** `blinky-d1_mini-20261201-114700.bin` → `blinky-d1_mini.bin`: the name each new build of the project takes. */
export function stableEntryName(entry: string): string {
  return entry.replace(/-\d{8}-\d{6}(\.bin(?:\.gz)?)$/, '$1');
}

export function updateLoopSnippet(target: UpdateLoopTarget): string {
  const esp8266 = target.family === 'esp8266';
  const updater = esp8266 ? 'ESPhttpUpdate' : 'httpUpdate';
  const url = `http://${target.address}/${stableEntryName(target.entry)}`;
  return [
    `#include <${esp8266 ? 'ESP8266WiFi.h' : 'WiFi.h'}>`,
    `#include <${esp8266 ? 'ESP8266httpUpdate.h' : 'HTTPUpdate.h'}>`,
    '',
    '// Each new build published to the update server reaches this board by itself: call pollForUpdate() from loop().',
    `static const char UPDATE_URL[] = "${url}";`,
    `static const unsigned long UPDATE_POLL_MS = ${Math.max(1, Math.round(target.pollSeconds ?? 10))}000UL;`,
    '',
    'void pollForUpdate() {',
    '  static unsigned long lastPoll = 0;',
    '  if (lastPoll != 0 && millis() - lastPoll < UPDATE_POLL_MS) return;',
    '  lastPoll = millis();',
    '  WiFiClient client;',
    `  switch (${updater}.update(client, UPDATE_URL)) {`,
    '    case HTTP_UPDATE_NO_UPDATES:  // 304: the board runs this build already (or its updates are held)',
    '      break;',
    '    case HTTP_UPDATE_OK:  // not reached: the board restarts into the new build',
    '      break;',
    '    case HTTP_UPDATE_FAILED:',
    `      Serial.printf("update failed (%d): %s\\n", ${updater}.getLastError(), ${updater}.getLastErrorString().c_str());`,
    '      break;',
    '  }',
    '}',
    '',
  ].join('\n');
}
