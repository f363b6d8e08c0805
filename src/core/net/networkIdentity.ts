// Which networks this machine is on, told apart well enough to remember which of them the user trusts.
//
// Signals, and why each:
// - interface name and address range (from the OS's interface list, free): the range alone is not enough, since every
//   other home router and many cafés hand out 192.168.1.0/24, but the same range on the Wi-Fi and on a USB Ethernet
//   adapter are different networks;
// - the default gateway's MAC (Linux: /proc/net/route gives the gateway of each interface, /proc/net/arp its MAC; no
//   packet is sent, no process started): two routers with the same range have different MACs, so home and café stop
//   looking alike. Other systems expose it only through `arp`/`route` processes, which are not worth their cost here;
// - the Wi-Fi name (SSID), where one short process answers (`iwgetid`/`iw`/`nmcli` on Linux, `networksetup` on macOS,
//   `netsh` on Windows): it is what people recognise in a notification, and it tells apart networks whose gateway MAC
//   cannot be read. Only looked up when the interfaces changed, never per request.
// Anything that cannot be read is left out; `sameNetwork` then compares the signals both sides have.

import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { networkInterfaces, platform } from 'node:os';

export interface NetworkIdentity {
  interfaceName: string;
  kind: 'wifi' | 'wired';
  /** This machine's address on the network. */
  address: string;
  /** The network's range in CIDR form, e.g. `10.20.0.0/16`. */
  range: string;
  /** Lowercase MAC of the interface's default gateway, where the OS exposes it. */
  gatewayMac?: string;
  /** Wi-Fi network name, where it can be read cheaply. */
  ssid?: string;
  /** Whether the default route leaves through this interface (Linux; unknown elsewhere). */
  defaultRoute?: boolean;
}

/** Where the core learns the machine's networks: the OS by default, anything else in tests (a seam we own). */
export interface NetworkProbe {
  /** The IPv4 networks of non-loopback interfaces, in the OS's order. */
  read(): Promise<NetworkIdentity[]>;
}

/** `Wi-Fi "CafeGuest" · 10.20.0.0/16`, `Ethernet (eth0) · 192.168.1.0/24`. */
export function networkLabel(network: NetworkIdentity): string {
  if (network.ssid) return `Wi-Fi "${network.ssid}" · ${network.range}`;
  return `${network.kind === 'wifi' ? 'Wi-Fi' : 'Network'} (${network.interfaceName}) · ${network.range}`;
}

/**
 * Whether two descriptions are the same network: same interface and range, and the strongest signal both have agrees
 * (gateway MAC, else Wi-Fi name). When one side has a signal the other lacks, they are not taken for the same: asking
 * once more is better than serving a stranger's network.
 */
export function sameNetwork(a: NetworkIdentity, b: NetworkIdentity): boolean {
  if (a.interfaceName !== b.interfaceName || a.range !== b.range) return false;
  if (a.gatewayMac && b.gatewayMac) return a.gatewayMac === b.gatewayMac;
  if (a.ssid && b.ssid) return a.ssid === b.ssid;
  return !a.gatewayMac && !b.gatewayMac && !a.ssid && !b.ssid;
}

/** A stable text for a network, for change detection and logs (not for matching: use sameNetwork). */
export function networkFingerprint(network: NetworkIdentity): string {
  const { interfaceName, range, address, gatewayMac, ssid, defaultRoute } = network;
  return [interfaceName, range, address, gatewayMac ?? '', ssid ?? '', defaultRoute ? 'default' : ''].join('|');
}

/** Names of container and VM bridges that devices on the LAN cannot reach. */
export function isVirtualInterface(name: string): boolean {
  return /^(docker|br-|veth|virbr|vmnet|vboxnet|tailscale|zt|utun|lxc|cni|flannel|vEthernet)/i.test(name);
}

/** The address a sketch should use among these networks: the default route's, else the first real interface's. */
export function preferredAddress(networks: readonly NetworkIdentity[]): string | undefined {
  const rank = (n: NetworkIdentity) => (n.defaultRoute ? 0 : isVirtualInterface(n.interfaceName) ? 2 : 1);
  return [...networks].sort((a, b) => rank(a) - rank(b))[0]?.address;
}

/** `192.168.1.23` + `255.255.255.0` → `192.168.1.0/24`. */
export function ipv4Range(address: string, netmask: string): string | undefined {
  const a = ipv4ToInt(address);
  const m = ipv4ToInt(netmask);
  if (a === undefined || m === undefined) return undefined;
  const prefix = 32 - Math.log2((~m >>> 0) + 1);
  if (!Number.isInteger(prefix)) return undefined;
  return `${intToIpv4((a & m) >>> 0)}/${prefix}`;
}

export function ipv4ToInt(address: string): number | undefined {
  const parts = address.split('.');
  if (parts.length !== 4) return undefined;
  let value = 0;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part) || Number(part) > 255) return undefined;
    value = value * 256 + Number(part);
  }
  return value;
}

function intToIpv4(value: number): string {
  return [24, 16, 8, 0].map((shift) => (value >>> shift) & 255).join('.');
}

/** Parses /proc/net/route: interface → its default gateway's IPv4 address. */
export function parseDefaultGateways(routeTable: string): Map<string, string> {
  const result = new Map<string, string>();
  for (const line of routeTable.trim().split('\n').slice(1)) {
    const [iface, destination, gateway, , , , , mask] = line.trim().split(/\s+/);
    if (!iface || destination !== '00000000' || mask !== '00000000' || !gateway || result.has(iface)) continue;
    // The kernel prints the address in host byte order (little-endian on every machine we run on).
    const n = Number.parseInt(gateway, 16);
    if (!Number.isFinite(n) || n === 0) continue;
    result.set(iface, [0, 8, 16, 24].map((shift) => (n >>> shift) & 255).join('.'));
  }
  return result;
}

/** Parses /proc/net/arp: `interface|ip` → lowercase MAC of complete entries. */
export function parseArpTable(arpTable: string): Map<string, string> {
  const result = new Map<string, string>();
  for (const line of arpTable.trim().split('\n').slice(1)) {
    const [ip, , flags, mac, , device] = line.trim().split(/\s+/);
    // Flags 0x2 = ATF_COM: the entry is complete; 00:00:… is an unresolved one.
    if (!ip || !mac || !device || !(Number.parseInt(flags ?? '0', 16) & 2) || /^(00:){5}00$/.test(mac)) continue;
    result.set(`${device}|${ip}`, mac.toLowerCase());
  }
  return result;
}

export interface SystemProbeOptions {
  /** Runs a command and resolves with its stdout, or undefined when it fails (tests replace it). */
  run?: (file: string, args: string[]) => Promise<string | undefined>;
  readText?: (path: string) => string | undefined;
}

/**
 * The OS's view. The interface list and, on Linux, the route and ARP tables are read on every call (no process, no
 * packet); Wi-Fi names only when those changed since the last call, so a periodic look stays cheap.
 */
export function systemNetworkProbe(options: SystemProbeOptions = {}): NetworkProbe {
  const run = options.run ?? runQuietly;
  const readText = options.readText ?? readTextQuietly;
  let lastKey: string | undefined;
  let last: NetworkIdentity[] = [];
  return {
    async read() {
      const gateways = parseDefaultGateways(readText('/proc/net/route') ?? '');
      const arp = parseArpTable(readText('/proc/net/arp') ?? '');
      const base: NetworkIdentity[] = [];
      for (const [interfaceName, infos] of Object.entries(networkInterfaces())) {
        for (const info of infos ?? []) {
          if (info.internal || info.family !== 'IPv4') continue;
          const range = ipv4Range(info.address, info.netmask);
          if (!range) continue;
          const gateway = gateways.get(interfaceName);
          const gatewayMac = gateway ? arp.get(`${interfaceName}|${gateway}`) : undefined;
          base.push({
            interfaceName,
            kind: 'wired',
            address: info.address,
            range,
            ...(gatewayMac ? { gatewayMac } : {}),
            ...(gateway ? { defaultRoute: true } : {}),
          });
        }
      }
      const key = base.map(networkFingerprint).join(',');
      if (key !== lastKey) {
        const result: NetworkIdentity[] = [];
        for (const network of base) {
          const wireless = existsSafe(`/sys/class/net/${network.interfaceName}/wireless`);
          const ssid = await readSsid(network.interfaceName, wireless, run);
          result.push({ ...network, kind: wireless || ssid ? 'wifi' : 'wired', ...(ssid ? { ssid } : {}) });
        }
        lastKey = key;
        last = result;
      }
      return last.map((n) => ({ ...n }));
    },
  };
}

async function readSsid(
  interfaceName: string,
  wireless: boolean,
  run: (file: string, args: string[]) => Promise<string | undefined>,
): Promise<string | undefined> {
  const clean = (text: string | undefined) => {
    const value = text?.trim();
    return value && value.length <= 64 && !/[\r\n]/.test(value) ? value : undefined;
  };
  switch (platform()) {
    case 'linux': {
      if (!wireless) return undefined;
      const fromIwgetid = clean(await run('iwgetid', [interfaceName, '--raw']));
      if (fromIwgetid) return fromIwgetid;
      const iw = await run('iw', ['dev', interfaceName, 'link']);
      const fromIw = clean(/^\s*SSID:\s*(.+)$/m.exec(iw ?? '')?.[1]);
      if (fromIw) return fromIw;
      const nmcli = await run('nmcli', ['-t', '-g', 'GENERAL.CONNECTION', 'device', 'show', interfaceName]);
      return clean(nmcli);
    }
    case 'darwin': {
      const out = await run('/usr/sbin/networksetup', ['-getairportnetwork', interfaceName]);
      return clean(/^Current Wi-Fi Network:\s*(.+)$/m.exec(out ?? '')?.[1]);
    }
    case 'win32': {
      const out = await run('netsh', ['wlan', 'show', 'interfaces']);
      // One block per adapter: `Name : Wi-Fi` … `SSID : CafeGuest`.
      for (const block of (out ?? '').split(/\r?\n\s*\r?\n/)) {
        const name = /^\s*Name\s*:\s*(.+)$/m.exec(block)?.[1]?.trim();
        if (name === interfaceName) return clean(/^\s*SSID\s*:\s*(.+)$/m.exec(block)?.[1]);
      }
      return undefined;
    }
    default:
      return undefined;
  }
}

function runQuietly(file: string, args: string[]): Promise<string | undefined> {
  return new Promise((resolve) => {
    try {
      execFile(file, args, { timeout: 1500, windowsHide: true, encoding: 'utf8' }, (error, stdout) =>
        resolve(error ? undefined : stdout),
      );
    } catch {
      resolve(undefined);
    }
  });
}

function readTextQuietly(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

function existsSafe(path: string): boolean {
  try {
    return existsSync(path);
  } catch {
    return false;
  }
}

/**
 * Networks described in a JSON file (an array of NetworkIdentity) while the file exists, else `fallback`'s: puts the
 * machine on any network for the UI tests or to reproduce a user's report. Set by AUTOCONNECT_NETWORKS_FILE.
 */
export function fileNetworkProbe(path: string, fallback: NetworkProbe = systemNetworkProbe()): NetworkProbe {
  return {
    async read() {
      const text = readTextQuietly(path);
      if (text === undefined) return fallback.read();
      const data: unknown = JSON.parse(text);
      if (!Array.isArray(data)) throw new Error(`${path}: not a JSON array of networks`);
      return data.filter(
        (n): n is NetworkIdentity =>
          typeof n === 'object' &&
          n !== null &&
          typeof (n as NetworkIdentity).interfaceName === 'string' &&
          typeof (n as NetworkIdentity).address === 'string' &&
          typeof (n as NetworkIdentity).range === 'string',
      );
    },
  };
}

/** The probe both fronts use: the OS, or the file AUTOCONNECT_NETWORKS_FILE names (see fileNetworkProbe). */
export function defaultNetworkProbe(env: NodeJS.ProcessEnv = process.env): NetworkProbe {
  const file = env.AUTOCONNECT_NETWORKS_FILE;
  return file ? fileNetworkProbe(file) : systemNetworkProbe();
}
