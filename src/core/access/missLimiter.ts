// Remembers, per client address, requests that missed the catalog key folder: the first miss of a client is logged,
// later ones are counted, and a client that keeps missing is rate-limited (every request from it, the right key
// included, is answered 404 without a comparison until its budget recovers), which turns guessing a key into a
// crawl. Memory is bounded: at most `maxClients` addresses are remembered, the least recently seen go first.

export interface MissLimiterOptions {
  /** Misses a client may make in a burst before it is limited. */
  burst: number;
  /** One miss is forgiven this often. */
  refillMs: number;
  maxClients: number;
  now?: () => number;
}

export const defaultMissLimits: MissLimiterOptions = { burst: 10, refillMs: 5_000, maxClients: 256 };

interface ClientMisses {
  /** Misses still allowed before the client is limited (fractional while refilling). */
  budget: number;
  at: number;
  misses: number;
  limited: boolean;
  /** Requests answered while limited in the current episode. */
  refusedWhileLimited: number;
}

/** What the caller should do with a request from a client (and what to log about it, at most one line). */
export type MissVerdict = { kind: 'check' } | { kind: 'limited' } | { kind: 'recovered'; refusedWhileLimited: number };

export type MissRecord = { kind: 'first' } | { kind: 'counted' } | { kind: 'now-limited'; misses: number };

export class MissLimiter {
  private readonly clients = new Map<string, ClientMisses>();
  private readonly options: MissLimiterOptions;
  private readonly now: () => number;

  constructor(options: Partial<MissLimiterOptions> = {}) {
    this.options = { ...defaultMissLimits, ...options };
    this.now = options.now ?? Date.now;
  }

  /** Addresses remembered right now (never more than maxClients). */
  get size(): number {
    return this.clients.size;
  }

  /** Before a request is looked at: whether the client is limited, or just came out of it. */
  before(address: string): MissVerdict {
    const client = this.clients.get(address);
    if (!client) return { kind: 'check' };
    this.refill(client);
    if (!client.limited) return { kind: 'check' };
    if (client.budget >= 1) {
      client.limited = false;
      const refusedWhileLimited = client.refusedWhileLimited;
      client.refusedWhileLimited = 0;
      return { kind: 'recovered', refusedWhileLimited };
    }
    client.refusedWhileLimited++;
    return { kind: 'limited' };
  }

  /** A request that missed the key folder (from a client that is not limited). */
  miss(address: string): MissRecord {
    let client = this.clients.get(address);
    const first = !client;
    if (client)
      this.clients.delete(address); // re-inserted below: the Map's order is least recently seen first
    else client = { budget: this.options.burst, at: this.now(), misses: 0, limited: false, refusedWhileLimited: 0 };
    this.clients.set(address, client);
    while (this.clients.size > this.options.maxClients) this.clients.delete(this.clients.keys().next().value!);
    this.refill(client);
    client.misses++;
    client.budget = Math.max(0, client.budget - 1);
    if (client.budget < 1 && !client.limited) {
      client.limited = true;
      return { kind: 'now-limited', misses: client.misses };
    }
    return { kind: first ? 'first' : 'counted' };
  }

  private refill(client: ClientMisses): void {
    const now = this.now();
    const elapsed = Math.max(0, now - client.at);
    client.at = now;
    client.budget = Math.min(this.options.burst, client.budget + elapsed / this.options.refillMs);
  }
}
