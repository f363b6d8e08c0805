// This machine's addresses as devices see them, and which client addresses are local enough to be served.

import { readFileSync } from 'node:fs';
import { isIP, BlockList } from 'node:net';
import { networkInterfaces } from 'node:os';
import { isVirtualInterface } from './networkIdentity';

export interface InterfaceAddress {
  address: string;
  interfaceName: string;
  family: 'IPv4' | 'IPv6';
}

/** Non-internal IPv4 addresses with their interface names (devices speak IPv4), default-route interface first. */
export function lanAddresses(): InterfaceAddress[] {
  const result: InterfaceAddress[] = [];
  for (const [interfaceName, infos] of Object.entries(networkInterfaces())) {
    for (const info of infos ?? []) {
      if (info.internal || info.family !== 'IPv4') continue;
      result.push({ address: info.address, interfaceName, family: 'IPv4' });
    }
  }
  const preferred = defaultRouteInterface();
  return result.sort((a, b) => rank(a) - rank(b));

  function rank(entry: InterfaceAddress): number {
    if (entry.interfaceName === preferred) return 0;
    if (isVirtualInterface(entry.interfaceName)) return 2;
    return 1;
  }
}

/** The interface of the default route on Linux (/proc/net/route); undefined elsewhere. No packets are sent. */
export function defaultRouteInterface(): string | undefined {
  try {
    const lines = readFileSync('/proc/net/route', 'utf8').trim().split('\n').slice(1);
    for (const line of lines) {
      const [iface, destination, , , , , , mask] = line.trim().split(/\s+/);
      if (destination === '00000000' && mask === '00000000') return iface;
    }
  } catch {
    // not Linux, or no permission
  }
  return undefined;
}

/** The address a sketch should use: the LAN address of the default route, else the first LAN address. */
export function advertisedAddress(bindHost: string | undefined): string {
  if (bindHost && bindHost !== '0.0.0.0' && bindHost !== '::' && bindHost !== '') return bindHost;
  return lanAddresses()[0]?.address ?? '127.0.0.1';
}

/** Addresses a server bound to `bindHost` answers on, for people to read (LAN first, loopback only if nothing else). */
export function reachableAddresses(bindHost: string | undefined): InterfaceAddress[] {
  if (bindHost && bindHost !== '0.0.0.0' && bindHost !== '::' && bindHost !== '') {
    const match = [...allAddresses()].find((entry) => entry.address === bindHost);
    return [match ?? { address: bindHost, interfaceName: '', family: isIP(bindHost) === 6 ? 'IPv6' : 'IPv4' }];
  }
  const lan = lanAddresses();
  return lan.length > 0 ? lan : [{ address: '127.0.0.1', interfaceName: 'lo', family: 'IPv4' }];
}

function* allAddresses(): Generator<InterfaceAddress> {
  for (const [interfaceName, infos] of Object.entries(networkInterfaces())) {
    for (const info of infos ?? []) {
      yield { address: info.address, interfaceName, family: info.family === 'IPv6' ? 'IPv6' : 'IPv4' };
    }
  }
}

/** Verdicts remembered per address string: a board polls from the same address every few seconds. */
const VERDICTS_KEPT = 4096;

/**
 * Decides which clients may talk to the server: loopback, private (RFC 1918), link-local and unique-local ranges,
 * plus CIDRs the user admits. Firmware often embeds Wi-Fi credentials, so the internet at large is refused.
 */
export class ClientFilter {
  private readonly list = new BlockList();
  // BlockList.check builds a SocketAddress per call: about a sixth of what a polling board's 304 costs the server.
  private readonly verdicts = new Map<string, boolean>();

  constructor(allow: readonly string[] = []) {
    this.list.addSubnet('127.0.0.0', 8, 'ipv4');
    this.list.addSubnet('10.0.0.0', 8, 'ipv4');
    this.list.addSubnet('172.16.0.0', 12, 'ipv4');
    this.list.addSubnet('192.168.0.0', 16, 'ipv4');
    this.list.addSubnet('169.254.0.0', 16, 'ipv4');
    this.list.addAddress('::1', 'ipv6');
    this.list.addSubnet('fe80::', 10, 'ipv6');
    this.list.addSubnet('fc00::', 7, 'ipv6');
    for (const cidr of allow) {
      const parsed = parseCidr(cidr);
      if (!parsed) throw new Error(`not a CIDR range: ${cidr}`);
      this.list.addSubnet(parsed.address, parsed.prefix, parsed.type);
    }
  }

  allows(address: string): boolean {
    const known = this.verdicts.get(address);
    if (known !== undefined) return known;
    const plain = normalizeAddress(address);
    const family = isIP(plain);
    const verdict = family !== 0 && this.list.check(plain, family === 4 ? 'ipv4' : 'ipv6');
    if (this.verdicts.size >= VERDICTS_KEPT) this.verdicts.clear(); // a scan of many addresses: start over
    this.verdicts.set(address, verdict);
    return verdict;
  }
}

export function parseCidr(text: string): { address: string; prefix: number; type: 'ipv4' | 'ipv6' } | undefined {
  const [address, prefixText] = text.trim().split('/');
  const family = isIP(address ?? '');
  if (!address || family === 0) return undefined;
  const max = family === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? max : Number(prefixText);
  if (
    !Number.isInteger(prefix) ||
    prefix < 0 ||
    prefix > max ||
    (prefixText !== undefined && !/^\d+$/.test(prefixText))
  ) {
    return undefined;
  }
  return { address, prefix, type: family === 4 ? 'ipv4' : 'ipv6' };
}

/** `::ffff:192.168.1.5` → `192.168.1.5` */
export function normalizeAddress(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}
