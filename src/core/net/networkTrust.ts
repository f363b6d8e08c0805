// Which networks the user lets the server serve: the choices made in a notification (kept in a store the front
// provides; the extension gives its global state, which stays on this machine), the rules written into a setting,
// and choices for this session only. A server listening on loopback alone needs none of it.

import { isIP } from 'node:net';
import type { ClientFilter } from './addresses';
import { ipv4ToInt, networkLabel, sameNetwork, type NetworkIdentity } from './networkIdentity';

/** The shape of VS Code's Memento, so the extension's global state fits as it is. */
export interface KeyValueStore {
  get<T>(key: string): T | undefined;
  update(key: string, value: unknown): PromiseLike<void>;
}

export type TrustChoice = 'trust' | 'once' | 'refuse';

/** A network the user decided about, as remembered. */
export interface TrustRecord {
  network: Omit<NetworkIdentity, 'address'>;
  decision: 'trusted' | 'refused';
  label: string;
  /** ISO time of the decision. */
  at: string;
}

export interface TrustVerdict {
  /** Networks the server may serve. */
  trusted: NetworkIdentity[];
  /** Networks nobody decided about yet: ask. */
  unknown: NetworkIdentity[];
  /** Networks the user said Not Here to. */
  refused: NetworkIdentity[];
}

/** A line of the trusted-networks setting. */
export type TrustRule =
  | { kind: 'any' }
  | { kind: 'range'; network: number; prefix: number }
  | { kind: 'wifi'; ssid: string }
  | { kind: 'gateway'; mac: string };

const STORE_KEY = 'autoconnect.networkTrust';
const MAX_RECORDS = 100;

/**
 * `*` (every network), a CIDR range (`192.168.1.0/24`: networks inside it), `wifi:<name>` or
 * `gateway:<MAC>` (the default gateway's hardware address).
 */
export function parseTrustRule(text: string): TrustRule | { error: string } {
  const value = text.trim();
  if (value === '*') return { kind: 'any' };
  const wifi = /^wifi:(.+)$/i.exec(value);
  if (wifi) return { kind: 'wifi', ssid: wifi[1]!.trim() };
  const gateway = /^gateway:((?:[0-9a-f]{2}[:-]){5}[0-9a-f]{2})$/i.exec(value);
  if (gateway) return { kind: 'gateway', mac: gateway[1]!.toLowerCase().replace(/-/g, ':') };
  const [address, prefixText] = value.split('/');
  const network = ipv4ToInt(address ?? '');
  const prefix = prefixText === undefined ? 32 : Number(prefixText);
  if (
    network !== undefined &&
    Number.isInteger(prefix) &&
    prefix >= 0 &&
    prefix <= 32 &&
    /^\d*$/.test(prefixText ?? '')
  )
    return { kind: 'range', network, prefix };
  return { error: `"${value}" is not *, a CIDR range, wifi:<name> or gateway:<MAC>` };
}

export function ruleMatches(rule: TrustRule, network: NetworkIdentity): boolean {
  switch (rule.kind) {
    case 'any':
      return true;
    case 'wifi':
      return network.ssid === rule.ssid;
    case 'gateway':
      return network.gatewayMac === rule.mac;
    case 'range': {
      const [address, prefixText] = network.range.split('/');
      const start = ipv4ToInt(address ?? '');
      const prefix = Number(prefixText);
      if (start === undefined || prefix < rule.prefix) return false;
      const mask = rule.prefix === 0 ? 0 : (~0 << (32 - rule.prefix)) >>> 0;
      return (start & mask) >>> 0 === (rule.network & mask) >>> 0;
    }
  }
}

/**
 * The networks a server bound to `bindHost` would answer clients on, among `networks`: none for loopback, one for a
 * single address, all for a wildcard. Networks whose clients the filter refuses anyway (a public address, a VPN range
 * nobody admitted) are left out: nobody there gets served, so there is nothing to trust.
 */
export function servedNetworks(
  networks: readonly NetworkIdentity[],
  bindHost: string | undefined,
  filter: ClientFilter,
): NetworkIdentity[] {
  const host = (bindHost ?? '').trim();
  const wildcard = host === '' || host === '0.0.0.0' || host === '::';
  if (!wildcard && isLoopback(host)) return [];
  return networks.filter((n) => (wildcard || n.address === host) && filter.allows(n.address));
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
}

export class NetworkTrust {
  private rules: TrustRule[] = [];
  /** Only This Time: forgotten with this object (a reload asks again). */
  private readonly session: NetworkIdentity[] = [];

  constructor(private readonly store: KeyValueStore) {}

  /** Sets the rules from the setting; returns the lines that are not rules, with why. */
  setRules(lines: readonly string[]): string[] {
    const problems: string[] = [];
    this.rules = [];
    for (const line of lines) {
      const rule = parseTrustRule(line);
      if ('error' in rule) problems.push(rule.error);
      else this.rules.push(rule);
    }
    return problems;
  }

  get records(): readonly TrustRecord[] {
    const stored = this.store.get<{ version: number; records: TrustRecord[] }>(STORE_KEY);
    return stored?.version === 1 && Array.isArray(stored.records) ? stored.records : [];
  }

  judge(networks: readonly NetworkIdentity[]): TrustVerdict {
    const verdict: TrustVerdict = { trusted: [], unknown: [], refused: [] };
    const records = this.records;
    for (const network of networks) {
      const record = records.find((r) => sameNetwork({ ...r.network, address: network.address }, network));
      if (
        this.rules.some((rule) => ruleMatches(rule, network)) ||
        this.session.some((n) => sameNetwork(n, network)) ||
        record?.decision === 'trusted'
      )
        verdict.trusted.push(network);
      else if (record?.decision === 'refused') verdict.refused.push(network);
      else verdict.unknown.push(network);
    }
    return verdict;
  }

  /** Records the user's answer for these networks: remembered (trust, refuse) or for this session (once). */
  async decide(networks: readonly NetworkIdentity[], choice: TrustChoice): Promise<void> {
    if (choice === 'once') {
      this.session.push(...networks);
      return;
    }
    const decision = choice === 'trust' ? 'trusted' : 'refused';
    const kept = this.records.filter(
      (r) => !networks.some((n) => sameNetwork({ ...r.network, address: n.address }, n)),
    );
    const at = new Date().toISOString();
    const added = networks.map((n): TrustRecord => {
      const { address: _address, ...network } = n;
      return { network, decision, label: networkLabel(n), at };
    });
    await this.store.update(STORE_KEY, { version: 1, records: [...added, ...kept].slice(0, MAX_RECORDS) });
  }

  /** Forgets every remembered choice and this session's; returns how many were remembered. */
  async forget(): Promise<number> {
    const count = this.records.length + this.session.length;
    this.session.length = 0;
    await this.store.update(STORE_KEY, undefined);
    return count;
  }
}
