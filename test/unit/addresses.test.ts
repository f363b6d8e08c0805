import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ClientFilter, parseCidr, reachableAddresses } from '../../src/core/net/addresses';

describe('client filter', () => {
  const filter = new ClientFilter();

  it('serves loopback, private, link-local and unique-local clients', () => {
    for (const address of [
      '127.0.0.1',
      '10.1.2.3',
      '172.16.0.9',
      '172.31.255.1',
      '192.168.1.23',
      '169.254.10.1',
      '::1',
      'fe80::1',
      'fd12:3456::1',
      '::ffff:192.168.1.5',
    ]) {
      assert.ok(filter.allows(address), address);
    }
  });

  it('refuses public addresses unless admitted', () => {
    for (const address of ['8.8.8.8', '172.32.0.1', '100.64.0.1', '2001:db8::1', '::ffff:8.8.8.8', 'garbage', '']) {
      assert.ok(!filter.allows(address), address);
    }
    const lab = new ClientFilter(['100.64.0.0/10', '2001:db8::/32']);
    assert.ok(lab.allows('100.100.1.1'));
    assert.ok(lab.allows('2001:db8::5'));
    assert.ok(!lab.allows('8.8.8.8'));
  });

  it('parses CIDR ranges strictly', () => {
    assert.deepEqual(parseCidr('100.64.0.0/10'), { address: '100.64.0.0', prefix: 10, type: 'ipv4' });
    assert.deepEqual(parseCidr('203.0.113.7'), { address: '203.0.113.7', prefix: 32, type: 'ipv4' });
    assert.equal(parseCidr('1.2.3.4/33'), undefined);
    assert.equal(parseCidr('1.2.3.4/x'), undefined);
    assert.equal(parseCidr('host/8'), undefined);
    assert.throws(() => new ClientFilter(['nonsense']));
  });

  it('names a concrete bind address as the only reachable one, and never 0.0.0.0', () => {
    assert.equal(reachableAddresses('127.0.0.1')[0]?.address, '127.0.0.1');
    assert.ok(reachableAddresses('0.0.0.0').every((a) => a.address !== '0.0.0.0'));
  });
});
