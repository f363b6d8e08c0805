import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { stableEntryName, updateLoopSnippet } from '../../src/extension/updateLoopSnippet';

describe('update-loop snippet', () => {
  it('uses the core updater of the entry chip, the stable latest name, a poll constant and the 304 case', () => {
    const esp8266 = updateLoopSnippet({
      entry: 'blinky-d1_mini-20261201-114700.bin',
      family: 'esp8266',
      address: '192.168.1.20:8000',
    });
    assert.match(esp8266, /#include <ESP8266httpUpdate\.h>/);
    assert.match(esp8266, /ESPhttpUpdate\.update\(client, UPDATE_URL\)/);
    assert.match(esp8266, /"http:\/\/192\.168\.1\.20:8000\/blinky-d1_mini\.bin"/);
    assert.match(esp8266, /static const unsigned long UPDATE_POLL_MS = 10000UL;/);
    assert.match(esp8266, /case HTTP_UPDATE_NO_UPDATES:/);
    const esp32 = updateLoopSnippet({
      entry: 'sub/cam-esp32s3.bin',
      family: 'esp32',
      address: 'host:8000',
      pollSeconds: 30,
    });
    assert.match(esp32, /#include <HTTPUpdate\.h>/);
    assert.match(esp32, /httpUpdate\.update\(client, UPDATE_URL\)/);
    assert.doesNotMatch(esp32, /ESP8266/);
    assert.match(esp32, /host:8000\/sub\/cam-esp32s3\.bin/);
    assert.match(esp32, /30000UL/);
    assert.equal(stableEntryName('x-20240101-000000.bin.gz'), 'x.bin.gz');
    assert.equal(stableEntryName('plain.bin'), 'plain.bin');
  });
});
