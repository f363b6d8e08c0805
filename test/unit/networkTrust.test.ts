import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  fileNetworkProbe,
  ipv4Range,
  networkLabel,
  parseArpTable,
  parseDefaultGateways,
  preferredAddress,
  sameNetwork,
  systemNetworkProbe,
  type NetworkIdentity,
} from '../../src/core/net/networkIdentity';
import { NetworkTrust, parseTrustRule, ruleMatches, servedNetworks } from '../../src/core/net/networkTrust';
import { NetworkMonitor, type NetworkChange } from '../../src/core/net/networkMonitor';
import { ClientFilter } from '../../src/core/net/addresses';

const cafe: NetworkIdentity = {
  interfaceName: 'wlan0',
  kind: 'wifi',
  address: '10.20.3.4',
  range: '10.20.0.0/16',
  gatewayMac: '3c:22:fb:00:00:01',
  ssid: 'CafeGuest',
  defaultRoute: true,
};
const home: NetworkIdentity = {
  interfaceName: 'wlan0',
  kind: 'wifi',
  address: '192.168.1.23',
  range: '192.168.1.0/24',
  gatewayMac: 'a0:b1:c2:d3:e4:f5',
  ssid: 'Home',
  defaultRoute: true,
};

/** A Memento-shaped store in memory. */
function memoryStore() {
  const data = new Map<string, unknown>();
  return {
    data,
    get: <T>(key: string) => data.get(key) as T | undefined,
    update: async (key: string, value: unknown) => {
      if (value === undefined) data.delete(key);
      else data.set(key, JSON.parse(JSON.stringify(value)));
    },
  };
}

describe('network identity', () => {
  // Lines as the Linux kernel prints them (fs/proc: net/ipv4/fib_trie.c, net/ipv4/arp.c).
  const route =
    'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n' +
    'wlan0\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0\n' +
    'wlan0\t0001A8C0\t00000000\t0001\t0\t0\t600\t00FFFFFF\t0\t0\t0\n' +
    'docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n';
  const arp =
    'IP address       HW type     Flags       HW address            Mask     Device\n' +
    '192.168.1.1      0x1         0x2         A0:B1:C2:D3:E4:F5     *        wlan0\n' +
    '192.168.1.77     0x1         0x0         00:00:00:00:00:00     *        wlan0\n';

  it('reads the default gateway of each interface and its MAC from the kernel tables', () => {
    assert.deepEqual([...parseDefaultGateways(route)], [['wlan0', '192.168.1.1']]);
    assert.deepEqual([...parseArpTable(arp)], [['wlan0|192.168.1.1', 'a0:b1:c2:d3:e4:f5']]);
  });

  it('turns an address and netmask into the network range', () => {
    assert.equal(ipv4Range('192.168.1.23', '255.255.255.0'), '192.168.1.0/24');
    assert.equal(ipv4Range('10.20.3.4', '255.255.0.0'), '10.20.0.0/16');
    assert.equal(ipv4Range('10.1.2.3', '255.255.255.255'), '10.1.2.3/32');
    assert.equal(ipv4Range('10.1.2.3', '255.0.255.0'), undefined, 'not a prefix mask');
  });

  it('names a network the way the notification shows it', () => {
    assert.equal(networkLabel(cafe), 'Wi-Fi "CafeGuest" · 10.20.0.0/16');
    assert.equal(
      networkLabel({ interfaceName: 'eth0', kind: 'wired', address: '192.168.1.2', range: '192.168.1.0/24' }),
      'Network (eth0) · 192.168.1.0/24',
    );
  });

  it('tells networks with the same range apart by gateway MAC, else by Wi-Fi name', () => {
    const otherCafe = { ...home, gatewayMac: '00:11:22:33:44:55', ssid: 'Cafe' };
    assert.equal(sameNetwork(home, { ...home, address: '192.168.1.99' }), true, 'another lease, same network');
    assert.equal(sameNetwork(home, otherCafe), false, 'same range, another router');
    assert.equal(sameNetwork(home, { ...home, interfaceName: 'eth1' }), false, 'another interface');
    const { gatewayMac: _m, ...noMac } = home;
    assert.equal(sameNetwork(noMac, { ...noMac, ssid: 'Home' }), true, 'Wi-Fi name when no MAC is known');
    assert.equal(sameNetwork(noMac, { ...noMac, ssid: 'Cafe' }), false);
    const { ssid: _s, ...bare } = noMac;
    assert.equal(sameNetwork(bare, home), false, 'a signal only one side has: ask again');
    assert.equal(sameNetwork(bare, { ...bare }), true);
  });

  it('prefers the default route for the address a sketch uses, container bridges last', () => {
    const docker: NetworkIdentity = {
      interfaceName: 'docker0',
      kind: 'wired',
      address: '172.17.0.1',
      range: '172.17.0.0/16',
    };
    const eth: NetworkIdentity = { interfaceName: 'eth1', kind: 'wired', address: '10.9.0.2', range: '10.9.0.0/24' };
    assert.equal(preferredAddress([docker, eth, home]), '192.168.1.23');
    assert.equal(preferredAddress([docker, { ...eth }]), '10.9.0.2');
    assert.equal(preferredAddress([]), undefined);
  });

  it('reads this machine: every non-loopback IPv4 interface, with the gateway MAC where the kernel has it', async () => {
    const commands: string[] = [];
    const probe = systemNetworkProbe({ run: async (file) => (commands.push(file), undefined) });
    const networks = await probe.read();
    const expected = Object.entries(networkInterfaces()).flatMap(([name, infos]) =>
      (infos ?? []).filter((i) => !i.internal && i.family === 'IPv4').map((i) => `${name} ${i.address}`),
    );
    assert.deepEqual(
      networks.map((n) => `${n.interfaceName} ${n.address}`),
      expected,
    );
    if (existsSync('/proc/net/route')) {
      const gateways = parseDefaultGateways(readFileSync('/proc/net/route', 'utf8'));
      const arpTable = parseArpTable(readFileSync('/proc/net/arp', 'utf8'));
      for (const n of networks) {
        const gw = gateways.get(n.interfaceName);
        assert.equal(n.gatewayMac, gw ? arpTable.get(`${n.interfaceName}|${gw}`) : undefined, n.interfaceName);
      }
    }
    const before = commands.length;
    await probe.read();
    assert.equal(commands.length, before, 'no process for a look at unchanged interfaces');
  });

  it('takes the networks from a file while it exists (the tests and reproduced reports)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'acus-net-'));
    try {
      const file = join(dir, 'networks.json');
      const fallback = { read: async () => [home] };
      const probe = fileNetworkProbe(file, fallback);
      assert.deepEqual(await probe.read(), [home]);
      writeFileSync(file, JSON.stringify([cafe]));
      assert.deepEqual(await probe.read(), [cafe]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('trusted networks', () => {
  it('parses the setting: *, ranges, wifi: and gateway:', () => {
    assert.deepEqual(parseTrustRule('*'), { kind: 'any' });
    assert.deepEqual(parseTrustRule('wifi:Home'), { kind: 'wifi', ssid: 'Home' });
    assert.deepEqual(parseTrustRule('gateway:A0-B1-C2-D3-E4-F5'), { kind: 'gateway', mac: 'a0:b1:c2:d3:e4:f5' });
    assert.equal((parseTrustRule('192.168.1.0/24') as { kind: string }).kind, 'range');
    for (const bad of ['192.168.1.0/33', 'home', 'gateway:xx', '10.0.0.0/8x'])
      assert.ok('error' in parseTrustRule(bad), bad);
    const rule = (text: string) =>
      parseTrustRule(text) as Exclude<ReturnType<typeof parseTrustRule>, { error: string }>;
    assert.equal(ruleMatches(rule('192.168.0.0/16'), home), true, 'a range inside the rule');
    assert.equal(ruleMatches(rule('192.168.1.0/25'), home), false, 'a network larger than the rule');
    assert.equal(ruleMatches(rule('10.0.0.0/8'), home), false);
    assert.equal(ruleMatches(rule('wifi:Home'), home), true);
    assert.equal(ruleMatches(rule('gateway:a0:b1:c2:d3:e4:f5'), cafe), false);
  });

  it('needs no trust for loopback, and none for networks whose clients are refused anyway', () => {
    const filter = new ClientFilter();
    const publicNet: NetworkIdentity = {
      interfaceName: 'eth0',
      kind: 'wired',
      address: '203.0.113.5',
      range: '203.0.113.0/24',
    };
    assert.deepEqual(servedNetworks([home, cafe], '127.0.0.1', filter), []);
    assert.deepEqual(servedNetworks([home, cafe], 'localhost', filter), []);
    assert.deepEqual(servedNetworks([home, cafe, publicNet], '0.0.0.0', filter), [home, cafe]);
    assert.deepEqual(servedNetworks([home, cafe], '10.20.3.4', filter), [cafe]);
    assert.deepEqual(servedNetworks([publicNet], '', new ClientFilter(['203.0.113.0/24'])), [publicNet]);
  });

  it('remembers Serve on This Network and Not Here in the store, Only This Time in memory', async () => {
    const store = memoryStore();
    const trust = new NetworkTrust(store);
    assert.deepEqual(trust.judge([cafe]).unknown, [cafe]);
    await trust.decide([cafe], 'once');
    assert.deepEqual(trust.judge([cafe]).trusted, [cafe]);
    assert.equal(store.data.size, 0, 'Only This Time is not stored');
    assert.deepEqual(new NetworkTrust(store).judge([cafe]).unknown, [cafe], 'a reload asks again');

    await trust.decide([home], 'trust');
    await trust.decide([cafe], 'refuse');
    const reloaded = new NetworkTrust(store);
    const verdict = reloaded.judge([{ ...home, address: '192.168.1.50' }, cafe]);
    assert.equal(verdict.trusted.length, 1);
    assert.deepEqual(verdict.refused, [cafe]);
    assert.deepEqual(
      reloaded.records.map((r) => [r.label, r.decision]),
      [
        ['Wi-Fi "CafeGuest" · 10.20.0.0/16', 'refused'],
        ['Wi-Fi "Home" · 192.168.1.0/24', 'trusted'],
      ],
    );
    assert.equal(
      JSON.stringify(store.data.get('autoconnect.networkTrust')).includes('10.20.3.4'),
      false,
      'no lease stored',
    );

    await reloaded.decide([cafe], 'trust');
    assert.deepEqual(reloaded.judge([cafe]).trusted, [cafe], 'a new answer replaces the old one');
    assert.equal(await reloaded.forget(), 2);
    assert.deepEqual(reloaded.judge([home, cafe]).unknown, [home, cafe]);
  });

  it('trusts what the setting lists and reports lines that are not rules', () => {
    const trust = new NetworkTrust(memoryStore());
    assert.deepEqual(trust.setRules(['wifi:CafeGuest', 'nonsense']), [
      '"nonsense" is not *, a CIDR range, wifi:<name> or gateway:<MAC>',
    ]);
    assert.deepEqual(trust.judge([cafe, home]), { trusted: [cafe], unknown: [home], refused: [] });
  });
});

describe('network monitor', () => {
  it('fires once per change, not for looks that see the same networks', async () => {
    let networks = [home];
    const monitor = new NetworkMonitor({ read: async () => networks }, 60_000);
    const changes: NetworkChange[] = [];
    monitor.onDidChange((c) => changes.push(c));
    try {
      await monitor.start();
      assert.deepEqual(monitor.current, [home]);
      assert.equal(await monitor.look(), false);
      networks = [cafe];
      assert.equal(await monitor.look(), true);
      assert.equal(await monitor.look(), false);
      assert.deepEqual(changes, [{ previous: [home], current: [cafe] }]);
      assert.equal(await monitor.useProbe({ read: async () => [home, cafe] }), true);
      assert.equal(changes.length, 2);
    } finally {
      monitor.dispose();
    }
  });
});
