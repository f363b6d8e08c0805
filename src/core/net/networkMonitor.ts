// Follows the machine's networks while a front needs them: a look every few seconds (the probe makes it cheap), and an
// event when what it sees changed, so the address shown and copied and the trust decision stay current when a laptop
// changes rooms, a VPN comes up or the Wi-Fi switches.

import { Emitter, type Disposable, type Event } from '../events';
import { silentLogger, type Logger } from '../log';
import { networkFingerprint, systemNetworkProbe, type NetworkIdentity, type NetworkProbe } from './networkIdentity';

export interface NetworkChange {
  previous: readonly NetworkIdentity[];
  current: readonly NetworkIdentity[];
}

export class NetworkMonitor implements Disposable {
  private networks: NetworkIdentity[] = [];
  private fingerprint: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private looking: Promise<boolean> | undefined;
  private disposed = false;
  private readonly changed = new Emitter<NetworkChange>('networks changed', () => this.logger);
  readonly onDidChange: Event<NetworkChange> = this.changed.event;

  constructor(
    private probe: NetworkProbe = systemNetworkProbe(),
    private readonly intervalMs = 5_000,
    private readonly logger: Logger = silentLogger,
  ) {}

  /** What the last look saw. */
  get current(): readonly NetworkIdentity[] {
    return this.networks;
  }

  /** Looks now and then every interval; resolves after the first look. */
  async start(): Promise<void> {
    await this.look();
    this.timer ??= setInterval(() => void this.look(), this.intervalMs);
    this.timer.unref?.();
  }

  /** Replaces where networks come from (tests, a reproduced report) and looks at once. */
  async useProbe(probe: NetworkProbe): Promise<boolean> {
    this.probe = probe;
    return this.look();
  }

  /** One look; resolves with whether anything changed. Overlapping calls share one look. */
  look(): Promise<boolean> {
    this.looking ??= this.readOnce().finally(() => (this.looking = undefined));
    return this.looking;
  }

  private async readOnce(): Promise<boolean> {
    let networks: NetworkIdentity[];
    try {
      networks = await this.probe.read();
    } catch {
      return false; // the last view stays; the next look tries again
    }
    if (this.disposed) return false;
    const fingerprint = networks.map(networkFingerprint).join(',');
    if (fingerprint === this.fingerprint) return false;
    const first = this.fingerprint === undefined;
    const previous = this.networks;
    this.fingerprint = fingerprint;
    this.networks = networks;
    if (!first) this.changed.fire({ previous, current: networks });
    return !first;
  }

  dispose(): void {
    this.disposed = true;
    clearInterval(this.timer);
    this.changed.dispose();
  }
}
