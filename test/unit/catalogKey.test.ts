import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CatalogKey, catalogKeyProblem, generateCatalogKey, maskKey } from '../../src/core/access/catalogKey';
import { KeyGate } from '../../src/core/access/keyGate';
import { MissLimiter } from '../../src/core/access/missLimiter';
import { parseTarget } from '../../src/core/http/requestTarget';

const KEY = 'q7Zr_2kP-x9mW4vT';

describe('catalog key', () => {
  it('accepts only keys that survive AutoConnect raw concatenation into a request line and a query', () => {
    assert.equal(catalogKeyProblem(KEY), undefined);
    assert.match(catalogKeyProblem('short') ?? '', /at least 8/);
    for (const bad of ['with space1', 'amp&ersand1', 'hash#hash12', 'sla/shed123', 'dot.ted1234', 'pct%20abcd'])
      assert.match(catalogKeyProblem(bad) ?? '', /letters, digits/, bad);
    assert.match(catalogKeyProblem('x'.repeat(65)) ?? '', /at most 64/);
  });

  it('generates 22 URL-safe characters that differ every time', () => {
    const a = generateCatalogKey();
    assert.match(a, /^[A-Za-z0-9_-]{22}$/);
    assert.equal(catalogKeyProblem(a), undefined);
    assert.notEqual(a, generateCatalogKey());
  });

  it('matches exactly: case, length and prefix all count', () => {
    const key = new CatalogKey(KEY);
    assert.equal(key.matches(KEY), true);
    for (const other of [KEY.toUpperCase(), KEY.slice(0, -1), `${KEY}x`, '', undefined]) {
      assert.equal(key.matches(other), false, String(other));
    }
    assert.equal(maskKey(KEY), 'q7…');
  });
});

describe('key gate', () => {
  it('maps the key folder onto the catalog root for catalog requests and downloads', () => {
    const gate = new KeyGate(KEY);
    const catalog = gate.pass('10.0.0.5', parseTarget(`/_catalog?op=list&path=${KEY}/sub`), 'GET x');
    assert.deepEqual(catalog.target?.segments, ['_catalog']);
    assert.equal(new URLSearchParams(catalog.target?.query).get('path'), 'sub');
    assert.equal(new URLSearchParams(catalog.target?.query).get('op'), 'list');
    const root = gate.pass('10.0.0.5', parseTarget(`/_catalog?op=list&path=${KEY}`), 'GET x');
    assert.equal(new URLSearchParams(root.target?.query).get('path'), '.');
    assert.deepEqual(gate.pass('10.0.0.5', parseTarget(`${KEY}/fw.bin`), 'GET x').target?.segments, ['fw.bin']);
    assert.equal(gate.rememberedClients, 0, 'hits are not remembered');
  });

  it('writes neither the key nor a near miss of it into what it shows', () => {
    const gate = new KeyGate(KEY);
    assert.equal(gate.redact(`/_catalog?op=list&path=${KEY}`), '/_catalog?op=list&path=<key>');
    assert.equal(gate.redact(`/_catalog?op=list&path=${KEY}/sub`), '/_catalog?op=list&path=<key>/sub');
    assert.equal(gate.redact(`${KEY}/fw.bin`), '<key>/fw.bin');
    assert.equal(gate.redact(`/${KEY}/fw.bin?x=1`), '/<key>/fw.bin?x=1');
    assert.equal(gate.redact(`/${KEY.toUpperCase()}/fw.bin`), '/Q7…/fw.bin');
    assert.equal(gate.redact(`/_catalog?op=list&path=${KEY.slice(0, -1)}`), '/_catalog?op=list&path=q7…');
    assert.equal(gate.redact('/fw.bin'), '/fw.bin', 'a name with a dot is never a key');
    assert.equal(gate.redact('/_catalog?op=list&path=.'), '/_catalog?op=list&path=.');
  });

  it('logs the first miss of a client and the start of its rate limit, nothing in between', () => {
    const gate = new KeyGate(KEY, { burst: 5, refillMs: 60_000 });
    const logs = Array.from({ length: 50 }, () => gate.pass('10.0.0.9', parseTarget('/fw.bin'), 'GET /fw.bin').log);
    const written = logs.filter((l) => l !== undefined);
    assert.equal(written.length, 2, JSON.stringify(written));
    assert.match(written[0]!, /^10\.0\.0\.9 GET \/fw\.bin 404: outside the catalog key folder/);
    assert.match(written[1]!, /5 requests outside the catalog key folder: rate-limited/);
    assert.equal(gate.pass('10.0.0.9', parseTarget(`/${KEY}/fw.bin`), 'GET x').target, undefined, 'limited');
    assert.ok(gate.pass('10.0.0.10', parseTarget(`/${KEY}/fw.bin`), 'GET x').target, 'another client is not');
  });
});

describe('miss limiter', () => {
  it('remembers at most maxClients addresses, dropping the least recently seen', () => {
    const limiter = new MissLimiter({ maxClients: 3, burst: 100 });
    for (let i = 0; i < 1000; i++) limiter.miss(`10.0.${i >> 8}.${i & 255}`);
    assert.equal(limiter.size, 3);
    assert.equal(limiter.miss('10.0.3.231').kind, 'counted', 'the most recent are kept');
    assert.equal(limiter.miss('10.0.0.0').kind, 'first', 'the oldest were dropped');
  });

  it('forgives one miss per refill period', () => {
    let now = 0;
    const limiter = new MissLimiter({ burst: 2, refillMs: 1000, now: () => now });
    assert.equal(limiter.miss('a').kind, 'first');
    assert.equal(limiter.miss('a').kind, 'now-limited');
    assert.equal(limiter.before('a').kind, 'limited');
    now += 500;
    assert.equal(limiter.before('a').kind, 'limited');
    now += 500;
    assert.deepEqual(limiter.before('a'), { kind: 'recovered', refusedWhileLimited: 2 });
    assert.equal(limiter.before('a').kind, 'check');
  });
});
